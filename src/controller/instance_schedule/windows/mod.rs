//! Schedule windows: (spec, now) -> the state the instances should be in and when that changes.
//! Pure: no clock, no IO; the caller passes `now`.
//!
//! The windows of a schedule yield run intervals in absolute time (local times resolved in the
//! schedule's zone, see [`rule::resolve`]). Overlapping or touching runs join, and so do runs
//! separated by a gap shorter than the minimum pause: such a gap would earn no credit, so the
//! instances keep running through it. Inside a joined run the instances should run; elsewhere
//! they should be paused.

pub mod cron;
pub mod duration;
pub mod rule;

#[cfg(test)]
mod tests;

use crate::crd::{InstanceScheduleSpec, ScheduleWindow, WantedState};
use cron::{CronError, CronExpr};
use duration::{DurationError, parse_duration};
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rule::{ALL_DAYS, CronRule, Interval, WindowRule, day_bit};

/// Longest cron run and longest minimum pause accepted: a week.
pub const MAX_DURATION: SignedDuration = SignedDuration::from_hours(168);

/// How far ahead the next transition is looked for, in days: a short look first (enough for any
/// weekly schedule), longer ones only when it finds nothing.
const HORIZON_DAYS: [i64; 3] = [8, 64, 400];

/// Why a schedule cannot be evaluated. Each names the spec field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The time zone is not in the time zone database.
    #[error("spec.timeZone: unknown time zone {name:?}")]
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
    /// No windows at all.
    #[error("spec.windows: at least one window is required")]
    EmptyWindows,
    /// A window that is neither `start`/`end` nor `cron`/`duration`.
    #[error(
        "spec.windows[{index}]: a window is either start and end (with optional days), or cron and duration"
    )]
    MixedForms {
        /// The window's position.
        index: usize,
    },
    /// `days` present but empty.
    #[error("spec.windows[{index}].days: name at least one day, or leave days out for every day")]
    EmptyDays {
        /// The window's position.
        index: usize,
    },
    /// A time of day that is not `HH:MM` between 00:00 and 23:59.
    #[error("spec.windows[{index}].{field}: {value:?} is not a time of day HH:MM (00:00 to 23:59)")]
    InvalidTime {
        /// The window's position.
        index: usize,
        /// `start` or `end`.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// A window whose start equals its end.
    #[error(
        "spec.windows[{index}]: start and end are both {time}; a window's start and end must differ"
    )]
    StartEqualsEnd {
        /// The window's position.
        index: usize,
        /// The time given for both.
        time: String,
    },
    /// A cron expression outside the supported subset.
    #[error("spec.windows[{index}].cron: {source}")]
    InvalidCron {
        /// The window's position.
        index: usize,
        /// What is wrong with it.
        source: CronError,
    },
    /// A duration that cannot be read.
    #[error("{field}: {source}")]
    InvalidDuration {
        /// The field path, e.g. `spec.minimumPause`.
        field: String,
        /// What is wrong with it.
        source: DurationError,
    },
    /// A duration outside what the field allows.
    #[error("{field}: {value} must be {allowed}")]
    DurationOutOfRange {
        /// The field path.
        field: String,
        /// The text given.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
}

/// What a schedule wants at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The state the instances should be in now.
    pub wanted: WantedState,
    /// When `wanted` changes next; `None` when it does not change within the look-ahead (about
    /// 400 days), e.g. a schedule whose windows cover every hour.
    pub next_transition: Option<Timestamp>,
}

/// A checked schedule: windows compiled, zone looked up, minimum pause read.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: TimeZone,
    rules: Vec<WindowRule>,
    minimum_pause: SignedDuration,
}

/// Evaluates a schedule's windows at `now` (see [`Schedule::evaluate`]).
pub fn wanted_state(
    windows: &[ScheduleWindow],
    time_zone: &str,
    minimum_pause: &str,
    now: Timestamp,
) -> Result<Evaluation, ScheduleError> {
    Ok(Schedule::new(windows, time_zone, minimum_pause)?.evaluate(now))
}

