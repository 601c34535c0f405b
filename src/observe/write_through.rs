//! Write-through: the answer of a write updates the cache at once, so the reconcile that follows
//! reads what was just written instead of asking Mithril again.

use std::collections::BTreeMap;

use mithril_api::{Bid, BidStatus, InstanceStatus};

use super::observer::MithrilObserver;
use crate::digest::digest;

impl MithrilObserver {
    /// Records a bid as answered by a create or update. Emits [`super::Change::BidChanged`] when
    /// it differs from what was last reported; returns whether it did.
    pub fn record_bid(&self, bid: Bid) -> bool {
        let change = self.put_written_bid(bid);
        let changed = change.is_some();
        self.emit(change.into_iter().collect());
        changed
    }

    /// Records a bid as answered by the caller's own create or update, waking nobody: the caller
    /// reports what it wrote itself, and a wake-up would only make it reconcile again to find
    /// nothing to do. The bid counts as reported, so the next cycle wakes the caller only if
    /// Mithril moves it on from here. Returns whether it differed from what was last reported.
    pub fn record_own_bid(&self, bid: Bid) -> bool {
        self.put_written_bid(bid).is_some()
    }

    fn put_written_bid(&self, bid: Bid) -> Option<super::Change> {
        let fid = bid.fid.clone();
        let mut state = self.write();
        state.supersede(&fid, &bid);
        let epoch = state.next_write();
        state.written_bids.insert(digest(&fid), epoch);
        state.snapshot.put_bid(bid);
        state.refresh_bid(&fid)
    }

    /// Records a successful cancellation: the bid is terminated, and the next cycle lists its
    /// instances to learn their final status. Returns whether a change was emitted.
    pub fn record_cancelled(&self, fid: &str) -> bool {
        let change = {
            let mut state = self.write();
            let Some(mut cancelled) = state.snapshot.bid(fid).cloned() else {
                return false;
            };
            cancelled.status = BidStatus::Terminated;
            state.supersede(fid, &cancelled);
            let Some(bid) = state.snapshot.bid_mut(fid) else {
                return false;
            };
            bid.status = BidStatus::Terminated;
            let epoch = state.next_write();
            state.written_bids.insert(digest(fid), epoch);
            state.stale_bids.insert(fid.to_owned(), epoch);
            state.refresh_bid(fid)
        };
        let changed = change.is_some();
        self.emit(change.into_iter().collect());
        changed
    }

    /// Records instance statuses as answered by `PATCH /v2/instances` (e.g. `STATUS_STOPPING`
    /// after a pause). Instances not in the cache are left to the next full refresh. Returns the
    /// number of changes emitted.
    pub fn record_instance_statuses(&self, statuses: &BTreeMap<String, InstanceStatus>) -> usize {
        let changes = {
            let mut state = self.write();
            let epoch = state.next_write();
            let mut changes = Vec::new();
            for (fid, status) in statuses {
                if !state.snapshot.set_instance_status(fid, status.clone()) {
                    continue;
                }
                state.written_instances.insert(digest(fid), epoch);
                let bid = state
                    .snapshot
                    .instance(fid)
                    .and_then(|instance| instance.bid.clone());
                changes.extend(state.refresh_reserved(fid));
                if let Some(bid) = bid {
                    changes.extend(state.refresh_bid(&bid));
                }
            }
            changes
        };
        let count = changes.len();
        self.emit(changes);
        count
    }
}
