//! What the InstanceSchedule controller remembers between reconciles, to know whom to wake:
//! which instances each schedule selects and claims, and when each schedule is next due.
//!
//! Filled by each reconcile, read when an observer reports a change, when another schedule's
//! claims change, and when the schedule clock moves. Only for waking: every reconcile computes
//! its verdict (conflicts included) from the reflector store and the observer, never from here.

use crate::controller::usage::User;
use crate::crd::InstanceSchedule;
use crate::observe::Change;
use jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A schedule, as kube-runtime names it.
pub type ScheduleKey = ObjectRef<InstanceSchedule>;

#[derive(Debug, Default, Clone)]
struct Entry {
    /// Every instance the selector picked (ended and missing ones included).
    selected: BTreeSet<String>,
    /// The instances it claims against other schedules (see `Selection::claimed_fids`).
    claimed: BTreeSet<String>,
    /// When the schedule wants to be reconciled next, by the schedule clock.
    due: Option<Timestamp>,
}

/// The controller's memory of every schedule it reconciled.
#[derive(Debug, Default)]
pub struct ScheduleIndex {
    entries: Mutex<HashMap<ScheduleKey, Entry>>,
}

impl ScheduleIndex {
    fn lock(&self) -> MutexGuard<'_, HashMap<ScheduleKey, Entry>> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what `schedule` selects and claims; returns the other schedules whose conflict
    /// verdict may have changed with it: those claiming an instance it started or stopped
    /// claiming.
    pub fn record_selection(
        &self,
        schedule: &ScheduleKey,
        selected: BTreeSet<String>,
        claimed: BTreeSet<String>,
    ) -> Vec<ScheduleKey> {
        let mut entries = self.lock();
        let entry = entries.entry(schedule.clone()).or_default();
        let changed: BTreeSet<String> = entry
            .claimed
            .symmetric_difference(&claimed)
            .cloned()
            .collect();
        entry.selected = selected;
        entry.claimed = claimed;
        claimants_of(&entries, &changed, schedule)
    }

    /// Records when `schedule` is next due (`None`: only when something changes).
    pub fn set_due(&self, schedule: &ScheduleKey, due: Option<Timestamp>) {
        self.lock().entry(schedule.clone()).or_default().due = due;
    }

    /// Every schedule remembered.
    pub fn schedules(&self) -> Vec<ScheduleKey> {
        let mut schedules: Vec<ScheduleKey> = self.lock().keys().cloned().collect();
        schedules.sort_by_key(identity);
        schedules
    }

    /// The schedules due at or before `now`.
    pub fn due(&self, now: Timestamp) -> Vec<ScheduleKey> {
        let mut due: Vec<ScheduleKey> = self
            .lock()
            .iter()
            .filter(|(_, entry)| entry.due.is_some_and(|at| at <= now))
            .map(|(schedule, _)| schedule.clone())
            .collect();
        due.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        due
    }

    /// Forgets a deleted schedule; returns the schedules that shared an instance with it.
    pub fn forget(&self, schedule: &ScheduleKey) -> Vec<ScheduleKey> {
        let mut entries = self.lock();
        match entries.remove(schedule) {
            Some(entry) => claimants_of(&entries, &entry.claimed, schedule),
            None => Vec::new(),
        }
    }

    /// The schedules to reconcile for an observer's change: those selecting the instance, and
    /// those whose selector could pick it up now (its reservation, its FID, or a filter); every
    /// schedule on a resync.
    pub fn resources_for(
        &self,
        change: &Change,
        store: &Store<InstanceSchedule>,
    ) -> Vec<ScheduleKey> {
        match change {
            Change::BidChanged { .. } => Vec::new(),
            Change::Resync => store
                .state()
                .iter()
                .map(|schedule| ObjectRef::from_obj(schedule.as_ref()))
                .collect(),
            Change::InstanceChanged { fid, reservation } => {
                let mut found: BTreeSet<(String, String)> = self
                    .lock()
                    .iter()
                    .filter(|(_, entry)| entry.selected.contains(fid))
                    .map(|(schedule, _)| identity(schedule))
                    .collect();
                for schedule in store.state() {
                    let selector = &schedule.spec.selector;
                    let names = |list: &Option<Vec<String>>, wanted: &str| {
                        list.iter().flatten().any(|item| item == wanted)
                    };
                    if selector.filter.is_some()
                        || names(&selector.instance_fids, fid)
                        || names(&selector.reservation_fids, reservation)
                    {
                        let key = ObjectRef::from_obj(schedule.as_ref());
                        found.insert(identity(&key));
                    }
                }
                found
                    .into_iter()
                    .map(|(namespace, name)| ObjectRef::new(&name).within(&namespace))
                    .collect()
            }
        }
    }
}

