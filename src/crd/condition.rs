//! Status conditions (`type`, `status`, `reason`, `message`, `lastTransitionTime`,
//! `observedGeneration`) and the pure helpers that keep them honest.

use super::reason::Reason;
use super::time::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The condition type every kind reports for "the world is as the spec asks".
pub const READY: &str = "Ready";
/// The condition type every kind reports for "Mithril matches the spec".
pub const SYNCED: &str = "Synced";

/// Whether a condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell yet.
    Unknown,
}

/// One observation about a resource, in the shape of `metav1.Condition`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The aspect this condition describes, e.g. `Ready` or `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether the condition holds: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A machine-readable reason for the status, in UpperCamelCase.
    pub reason: String,
    /// A human-readable explanation of the status.
    pub message: String,
    /// When the status last changed (not when the condition was last written).
    pub last_transition_time: Time,
    /// The resource generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition observed at `now` for the given generation.
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: Reason,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Time,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: reason.as_str().to_owned(),
            message: message.into(),
            last_transition_time: now,
            observed_generation,
        }
    }

    /// Whether the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Records `condition` in `conditions`, replacing any condition of the same type.
///
/// The transition time of the stored condition is kept when the status did not change, so that
/// `lastTransitionTime` means what it says and a rebuilt status compares equal to the stored one.
/// Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, condition: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            let last_transition_time = if existing.status == condition.status {
                existing.last_transition_time
            } else {
                condition.last_transition_time
            };
            let updated = Condition {
                last_transition_time,
                ..condition
            };
            if *existing == updated {
                false
            } else {
                *existing = updated;
                true
            }
        }
        None => {
            conditions.push(condition);
            true
        }
    }
}

/// The condition of the given type, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of the given type is present and `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

/// Whether writing `desired` would change the stored status (`None`: no status yet).
///
/// Statuses are compared whole; build `desired` from the stored status with [`set_condition`] so
/// that unchanged conditions keep their transition times and compare equal.
pub fn status_changed<S: PartialEq>(stored: Option<&S>, desired: &S) -> bool {
    stored != Some(desired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Time {
        Time::new(jiff::Timestamp::from_second(1_800_000_000 + second).unwrap())
    }

    fn ready(status: ConditionStatus, reason: Reason, generation: i64, now: Time) -> Condition {
        Condition::new(
            READY,
            status,
            reason,
            format!("{reason} message"),
            Some(generation),
            now,
        )
    }

    #[test]
    fn adds_a_missing_condition() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            ready(ConditionStatus::False, Reason::BidNotPlaced, 1, at(0))
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, at(0));
    }

    #[test]
    fn same_status_keeps_transition_time_but_updates_reason_and_generation() {
        let mut conditions = vec![ready(
            ConditionStatus::False,
            Reason::BidNotPlaced,
            1,
            at(0),
        )];
        assert!(set_condition(
            &mut conditions,
            ready(
                ConditionStatus::False,
                Reason::WaitingForCapacity,
                2,
                at(60)
            )
        ));
        let stored = find_condition(&conditions, READY).unwrap();
        assert_eq!(stored.reason, "WaitingForCapacity");
        assert_eq!(stored.observed_generation, Some(2));
        assert_eq!(stored.last_transition_time, at(0));
    }

    #[test]
    fn identical_condition_is_no_change() {
        let mut conditions = vec![ready(ConditionStatus::True, Reason::Running, 3, at(0))];
        assert!(!set_condition(
            &mut conditions,
            ready(ConditionStatus::True, Reason::Running, 3, at(90))
        ));
        assert_eq!(conditions[0].last_transition_time, at(0));
    }

    #[test]
    fn status_change_moves_transition_time() {
        let mut conditions = vec![ready(
            ConditionStatus::False,
            Reason::WaitingForCapacity,
            1,
            at(0),
        )];
        assert!(set_condition(
            &mut conditions,
            ready(ConditionStatus::True, Reason::Running, 1, at(120))
        ));
        assert_eq!(conditions[0].last_transition_time, at(120));
        assert!(is_condition_true(&conditions, READY));
        assert!(!is_condition_true(&conditions, SYNCED));
    }

    #[test]
    fn other_types_are_left_alone() {
        let synced = Condition::new(
            SYNCED,
            ConditionStatus::True,
            Reason::Synced,
            "ok",
            Some(1),
            at(0),
        );
        let mut conditions = vec![synced.clone()];
        set_condition(
            &mut conditions,
            ready(ConditionStatus::Unknown, Reason::BidNotPlaced, 1, at(5)),
        );
        assert_eq!(conditions.len(), 2);
        assert_eq!(find_condition(&conditions, SYNCED), Some(&synced));
    }

    #[test]
    fn status_changed_compares_whole_status() {
        let stored = vec![ready(ConditionStatus::True, Reason::Running, 1, at(0))];
        let mut desired = stored.clone();
        set_condition(
            &mut desired,
            ready(ConditionStatus::True, Reason::Running, 1, at(300)),
        );
        assert!(!status_changed(Some(&stored), &desired));
        assert!(status_changed(None, &desired));
        set_condition(
            &mut desired,
            ready(ConditionStatus::False, Reason::Preempted, 1, at(300)),
        );
        assert!(status_changed(Some(&stored), &desired));
    }

    #[test]
    fn serializes_like_metav1_condition() {
        let condition = ready(ConditionStatus::True, Reason::Running, 4, at(0));
        let value = serde_json::to_value(&condition).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "message": "Running message",
                "lastTransitionTime": "2027-01-15T08:00:00Z",
                "observedGeneration": 4
            })
        );
    }
}