impl Schedule {
    /// Checks and compiles the schedule parts of a spec.
    pub fn from_spec(spec: &InstanceScheduleSpec) -> Result<Self, ScheduleError> {
        Self::new(&spec.windows, &spec.time_zone, &spec.minimum_pause)
    }

    /// Checks and compiles windows, an IANA zone name and a minimum pause (`1h`, `90m`, ...).
    pub fn new(
        windows: &[ScheduleWindow],
        time_zone: &str,
        minimum_pause: &str,
    ) -> Result<Self, ScheduleError> {
        let zone = TimeZone::get(time_zone).map_err(|_| ScheduleError::UnknownTimeZone {
            name: time_zone.to_owned(),
        })?;
        if windows.is_empty() {
            return Err(ScheduleError::EmptyWindows);
        }
        let rules = windows
            .iter()
            .enumerate()
            .map(|(index, window)| compile_window(index, window))
            .collect::<Result<Vec<_>, _>>()?;
        let minimum_pause = bounded_duration(
            "spec.minimumPause".to_owned(),
            minimum_pause,
            SignedDuration::ZERO,
            "between 0s and 168h",
        )?;
        Ok(Self {
            zone,
            rules,
            minimum_pause,
        })
    }

    /// The time zone the windows are read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The wanted state at `now` and the next instant it changes.
    ///
    /// Runs are half-open: at a window's start the instances should run, at its end they should
    /// be paused (unless another run follows within the minimum pause).
    pub fn evaluate(&self, now: Timestamp) -> Evaluation {
        // Runs that could contain `now`, or end within a minimum pause before it, start after this.
        let longest_run = self
            .rules
            .iter()
            .map(WindowRule::longest_run)
            .max()
            .unwrap_or_default();
        let lookback = longest_run + self.minimum_pause + SignedDuration::from_hours(24);
        let from = now.saturating_sub(lookback).unwrap_or(now);
        let from_date = self.zone.to_datetime(from).date();
        let mut next_date = from_date.yesterday().unwrap_or(from_date);
        let mut intervals = Vec::new();
        let mut outcome = Outcome::PausedBeyond;
        for days in HORIZON_DAYS {
            let until = now
                .saturating_add(SignedDuration::from_hours(24 * days))
                .unwrap_or(now);
            // Any run starting before `until` starts on a local date no later than until's date
            // (resolving a local time only ever moves it forward); one more day of margin.
            let until_date = self.zone.to_datetime(until).date();
            let last_date = until_date.tomorrow().unwrap_or(until_date);
            while next_date <= last_date {
                for rule in &self.rules {
                    rule.intervals_on(&self.zone, next_date, &mut intervals);
                }
                match next_date.tomorrow() {
                    Ok(date) => next_date = date,
                    Err(_) => break,
                }
            }
            intervals.sort_unstable();
            outcome = decide(&intervals, now, until, self.minimum_pause);
            if let Outcome::Known(evaluation) = outcome {
                return evaluation;
            }
        }
        let wanted = match outcome {
            Outcome::RunningBeyond => WantedState::Running,
            _ => WantedState::Paused,
        };
        Evaluation {
            wanted,
            next_transition: None,
        }
    }
}

/// What the runs known up to a horizon say about `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Both the state and the next transition are certain.
    Known(Evaluation),
    /// Running, and the run lasts at least to the horizon.
    RunningBeyond,
    /// Paused, and no run starts before the horizon.
    PausedBeyond,
}

