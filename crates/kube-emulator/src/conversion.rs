//! One storage, two API shapes: core/v1 Events are served from the events.k8s.io/v1 storage, as
//! kube-apiserver does, so `kubectl get events` and `kubectl describe` show what kube-runtime's
//! Recorder (events.k8s.io/v1) wrote, and the other way round.

use serde_json::{Map, Value};

/// How a resource's objects relate to their storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Stored as served.
    #[default]
    Native,
    /// core/v1 Event over events.k8s.io/v1 storage.
    CoreEvent,
}

/// (core/v1 field, events.k8s.io/v1 field) for the fields whose names differ.
const CORE_EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

impl View {
    /// A stored object as this resource serves it.
    pub fn present(self, stored: &Value) -> Value {
        match self {
            View::Native => stored.clone(),
            View::CoreEvent => rename(stored, |(core, canonical)| (canonical, core)),
        }
    }

    /// An object in this resource's shape, as stored.
    pub fn store(self, served: Value) -> Value {
        match self {
            View::Native => served,
            View::CoreEvent => rename(&served, |(core, canonical)| (core, canonical)),
        }
    }
}

fn rename(
    object: &Value,
    direction: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    let Some(fields) = object.as_object() else {
        return object.clone();
    };
    let renames: Vec<(&str, &str)> = CORE_EVENT_FIELDS
        .iter()
        .map(|pair| direction(*pair))
        .collect();
    let mut renamed = Map::new();
    for (key, value) in fields {
        let target = renames
            .iter()
            .find(|(from, _)| from == key)
            .map_or(key.as_str(), |(_, to)| *to);
        renamed.insert(target.to_string(), value.clone());
    }
    Value::Object(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_events_round_trip() {
        let stored = json!({"metadata": {"name": "e"}, "regarding": {"name": "a"}, "note": "hi", "reportingController": "op", "reason": "R"});
        let core = View::CoreEvent.present(&stored);
        assert_eq!(
            core,
            json!({"metadata": {"name": "e"}, "involvedObject": {"name": "a"}, "message": "hi", "reportingComponent": "op", "reason": "R"})
        );
        assert_eq!(View::CoreEvent.store(core), stored);
    }
}
