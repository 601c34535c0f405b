//! Durations as the schedule spec writes them: `1h`, `90m`, `1h30m`, `45s` (hours, minutes and
//! seconds, each at most once, in that order). The same shape the CRD schema's pattern admits.

use jiff::SignedDuration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing given.
    #[error("empty duration")]
    Empty,
    /// Not a sequence of `<digits><h|m|s>` in the order h, m, s.
    #[error("expected hours, minutes and seconds such as 1h30m, found {0:?}")]
    Malformed(String),
    /// Too large to represent.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// Reads `1h30m`-style text into an exact duration.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed(text.to_owned());
    let mut total_seconds: i64 = 0;
    // Units must appear in this order, each at most once.
    let mut allowed_units: &[(u8, i64)] = &[(b'h', 3600), (b'm', 60), (b's', 1)];
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits == rest.len() {
            return Err(malformed());
        }
        let unit = rest[digits];
        let position = allowed_units
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(malformed)?;
        let seconds_per_unit = allowed_units[position].1;
        allowed_units = &allowed_units[position + 1..];
        // The digits are ASCII, so this slice is valid UTF-8.
        let number: i64 = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        total_seconds = number
            .checked_mul(seconds_per_unit)
            .and_then(|s| total_seconds.checked_add(s))
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        rest = &rest[digits + 1..];
    }
    Ok(SignedDuration::from_secs(total_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit_and_combinations() {
        assert_eq!(parse_duration("1h"), Ok(SignedDuration::from_hours(1)));
        assert_eq!(parse_duration("90m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(parse_duration("45s"), Ok(SignedDuration::from_secs(45)));
        assert_eq!(parse_duration("1h30m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(
            parse_duration("2h0m5s"),
            Ok(SignedDuration::from_secs(7205))
        );
        assert_eq!(parse_duration("0m"), Ok(SignedDuration::ZERO));
    }

    #[test]
    fn rejects_other_shapes() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        for text in [
            "1", "h", "1d", "30m1h", "1h1h", "1.5h", "-1h", "1h ", "PT1H", "1H",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::Malformed(text.into())),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("99999999999999999999h"),
            Err(DurationError::Overflow("99999999999999999999h".into()))
        );
    }
}
