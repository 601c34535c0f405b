//! A small, exact cron subset: when a schedule window starts.
//!
//! Five fields separated by spaces: minute (0-59), hour (0-23), day of month (1-31), month (1-12
//! or `JAN`-`DEC`), day of week (0-7 where 0 and 7 are Sunday, or `SUN`-`SAT`). Each field is a
//! comma list of items; an item is `*`, a value `a`, a range `a-b`, or one of these with a step
//! `/n` (`*/15`, `8-18/2`, and `5/20` meaning `5-max/20`). Names are case-insensitive. The macros
//! `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
//! their usual expressions. As in classic cron, when both the day-of-month and the day-of-week
//! fields are restricted (do not start with `*`), a day matching either one matches.
//!
//! Not supported: seconds or year fields, `L`, `W`, `#`, `?`, `@reboot`, ranges that wrap around.

use jiff::civil::{Date, Time};

/// Why a cron expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields (or a known macro).
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {0}")]
    FieldCount(usize),
    /// A field item that is not `*`, a value, a range or a step.
    #[error("{field}: cannot read {item:?}")]
    Malformed {
        /// The field's name.
        field: &'static str,
        /// The offending item.
        item: String,
    },
    /// A value outside the field's range.
    #[error("{field}: {value} is outside {min}-{max}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The offending value.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A range whose start is after its end (ranges do not wrap).
    #[error("{field}: range {start}-{end} runs backwards")]
    BackwardsRange {
        /// The field's name.
        field: &'static str,
        /// Range start.
        start: u32,
        /// Range end.
        end: u32,
    },
    /// A step of zero.
    #[error("{field}: step must be at least 1")]
    ZeroStep {
        /// The field's name.
        field: &'static str,
    },
    /// A macro this subset does not know.
    #[error("unknown macro {0:?}")]
    UnknownMacro(String),
}

/// A parsed cron expression: the set of local minutes at which it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    day_of_month_restricted: bool,
    day_of_week_restricted: bool,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The value of the first name (`JAN` is 1, `SUN` is 0).
    first_name_value: u32,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    first_name_value: 0,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    first_name_value: 0,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
    first_name_value: 0,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    first_name_value: 1,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    first_name_value: 0,
};

impl std::str::FromStr for CronExpr {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, CronError> {
        let text = text.trim();
        let expanded = match text.strip_prefix('@') {
            Some(name) => expand_macro(name)?,
            None => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
            return Err(CronError::FieldCount(fields.len()));
        };
        let days_of_week_bits = parse_field(day_of_week, &DAY_OF_WEEK)?;
        // 7 is another name for Sunday (0).
        let days_of_week = ((days_of_week_bits | (days_of_week_bits >> 7)) & 0x7f) as u8;
        Ok(Self {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)? as u32,
            days_of_month: parse_field(day_of_month, &DAY_OF_MONTH)? as u32,
            months: parse_field(month, &MONTH)? as u16,
            days_of_week,
            day_of_month_restricted: !day_of_month.starts_with('*'),
            day_of_week_restricted: !day_of_week.starts_with('*'),
        })
    }
}

fn expand_macro(name: &str) -> Result<&'static str, CronError> {
    match name.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => Ok("0 0 1 1 *"),
        "monthly" => Ok("0 0 1 * *"),
        "weekly" => Ok("0 0 * * 0"),
        "daily" | "midnight" => Ok("0 0 * * *"),
        "hourly" => Ok("0 * * * *"),
        _ => Err(CronError::UnknownMacro(format!("@{name}"))),
    }
}

/// A field as a bit set: bit `v` is set when value `v` matches.
fn parse_field(field: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let mut bits = 0u64;
    for item in field.split(',') {
        bits |= parse_item(item, spec)?;
    }
    Ok(bits)
}

fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let malformed = || CronError::Malformed {
        field: spec.name,
        item: item.to_owned(),
    };
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step.parse().map_err(|_| malformed())?;
            if step == 0 {
                return Err(CronError::ZeroStep { field: spec.name });
            }
            (range, Some(step))
        }
        None => (item, None),
    };
    let (start, end) = if range == "*" {
        (spec.min, spec.max)
    } else if let Some((start, end)) = range.split_once('-') {
        (
            parse_value(start, spec, item)?,
            parse_value(end, spec, item)?,
        )
    } else {
        let value = parse_value(range, spec, item)?;
        // `a/n` runs from a to the field's maximum; a lone `a` is just a.
        (value, if step.is_some() { spec.max } else { value })
    };
    if start > end {
        return Err(CronError::BackwardsRange {
            field: spec.name,
            start,
            end,
        });
    }
    let step = step.unwrap_or(1) as usize;
    Ok((start..=end)
        .step_by(step)
        .fold(0u64, |bits, v| bits | (1u64 << v)))
}

fn parse_value(text: &str, spec: &FieldSpec, item: &str) -> Result<u32, CronError> {
    let value = match spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        Some(index) => index as u32 + spec.first_name_value,
        None => text.parse().map_err(|_| CronError::Malformed {
            field: spec.name,
            item: item.to_owned(),
        })?,
    };
    if value < spec.min || value > spec.max {
        return Err(CronError::OutOfRange {
            field: spec.name,
            value,
            min: spec.min,
            max: spec.max,
        });
    }
    Ok(value)
}