fn identity(schedule: &ScheduleKey) -> (String, String) {
    (
        schedule.namespace.clone().unwrap_or_default(),
        schedule.name.clone(),
    )
}

/// Every schedule but `except` claiming one of `fids`, sorted.
fn claimants_of(
    entries: &HashMap<ScheduleKey, Entry>,
    fids: &BTreeSet<String>,
    except: &ScheduleKey,
) -> Vec<ScheduleKey> {
    if fids.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<ScheduleKey> = entries
        .iter()
        .filter(|(schedule, entry)| *schedule != except && !entry.claimed.is_disjoint(fids))
        .map(|(schedule, _)| schedule.clone())
        .collect();
    found.sort_by_key(identity);
    found
}

/// The kind's name in what a schedule uses of Mithril (keys, observers).
pub const USER_KIND: &str = "InstanceSchedule";

/// A schedule as a user of an API key.
pub fn user_of(schedule: &ScheduleKey) -> User {
    User::new(
        USER_KIND,
        schedule.namespace.clone().unwrap_or_default(),
        schedule.name.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ScheduleKey {
        ObjectRef::new(name).within("team")
    }

    fn fids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|fid| (*fid).to_owned()).collect()
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn a_changed_claim_wakes_the_schedules_sharing_those_instances() {
        let index = ScheduleIndex::default();
        assert!(
            index
                .record_selection(&key("a"), fids(&["i1", "i2"]), fids(&["i1", "i2"]))
                .is_empty()
        );
        assert!(
            index
                .record_selection(&key("b"), fids(&["i3"]), fids(&["i3"]))
                .is_empty()
        );
        // c starts claiming i2: a must hear of it; b shares nothing.
        assert_eq!(
            index.record_selection(&key("c"), fids(&["i2"]), fids(&["i2"])),
            [key("a")]
        );
        // An unchanged claim wakes nobody.
        assert!(
            index
                .record_selection(&key("c"), fids(&["i2"]), fids(&["i2"]))
                .is_empty()
        );
        // a lets go of i2: c's conflict is over.
        assert_eq!(
            index.record_selection(&key("a"), fids(&["i1"]), fids(&["i1"])),
            [key("c")]
        );
        // Deleting b, which shares nothing, wakes nobody; deleting c wakes nobody left on i2.
        assert!(index.forget(&key("b")).is_empty());
        assert!(index.forget(&key("c")).is_empty());
        assert!(index.forget(&key("c")).is_empty(), "already forgotten");
    }

    #[test]
    fn deleting_a_schedule_wakes_the_schedules_it_conflicted_with() {
        let index = ScheduleIndex::default();
        index.record_selection(&key("a"), fids(&["i1"]), fids(&["i1"]));
        index.record_selection(&key("b"), fids(&["i1", "i9"]), fids(&["i1"]));
        assert_eq!(index.forget(&key("a")), [key("b")]);
    }

    #[test]
    fn due_schedules_are_those_whose_time_has_come() {
        let index = ScheduleIndex::default();
        index.set_due(&key("later"), Some(at(60)));
        index.set_due(&key("now"), Some(at(0)));
        index.set_due(&key("idle"), None);
        assert!(index.due(at(-1)).is_empty());
        assert_eq!(index.due(at(0)), [key("now")]);
        assert_eq!(index.due(at(60)), [key("later"), key("now")]);
    }
}
