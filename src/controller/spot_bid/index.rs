//! Which SpotBid a Mithril change concerns: bid name and FID -> resource.
//!
//! Filled by each reconcile (which knows both), read when the observers report a change, so a
//! Mithril-side change wakes exactly the resources it concerns.

use crate::crd::SpotBid;
use crate::observe::Change;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct BidIndex {
    by_name: Mutex<HashMap<String, ObjectRef<SpotBid>>>,
    by_fid: Mutex<HashMap<String, ObjectRef<SpotBid>>>,
}

impl BidIndex {
    /// Remembers that `resource` manages the bid named `name` (and, once known, of FID `fid`).
    pub fn record(&self, resource: ObjectRef<SpotBid>, name: &str, fid: Option<&str>) {
        if let Some(fid) = fid {
            self.by_fid
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(fid.to_owned(), resource.clone());
        }
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), resource);
    }

    /// Forgets a resource that is gone.
    pub fn forget(&self, resource: &ObjectRef<SpotBid>) {
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, r| r != resource);
        self.by_fid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, r| r != resource);
    }

    /// The resources to reconcile for `change`: the one concerned, or all of them on a resync.
    pub fn resources_for(
        &self,
        change: &Change,
        store: &Store<SpotBid>,
    ) -> Vec<ObjectRef<SpotBid>> {
        match change {
            Change::BidChanged { fid, name } => {
                let by_fid = self
                    .by_fid
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(fid)
                    .cloned();
                by_fid
                    .or_else(|| {
                        self.by_name
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get(name)
                            .cloned()
                    })
                    .into_iter()
                    .collect()
            }
            Change::InstanceChanged { .. } => Vec::new(),
            Change::Resync => store
                .state()
                .iter()
                .map(|bid| ObjectRef::from_obj(bid.as_ref()))
                .collect(),
        }
    }
}
