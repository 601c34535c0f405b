//! Serde for Mithril's `format: datetime` strings.
//!
//! The API documents RFC 3339 timestamps with an offset (`2024-01-01T00:00:00Z`,
//! `2024-01-01T00:00:00+00:00`). Python services sometimes emit naive datetimes without an offset;
//! those are UTC on Mithril, so they are accepted as UTC instead of failing the whole response.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serializer};

/// Parses a Mithril datetime: RFC 3339 with offset, or a naive datetime taken as UTC.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    text.parse::<DateTime>()
        .ok()
        .and_then(|naive| naive.to_zoned(TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp())
        .ok_or_else(|| {
            format!("invalid datetime {text:?}: expected RFC 3339, e.g. \"2024-01-01T00:00:00Z\"")
        })
}

/// Serde `with` module for a required timestamp.
pub fn serialize<S: Serializer>(ts: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(ts)
}

/// Serde `with` module for a required timestamp.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Serde `with` module for a nullable timestamp.
pub mod option {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        ts: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => serializer.collect_str(ts),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => super::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        let expected: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        for text in [
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00-00:00",
        ] {
            assert_eq!(parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn naive_datetimes_are_utc() {
        assert_eq!(
            parse("2024-01-01T05:30:00.250").unwrap(),
            "2024-01-01T05:30:00.25Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = parse("yesterday").unwrap_err();
        assert!(
            err.contains("\"yesterday\"") && err.contains("RFC 3339"),
            "{err}"
        );
    }
}
