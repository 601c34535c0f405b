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
    Cron {
        /// When runs start (local time).
        expr: Box<CronExpr>,
        /// How long each run lasts.
        duration: SignedDuration,
    },
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
            WindowRule::Cron { duration, .. } => *duration,
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
            WindowRule::Cron { expr, duration } => {
                if !expr.matches_date(date) {
                    return;
                }
                for time in expr.times_of_day() {
                    let Some(run_start) = resolve(zone, date, time) else {
                        continue;
                    };
                    if let Ok(run_end) = run_start.checked_add(*duration) {
                        out.push(Interval {
                            start: run_start,
                            end: run_end,
                        });
                    }
                }
            }
        }
    }
}
