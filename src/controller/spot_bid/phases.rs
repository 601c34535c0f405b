//! How many SpotBids are in each phase, for the metrics.
//!
//! The controller caches only the resources' metadata (the full object is read by each
//! reconcile), so the phases are not in its cache: each reconcile notes the phase it read and
//! the phase it reported, here, in eight bytes of key and one of phase per resource.

use crate::controller::wiring::UNKNOWN_PHASE;
use crate::crd::SpotBidPhase;
use crate::digest::digest as key;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// The last phase each resource (by uid) was read or reported with.
#[derive(Default)]
pub struct PhaseTally {
    /// uid digest -> phase (`None`: no status yet).
    phases: Mutex<HashMap<u64, Option<SpotBidPhase>>>,
}

impl PhaseTally {
    /// Notes the phase of the resource of `uid`.
    pub fn record(&self, uid: &str, phase: Option<SpotBidPhase>) {
        self.lock().insert(key(uid), phase);
    }

    /// Counts the resources of `live` (uids) by phase, and forgets every resource not among
    /// them: one deleted without a last reconcile (observe-only, no finalizer) leaves nothing.
    pub fn count<'a>(&self, live: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
        let live: HashSet<u64> = live.into_iter().map(key).collect();
        let mut phases = self.lock();
        phases.retain(|key, _| live.contains(key));
        let mut counts = BTreeMap::new();
        for key in &live {
            let label = match phases.get(key).copied().flatten() {
                Some(phase) => format!("{phase:?}"),
                None => UNKNOWN_PHASE.to_owned(),
            };
            *counts.entry(label).or_insert(0) += 1;
        }
        counts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Option<SpotBidPhase>>> {
        self.phases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_resources_are_counted_by_their_last_phase_and_the_gone_forgotten() {
        let tally = PhaseTally::default();
        tally.record("uid-a", Some(SpotBidPhase::Pending));
        tally.record("uid-a", Some(SpotBidPhase::Allocated));
        tally.record("uid-b", Some(SpotBidPhase::Allocated));
        tally.record("uid-c", None);
        tally.record("uid-gone", Some(SpotBidPhase::Open));
        let counts = tally.count(["uid-a", "uid-b", "uid-c", "uid-new"]);
        assert_eq!(
            counts,
            BTreeMap::from([("Allocated".to_owned(), 2), (UNKNOWN_PHASE.to_owned(), 2)])
        );
        assert_eq!(tally.lock().len(), 3, "the deleted resource is forgotten");
    }
}
