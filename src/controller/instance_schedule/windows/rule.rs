//! One compiled window rule and the run intervals it yields on a local date.

use super::cron::CronExpr;
use crate::crd::Weekday;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// A half-open run interval `[start, end)` in absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    /// First instant of the run.
    pub start: Timestamp,
    /// First instant after the run.
    pub end: Timestamp,
}

/// A window rule, checked and ready to evaluate.
#[derive(Debug, Clone)]
pub enum WindowRule {
    /// From `start` to `end` local time, starting on the given days.
    Daily {
        /// Bit `n` set: the window starts on weekdays with Monday-zero offset `n`.
        days: u8,
        /// Local start time.
        start: Time,
        /// Local end time; at or before `start` means the next day.
        end: Time,
    },
    /// Runs of a fixed elapsed length starting when the cron expression fires.
    Cron(CronRule),
}

/// A cron window with its fire times worked out once, since every matching day has the same.
#[derive(Debug, Clone)]
pub struct CronRule {
    /// Which dates fire.
    expr: CronExpr,
    /// How long each run lasts.
    duration: SignedDuration,
    /// The local times at which a matching date fires, in order.
    fires: Vec<Time>,
    /// `fires` joined where runs overlap or touch in local time: (first fire, last fire).
    joined: Vec<(Time, Time)>,
}

impl CronRule {
    /// Compiles a cron expression and run length.
    pub fn new(expr: CronExpr, duration: SignedDuration) -> Self {
        let fires: Vec<Time> = expr.times_of_day().collect();
        let mut joined: Vec<(Time, Time)> = Vec::new();
        for &time in &fires {
            match joined.last_mut() {
                Some((_, last)) if time.duration_since(*last) <= duration => *last = time,
                _ => joined.push((time, time)),
            }
        }
        Self {
            expr,
            duration,
            fires,
            joined,
        }
    }
}

/// Every day of the week.
pub const ALL_DAYS: u8 = 0x7f;

/// The bit of a weekday in [`WindowRule::Daily`]'s `days`.
pub fn day_bit(day: Weekday) -> u8 {
    let offset = match day {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    };
    1 << offset
}

/// The instant a local date and time names in the zone.
///
/// Uses the "compatible" rule (RFC 5545, Temporal): a time skipped by a forward clock change moves
/// forward by the length of the skip, and a time repeated by a backward change means its first
/// occurrence. `None` only at the edges of the representable range.
pub fn resolve(zone: &TimeZone, date: Date, time: Time) -> Option<Timestamp> {
    zone.to_ambiguous_timestamp(date.to_datetime(time))
        .compatible()
        .ok()
}

impl WindowRule {
    /// The longest a single run of this rule can last, for bounding how far back to look.
    pub fn longest_run(&self) -> SignedDuration {
        match self {
            // At most a day, plus whatever a clock change adds (a few hours; some zones have
            // skipped whole days, so leave a day of margin).
            WindowRule::Daily { .. } => SignedDuration::from_hours(48),
            WindowRule::Cron(cron) => cron.duration,
        }
    }

    /// Pushes the runs that start on local date `date` (empty runs are dropped).
    pub fn intervals_on(&self, zone: &TimeZone, date: Date, out: &mut Vec<Interval>) {
        match self {
            WindowRule::Daily { days, start, end } => {
                if days & (1 << date.weekday().to_monday_zero_offset()) == 0 {
                    return;
                }
                let end_date = if end > start {
                    Some(date)
                } else {
                    date.tomorrow().ok()
                };
                let (Some(run_start), Some(run_end)) = (
                    resolve(zone, date, *start),
                    end_date.and_then(|d| resolve(zone, d, *end)),
                ) else {
                    return;
                };
                // A window inside a skipped hour can end before its shifted start: no run that day.
                if run_end > run_start {
                    out.push(Interval {
                        start: run_start,
                        end: run_end,
                    });
                }
            }
            WindowRule::Cron(cron) => {
                if !cron.expr.matches_date(date) {
                    return;
                }
                // Without a clock change, local times map to instants by one fixed offset, so
                // runs that overlap or touch in local time do so in absolute time too and can be
                // joined before resolving (a `* * * * *` rule then costs a few lookups a day).
                // Around a change, each fire is resolved on its own.
                if clock_changes_near(zone, date) {
                    for &time in &cron.fires {
                        push_run(zone, date, time, time, cron.duration, out);
                    }
                } else {
                    for &(first, last) in &cron.joined {
                        push_run(zone, date, first, last, cron.duration, out);
                    }
                }
            }
        }
    }
}

/// Pushes the run from the fire at `first` to the end of the fire at `last` (same date).
fn push_run(
    zone: &TimeZone,
    date: Date,
    first: Time,
    last: Time,
    duration: SignedDuration,
    out: &mut Vec<Interval>,
) {
    let (Some(start), Some(last_start)) = (resolve(zone, date, first), resolve(zone, date, last))
    else {
        return;
    };
    if let Ok(end) = last_start.checked_add(duration) {
        out.push(Interval { start, end });
    }
}

/// Whether the zone's offset may change during the local date (with hours of margin either
/// side, so a change at midnight counts): only then must each local time be resolved alone.
fn clock_changes_near(zone: &TimeZone, date: Date) -> bool {
    let margin = SignedDuration::from_hours(3);
    let day_start = resolve(zone, date, Time::midnight());
    let day_end = date
        .tomorrow()
        .ok()
        .and_then(|d| resolve(zone, d, Time::midnight()));
    let (Some(day_start), Some(day_end)) = (day_start, day_end) else {
        return true;
    };
    let Ok(look_from) = day_start.checked_sub(margin) else {
        return true;
    };
    match zone.following(look_from).next() {
        Some(transition) => day_end
            .checked_add(margin)
            .is_ok_and(|look_until| transition.timestamp() <= look_until),
        None => false,
    }
}