impl CronExpr {
    /// Whether the expression fires on this local date (at some minute).
    pub fn matches_date(&self, date: Date) -> bool {
        let month_matches = self.months & (1 << date.month()) != 0;
        let dom_matches = self.days_of_month & (1 << date.day()) != 0;
        let dow_matches = self.days_of_week & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        let day_matches = if self.day_of_month_restricted && self.day_of_week_restricted {
            dom_matches || dow_matches
        } else {
            dom_matches && dow_matches
        };
        month_matches && day_matches
    }

    /// The local times of day at which the expression fires on a matching date, in order.
    pub fn times_of_day(&self) -> impl Iterator<Item = Time> + '_ {
        (0..24i8)
            .filter(|hour| self.hours & (1 << hour) != 0)
            .flat_map(move |hour| {
                (0..60i8)
                    .filter(|minute| self.minutes & (1 << minute) != 0)
                    .map(move |minute| Time::constant(hour, minute, 0, 0))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn cron(text: &str) -> CronExpr {
        text.parse().unwrap()
    }

    fn times(expr: &CronExpr) -> Vec<String> {
        expr.times_of_day()
            .map(|t| t.strftime("%H:%M").to_string())
            .collect()
    }

    #[test]
    fn fires_at_listed_ranges_and_steps() {
        assert_eq!(
            times(&cron("0,30 8-9 * * *")),
            ["08:00", "08:30", "09:00", "09:30"]
        );
        assert_eq!(times(&cron("*/20 6 * * *")), ["06:00", "06:20", "06:40"]);
        assert_eq!(
            times(&cron("50/5 22-23/1 * * *")),
            ["22:50", "22:55", "23:50", "23:55"]
        );
        assert_eq!(times(&cron("15 0-6/3 * * *")), ["00:15", "03:15", "06:15"]);
    }

    #[test]
    fn weekday_names_numbers_and_sunday_as_seven() {
        let weekdays = cron("0 8 * * MON-fri");
        assert!(weekdays.matches_date(date(2026, 11, 23))); // Monday
        assert!(weekdays.matches_date(date(2026, 11, 27))); // Friday
        assert!(!weekdays.matches_date(date(2026, 11, 28))); // Saturday
        let sunday = cron("0 8 * * 7");
        assert_eq!(sunday, cron("0 8 * * 0"));
        assert_eq!(sunday, cron("0 8 * * sun"));
        assert!(sunday.matches_date(date(2026, 11, 29)));
        assert!(!sunday.matches_date(date(2026, 11, 30)));
    }

    #[test]
    fn months_and_days_of_month() {
        let first_of_quarter = cron("0 0 1 JAN,apr,7,10 *");
        assert!(first_of_quarter.matches_date(date(2026, 4, 1)));
        assert!(first_of_quarter.matches_date(date(2026, 7, 1)));
        assert!(!first_of_quarter.matches_date(date(2026, 5, 1)));
        assert!(!first_of_quarter.matches_date(date(2026, 4, 2)));
    }

    #[test]
    fn restricted_day_fields_match_either() {
        // The 13th of the month, or any Friday.
        let either = cron("0 0 13 * 5");
        assert!(either.matches_date(date(2026, 11, 13))); // Friday the 13th
        assert!(either.matches_date(date(2026, 10, 13))); // Tuesday the 13th
        assert!(either.matches_date(date(2026, 11, 20))); // a Friday
        assert!(!either.matches_date(date(2026, 11, 19)));
        // A starred day-of-month defers to the day of week alone.
        let fridays = cron("0 0 */1 * 5");
        assert!(!fridays.matches_date(date(2026, 10, 13)));
        assert!(fridays.matches_date(date(2026, 11, 20)));
    }

    #[test]
    fn macros_expand() {
        assert_eq!(cron("@daily"), cron("0 0 * * *"));
        assert_eq!(cron("@Weekly"), cron("0 0 * * 0"));
        assert_eq!(cron("@annually"), cron("0 0 1 1 *"));
        assert_eq!(
            "@reboot".parse::<CronExpr>(),
            Err(CronError::UnknownMacro("@reboot".into()))
        );
    }

    #[test]
    fn rejects_what_it_does_not_define() {
        assert_eq!("0 8 * *".parse::<CronExpr>(), Err(CronError::FieldCount(4)));
        assert_eq!(
            "0 0 8 * * *".parse::<CronExpr>(),
            Err(CronError::FieldCount(6))
        );
        assert_eq!(
            "60 8 * * *".parse::<CronExpr>(),
            Err(CronError::OutOfRange {
                field: "minute",
                value: 60,
                min: 0,
                max: 59
            })
        );
        assert_eq!(
            "0 8 0 * *".parse::<CronExpr>(),
            Err(CronError::OutOfRange {
                field: "day of month",
                value: 0,
                min: 1,
                max: 31
            })
        );
        assert_eq!(
            "0 22-6 * * *".parse::<CronExpr>(),
            Err(CronError::BackwardsRange {
                field: "hour",
                start: 22,
                end: 6
            })
        );
        assert_eq!(
            "*/0 8 * * *".parse::<CronExpr>(),
            Err(CronError::ZeroStep { field: "minute" })
        );
        for bad in [
            "0 8 L * *",
            "0 8 * * 1#2",
            "0 8 ? * *",
            "0 8 * * MON-",
            "0 8 * JANUARY *",
        ] {
            assert!(
                matches!(bad.parse::<CronExpr>(), Err(CronError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}
