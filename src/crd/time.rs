//! `Time`: an instant as Kubernetes writes it in status (RFC 3339, whole seconds, UTC).

use jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// An instant in status fields, kept to whole seconds like `metav1.Time`.
///
/// Truncating on construction matters: a status rebuilt on every reconcile must compare equal to
/// the one already stored, or every reconcile would write (sub-second noise is not a change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(Timestamp);

impl Time {
    /// The instant, truncated to whole seconds.
    pub fn new(instant: Timestamp) -> Self {
        // A second count taken from a valid Timestamp is always a valid Timestamp again.
        Self(Timestamp::from_second(instant.as_second()).unwrap_or(instant))
    }

    /// The instant this time stands for.
    pub fn timestamp(self) -> Timestamp {
        self.0
    }
}

impl From<Timestamp> for Time {
    fn from(instant: Timestamp) -> Self {
        Self::new(instant)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse::<Timestamp>()
            .map(Self::new)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Time {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_seconds_and_prints_utc() {
        let instant: Timestamp = "2026-03-29T01:30:15.987+01:00".parse().unwrap();
        let time = Time::new(instant);
        assert_eq!(time.to_string(), "2026-03-29T00:30:15Z");
        assert_eq!(serde_json::to_value(time).unwrap(), "2026-03-29T00:30:15Z");
    }

    #[test]
    fn reads_any_rfc3339_offset() {
        let time: Time = serde_json::from_value("2026-03-29T03:30:00+02:00".into()).unwrap();
        assert_eq!(time.to_string(), "2026-03-29T01:30:00Z");
        assert!(serde_json::from_value::<Time>("yesterday".into()).is_err());
    }
}
