//! Which SpotBid a Mithril change concerns: bid name and FID -> resource.
//!
//! Filled by each reconcile (which knows both), read when the observers report a change, so a
//! Mithril-side change wakes exactly the resources it concerns.

use super::watched::Watched;
use crate::controller::wiring::scheduling_ref;
use crate::digest::digest;
use crate::observe::Change;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Both maps share one reference per resource: a hash table keeps spare slots, and at 10,000
/// resources a spare slot of a pointer instead of a whole reference is megabytes.
///
/// Names and FIDs are kept as 64-bit digests, not as strings: at 10,000 resources
/// the strings were half of the index. Two keys sharing a digest (about one chance in 10^11 at
/// that size) would wake the wrong resource for a change, and the right one would be revisited
/// at its next resync: the index only decides who is woken early.
#[derive(Default)]
pub struct BidIndex {
    by_name: Mutex<HashMap<u64, Arc<ObjectRef<Watched>>>>,
    by_fid: Mutex<HashMap<u64, Arc<ObjectRef<Watched>>>>,
}

impl BidIndex {
    /// Remembers that `resource` manages the bid named `name` (and, once known, of FID `fid`).
    pub fn record(&self, mut resource: ObjectRef<Watched>, name: &str, fid: Option<&str>) {
        // The uid and resourceVersion take no part in finding or comparing the reference (nor in
        // kube-runtime's scheduling), and would be two more strings per resource, twice.
        resource.extra = Default::default();
        let mut by_name = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        let name = digest(name);
        let shared = match by_name.get(&name) {
            Some(known) if **known == resource => known.clone(),
            _ => {
                let shared = Arc::new(resource);
                by_name.insert(name, shared.clone());
                shared
            }
        };
        if let Some(fid) = fid.map(digest) {
            let mut by_fid = self.by_fid.lock().unwrap_or_else(PoisonError::into_inner);
            if by_fid
                .get(&fid)
                .is_none_or(|known| !Arc::ptr_eq(known, &shared))
            {
                by_fid.insert(fid, shared);
            }
        }
    }

    /// The resource recorded as managing the bid of FID `fid`, if any.
    pub fn holder_of(&self, fid: &str) -> Option<Arc<ObjectRef<Watched>>> {
        self.by_fid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest(fid))
            .cloned()
    }

    /// Forgets a resource that is gone.
    pub fn forget(&self, resource: &ObjectRef<Watched>) {
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, r| **r != *resource);
        self.by_fid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, r| **r != *resource);
    }

    /// Every resource recorded.
    pub fn resources(&self) -> Vec<Arc<ObjectRef<Watched>>> {
        let mut resources: Vec<Arc<ObjectRef<Watched>>> = self
            .by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        resources.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        resources.dedup();
        resources
    }

    /// The resources to reconcile for `change`: the one concerned, or all of them on a resync.
    pub fn resources_for(
        &self,
        change: &Change,
        store: &Store<Watched>,
    ) -> Vec<Arc<ObjectRef<Watched>>> {
        match change {
            Change::BidChanged { fid, name } => {
                let by_fid = self
                    .by_fid
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&digest(fid))
                    .cloned();
                by_fid
                    .or_else(|| {
                        self.by_name
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get(&digest(name))
                            .cloned()
                    })
                    .into_iter()
                    .collect()
            }
            Change::InstanceChanged { .. } => Vec::new(),
            Change::Resync => store
                .state()
                .iter()
                .map(|bid| Arc::new(scheduling_ref(bid.as_ref())))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;

    fn changed(fid: &str, name: &str) -> Change {
        Change::BidChanged {
            fid: fid.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_change_finds_its_resource_by_fid_or_by_name_until_forgotten() {
        let (store, _writer) = reflector::store::<Watched>();
        let index = BidIndex::default();
        let mut resource = ObjectRef::<Watched>::new("train").within("ml");
        resource.extra.uid = Some("uid-1".into());
        index.record(resource.clone(), "k8s.ml.train.uid", None);
        assert_eq!(
            index.resources_for(&changed("bid_1", "k8s.ml.train.uid"), &store),
            [Arc::new(resource.clone())]
        );
        index.record(resource.clone(), "k8s.ml.train.uid", Some("bid_1"));
        // An adopted or renamed bid is found by its FID whatever its name.
        assert_eq!(
            index.resources_for(&changed("bid_1", "other"), &store),
            [Arc::new(resource.clone())]
        );
        assert!(
            index
                .resources_for(&changed("bid_2", "other"), &store)
                .is_empty()
        );
        index.forget(&resource);
        assert!(
            index
                .resources_for(&changed("bid_1", "k8s.ml.train.uid"), &store)
                .is_empty()
        );
    }
}
