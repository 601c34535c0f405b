//! Durations on the command line: `30s`, `5m`, `1h30m`, `500ms` or ISO 8601 (`PT5M`).

use std::time::Duration;

/// Parses a positive duration for clap.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|error| format!("{text:?} is not a duration like 30s, 5m or 1h30m: {error}"))?;
    let duration = Duration::try_from(parsed)
        .map_err(|_| format!("{text:?} is negative: a duration must be positive"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero: a duration must be positive"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_and_iso_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("PT2M"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn rejects_zero_negative_and_garbage() {
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("soon").is_err());
    }
}