/// Joins sorted intervals into runs and finds the one at or after `now`. Only intervals starting
/// before `until` are known to be complete, so only conclusions they fix are trusted.
fn decide(
    intervals: &[Interval],
    now: Timestamp,
    until: Timestamp,
    minimum_pause: SignedDuration,
) -> Outcome {
    let judge = |run: Interval| -> Option<Outcome> {
        if run.start <= now && now < run.end {
            // The run is over once no interval can start within a minimum pause of its end.
            let settled = run
                .end
                .saturating_add(minimum_pause)
                .is_ok_and(|t| t < until);
            Some(if settled {
                Outcome::Known(Evaluation {
                    wanted: WantedState::Running,
                    next_transition: Some(run.end),
                })
            } else {
                Outcome::RunningBeyond
            })
        } else if run.start > now {
            Some(if run.start < until {
                Outcome::Known(Evaluation {
                    wanted: WantedState::Paused,
                    next_transition: Some(run.start),
                })
            } else {
                Outcome::PausedBeyond
            })
        } else {
            None
        }
    };
    let mut current: Option<Interval> = None;
    for interval in intervals {
        match current.as_mut() {
            Some(run)
                if interval.start <= run.end
                    || interval.start.duration_since(run.end) < minimum_pause =>
            {
                run.end = run.end.max(interval.end);
            }
            _ => {
                if let Some(outcome) = current.and_then(judge) {
                    return outcome;
                }
                current = Some(*interval);
            }
        }
    }
    current.and_then(judge).unwrap_or(Outcome::PausedBeyond)
}

fn compile_window(index: usize, window: &ScheduleWindow) -> Result<WindowRule, ScheduleError> {
    match window {
        ScheduleWindow {
            cron: Some(cron),
            duration: Some(duration),
            start: None,
            end: None,
            days: None,
        } => {
            let expr: CronExpr = cron
                .parse()
                .map_err(|source| ScheduleError::InvalidCron { index, source })?;
            let duration = bounded_duration(
                format!("spec.windows[{index}].duration"),
                duration,
                SignedDuration::from_secs(1),
                "between 1s and 168h",
            )?;
            Ok(WindowRule::Cron(CronRule::new(expr, duration)))
        }
        ScheduleWindow {
            cron: None,
            duration: None,
            start: Some(start),
            end: Some(end),
            days,
        } => {
            let days = match days {
                None => ALL_DAYS,
                Some(days) if days.is_empty() => return Err(ScheduleError::EmptyDays { index }),
                Some(days) => days.iter().fold(0, |bits, day| bits | day_bit(*day)),
            };
            let start_time =
                parse_time_of_day(start).ok_or_else(|| ScheduleError::InvalidTime {
                    index,
                    field: "start",
                    value: start.clone(),
                })?;
            let end_time = parse_time_of_day(end).ok_or_else(|| ScheduleError::InvalidTime {
                index,
                field: "end",
                value: end.clone(),
            })?;
            if start_time == end_time {
                return Err(ScheduleError::StartEqualsEnd {
                    index,
                    time: start.clone(),
                });
            }
            Ok(WindowRule::Daily {
                days,
                start: start_time,
                end: end_time,
            })
        }
        _ => Err(ScheduleError::MixedForms { index }),
    }
}

/// Reads `HH:MM` (exactly two digits each, 00:00 to 23:59).
pub fn parse_time_of_day(text: &str) -> Option<Time> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let two_digits = |at: usize| -> Option<i8> {
        let (tens, ones) = (bytes[at], bytes[at + 1]);
        (tens.is_ascii_digit() && ones.is_ascii_digit())
            .then(|| ((tens - b'0') * 10 + (ones - b'0')) as i8)
    };
    let (hour, minute) = (two_digits(0)?, two_digits(3)?);
    Time::new(hour, minute, 0, 0).ok()
}

fn bounded_duration(
    field: String,
    text: &str,
    min: SignedDuration,
    allowed: &'static str,
) -> Result<SignedDuration, ScheduleError> {
    let value = parse_duration(text).map_err(|source| ScheduleError::InvalidDuration {
        field: field.clone(),
        source,
    })?;
    if value < min || value > MAX_DURATION {
        return Err(ScheduleError::DurationOutOfRange {
            field,
            value: text.to_owned(),
            allowed,
        });
    }
    Ok(value)
}
