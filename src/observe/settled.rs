//! Which instance statuses are "settled": statuses an instance stays in until something happens to
//! it (a write, a preemption, a cancellation), as opposed to statuses it walks out of on its own.
//!
//! The observer lists only unsettled instances each cycle, so in steady state (everything running
//! or paused) that list is a single, usually empty, page. An instance that leaves the unsettled
//! list has settled and is fetched once, by its bid or reservation, to learn what it became.

use mithril_api::InstanceStatus;

/// Statuses an instance does not leave on its own.
///
/// `PREEMPTED`, `REPLACED` and `ERROR` are final for the instance (a re-allocated bid gets new
/// instances); counting them as unsettled would make the per-cycle list grow with every
/// preemption ever seen.
pub const SETTLED: &[InstanceStatus] = &[
    InstanceStatus::Running,
    InstanceStatus::Paused,
    InstanceStatus::Terminated,
    InstanceStatus::Preempted,
    InstanceStatus::Replaced,
    InstanceStatus::Error,
];

/// Statuses an instance never leaves. Mithril keeps such instances (those of every ended bid)
/// for good, so a full refresh lists bid instances in every other status only.
pub const FINAL: &[InstanceStatus] = &[
    InstanceStatus::Terminated,
    InstanceStatus::Preempted,
    InstanceStatus::Replaced,
    InstanceStatus::Error,
];

/// True when the instance will never change status again (an unknown status is not final).
pub fn is_final(status: &InstanceStatus) -> bool {
    FINAL.contains(status)
}

/// Every known status that is not final: the `status_in` filter of a full refresh's bid instances.
pub fn open_statuses() -> Vec<InstanceStatus> {
    InstanceStatus::KNOWN
        .iter()
        .filter(|status| !is_final(status))
        .cloned()
        .collect()
}

/// True when the instance is not expected to change status without an outside event.
///
/// A status this build does not know cannot be asked for in `status_in`, so it counts as settled:
/// the periodic full refresh is what follows it.
pub fn is_settled(status: &InstanceStatus) -> bool {
    !status.is_known() || SETTLED.contains(status)
}

/// Every known status that is not settled: the `status_in` filter of the per-cycle list.
pub fn unsettled_statuses() -> Vec<InstanceStatus> {
    InstanceStatus::KNOWN
        .iter()
        .filter(|status| !is_settled(status))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_and_unsettled_partition_the_known_statuses() {
        let unsettled = unsettled_statuses();
        assert_eq!(unsettled.len() + SETTLED.len(), InstanceStatus::KNOWN.len());
        assert!(unsettled.contains(&InstanceStatus::Stopping));
        assert!(unsettled.contains(&InstanceStatus::Preempting));
        assert!(unsettled.contains(&InstanceStatus::New));
        assert!(!unsettled.contains(&InstanceStatus::Running));
        assert!(!unsettled.contains(&InstanceStatus::Paused));
    }

    #[test]
    fn final_statuses_are_settled_and_the_rest_open() {
        assert!(FINAL.iter().all(is_settled));
        assert_eq!(
            open_statuses().len() + FINAL.len(),
            InstanceStatus::KNOWN.len()
        );
        assert!(open_statuses().contains(&InstanceStatus::Running));
        assert!(!is_final(&InstanceStatus::Unknown(
            "STATUS_HIBERNATING".into()
        )));
    }

    #[test]
    fn unknown_statuses_are_left_to_the_full_refresh() {
        assert!(is_settled(&InstanceStatus::Unknown(
            "STATUS_HIBERNATING".into()
        )));
    }
}
