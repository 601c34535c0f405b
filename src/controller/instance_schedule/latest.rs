//! The status this controller last wrote for each schedule, until the watch delivers it.
//!
//! A reconcile often follows its own status write at once (the pause it sent changed an
//! instance, which wakes the schedule again), before the reflector store has the new status.
//! Building on the store's older status would drop the last actions just recorded (and with
//! them the backoff of a refusal) and repeat events. So a write is remembered with the
//! resourceVersion it was based on: while the store still shows that version, the remembered
//! status is the previous one.

use super::index::ScheduleKey;
use crate::crd::{InstanceSchedule, InstanceScheduleStatus};
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct LatestStatus {
    written: Mutex<HashMap<ScheduleKey, (Option<String>, InstanceScheduleStatus)>>,
}

impl LatestStatus {
    fn lock(
        &self,
    ) -> MutexGuard<'_, HashMap<ScheduleKey, (Option<String>, InstanceScheduleStatus)>> {
        // A plain map: a panic elsewhere cannot leave it half-updated.
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The status to build on: the one written last when the store has not caught up with it,
    /// else the store's.
    pub fn previous(
        &self,
        key: &ScheduleKey,
        schedule: &InstanceSchedule,
    ) -> Option<InstanceScheduleStatus> {
        let mut written = self.lock();
        match written.get(key) {
            Some((_, status)) if schedule.status.as_ref() == Some(status) => {
                // The store has it.
                written.remove(key);
                schedule.status.clone()
            }
            Some((based_on, status)) if *based_on == schedule.resource_version() => {
                Some(status.clone())
            }
            Some(_) => {
                // The store moved past the write (ours arrived, or someone else wrote).
                written.remove(key);
                schedule.status.clone()
            }
            None => schedule.status.clone(),
        }
    }

    /// Remembers `status`, written over `schedule` as the reconcile saw it.
    pub fn wrote(
        &self,
        key: &ScheduleKey,
        schedule: &InstanceSchedule,
        status: InstanceScheduleStatus,
    ) {
        self.lock()
            .insert(key.clone(), (schedule.resource_version(), status));
    }

    /// Forgets a deleted schedule.
    pub fn forget(&self, key: &ScheduleKey) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::ObjectRef;

    fn schedule(version: &str, wanted: Option<crate::crd::WantedState>) -> InstanceSchedule {
        let mut schedule: InstanceSchedule = serde_json::from_value(serde_json::json!({
            "apiVersion": "mithril.ai/v1alpha1", "kind": "InstanceSchedule",
            "metadata": {"name": "nights", "namespace": "team", "resourceVersion": version},
            "spec": {
                "project": "demo", "timeZone": "UTC",
                "selector": {"reservationFids": ["res_1"]},
                "windows": [{"start": "08:00", "end": "18:00"}],
            },
        }))
        .unwrap();
        schedule.status = Some(InstanceScheduleStatus {
            wanted_state: wanted,
            ..Default::default()
        });
        schedule
    }

    #[test]
    fn the_written_status_stands_until_the_store_moves_past_it() {
        use crate::crd::WantedState::{Paused, Running};
        let latest = LatestStatus::default();
        let stale = schedule("7", Some(Running));
        let key = ObjectRef::from_obj(&stale);
        assert_eq!(latest.previous(&key, &stale), stale.status);
        let written = InstanceScheduleStatus {
            wanted_state: Some(Paused),
            ..Default::default()
        };
        latest.wrote(&key, &stale, written.clone());
        assert_eq!(latest.previous(&key, &stale), Some(written));
        let caught_up = schedule("8", Some(Paused));
        assert_eq!(latest.previous(&key, &caught_up), caught_up.status);
        // Forgotten once the store moved on: an older object is not matched again.
        assert_eq!(latest.previous(&key, &stale), stale.status);
    }
}
