//! The mutable state behind an observer's lock: the snapshot, what was last reported, health, and
//! the bookkeeping that keeps write-throughs from being undone by an older list.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::Duration;

use mithril_api::{Bid, BidStatus, InstanceStatus};

use super::change::{BidFingerprint, Change};
use super::health::{ObserverHealth, PollReport};
use super::snapshot::Snapshot;
use super::spend::SpendBook;
use crate::digest::digest;

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) snapshot: Snapshot,
    /// The fingerprint of every bid as last reported to subscribers.
    pub(crate) fingerprints: HashMap<String, BidFingerprint>,
    /// Reservation and status of every reserved instance as last reported.
    pub(crate) reserved: HashMap<String, (String, InstanceStatus)>,
    pub(crate) health: ObserverHealth,
    /// The report of the latest successful cycle.
    pub(crate) last_report: Option<PollReport>,
    /// Bumped by every write-through. A cycle remembers the value it started with: an entry
    /// written after that is newer than what the cycle read and must not be overwritten by it.
    pub(crate) write_epoch: u64,
    /// Write epochs by the FID's digest: thousands while converging, only ever looked up (a
    /// collision would only keep a listed state out once).
    pub(crate) written_bids: HashMap<u64, u64>,
    pub(crate) written_instances: HashMap<u64, u64>,
    /// Bids whose instances the next cycle must list, with the epoch they were marked at: their
    /// instances may have jumped between settled statuses (e.g. RUNNING → TERMINATED on cancel),
    /// which the unsettled list cannot show.
    pub(crate) stale_bids: HashMap<String, u64>,
    /// Bids this replica wrote (or read one by one) lately, with the states that superseded:
    /// Mithril's lists may lag behind its writes, so a list showing one of those states (or not
    /// yet showing a new bid) within the list lag is older than the write and takes nothing back.
    /// By the FID's digest, as `written_bids`.
    pub(crate) recent_bids: HashMap<u64, RecentBid>,
    /// What each bid has cost and its latest events.
    pub(crate) spend: SpendBook,
}

#[derive(Debug)]
pub(crate) struct RecentBid {
    pub(crate) at: tokio::time::Instant,
    /// Earlier states of the bid; `None` when it did not exist before. Boxed: a bid created
    /// here (most entries) holds one `None`, and a vector of bids inline reserves four.
    pub(crate) superseded: Vec<Option<Box<Bid>>>,
}

impl State {
    /// Notes that `fid` moves from what the cache holds now to `next`.
    pub(crate) fn supersede(&mut self, fid: &str, next: &Bid) {
        let before = self.snapshot.bid(fid).cloned().map(Box::new);
        let recent = self
            .recent_bids
            .entry(digest(fid))
            .or_insert_with(|| RecentBid {
                at: tokio::time::Instant::now(),
                superseded: Vec::new(),
            });
        recent.at = tokio::time::Instant::now();
        if before.as_deref() != Some(next) && !recent.superseded.contains(&before) {
            recent.superseded.push(before);
        }
        recent
            .superseded
            .retain(|state| state.as_deref() != Some(next));
    }

    /// Bids cached as live (not Terminated) that the live lists just read did not name, except
    /// those written since the cycle started at `start_epoch` (the merge keeps them anyway). A
    /// bid created here lately is not spared: a lagging list does not show it yet, and one that
    /// ended does not show it any more; only its own read tells which.
    pub(crate) fn missing_live_bids(
        &self,
        listed: &HashSet<String>,
        start_epoch: u64,
    ) -> Vec<String> {
        self.snapshot
            .bids()
            .filter(|bid| bid.status != BidStatus::Terminated && !listed.contains(&bid.fid))
            .filter(|bid| {
                self.written_bids
                    .get(&digest(&bid.fid))
                    .is_none_or(|epoch| *epoch <= start_epoch)
            })
            .map(|bid| bid.fid.clone())
            .collect()
    }

    /// Starts a write-through and returns its epoch.
    pub(crate) fn next_write(&mut self) -> u64 {
        self.write_epoch += 1;
        self.write_epoch
    }

    /// Recomputes one bid's fingerprint; the change to report if it differs from the last one.
    pub(crate) fn refresh_bid(&mut self, fid: &str) -> Option<Change> {
        let bid = self.snapshot.bid(fid)?;
        let fingerprint = self.snapshot.fingerprint(bid);
        let name = bid.name.clone();
        if self.fingerprints.get(fid) == Some(&fingerprint) {
            return None;
        }
        self.fingerprints.insert(fid.to_owned(), fingerprint);
        Some(Change::BidChanged {
            fid: fid.to_owned(),
            name,
        })
    }

    /// Recomputes one reserved instance's reported status; the change if it differs.
    pub(crate) fn refresh_reserved(&mut self, fid: &str) -> Option<Change> {
        let instance = self.snapshot.instance(fid)?;
        let reservation = instance.reservation.clone()?;
        let current = (reservation.clone(), instance.status.clone());
        if self.reserved.get(fid) == Some(&current) {
            return None;
        }
        self.reserved.insert(fid.to_owned(), current);
        Some(Change::InstanceChanged {
            fid: fid.to_owned(),
            reservation,
        })
    }

    /// Recomputes everything reported and returns what changed since the last report, sorted.
    ///
    /// Bid fingerprints are updated in place rather than rebuilt: one set of them at a time.
    pub(crate) fn diff_all(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        for bid in self.snapshot.bids() {
            let fingerprint = self.snapshot.fingerprint(bid);
            match self.fingerprints.get_mut(&bid.fid) {
                Some(known) if *known == fingerprint => continue,
                Some(known) => *known = fingerprint,
                None => {
                    self.fingerprints.insert(bid.fid.clone(), fingerprint);
                }
            }
            changes.push(Change::BidChanged {
                fid: bid.fid.clone(),
                name: bid.name.clone(),
            });
        }
        // A bid leaves the cache only when its own read found nothing; its change still names it.
        for (fid, name) in self.snapshot.take_vanished() {
            if self.snapshot.bid(&fid).is_none() && self.fingerprints.remove(&fid).is_some() {
                changes.push(Change::BidChanged { fid, name });
            }
        }
        let reserved = self.snapshot.reserved_statuses();
        for (fid, current) in &reserved {
            if self.reserved.get(fid) != Some(current) {
                changes.push(Change::InstanceChanged {
                    fid: fid.clone(),
                    reservation: current.0.clone(),
                });
            }
        }
        for (fid, (reservation, _)) in &self.reserved {
            if !reserved.contains_key(fid) {
                changes.push(Change::InstanceChanged {
                    fid: fid.clone(),
                    reservation: reservation.clone(),
                });
            }
        }
        self.reserved = reserved;
        changes.sort_by(|a, b| change_key(a).cmp(&change_key(b)));
        changes
    }

    /// Takes the current picture as reported without reporting anything (the first sync).
    pub(crate) fn baseline(&mut self) {
        self.snapshot.take_vanished();
        self.fingerprints = self.snapshot.fingerprints();
        self.reserved = self.snapshot.reserved_statuses();
    }
}

/// Keeps the entries `keep` holds to; a table a burst of writes grew (thousands of creates while
/// converging) gives its room back once the burst has passed.
pub(crate) fn retain_shrinking<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    keep: impl FnMut(&K, &mut V) -> bool,
) {
    map.retain(keep);
    if map.capacity() > 4 * map.len() + 64 {
        map.shrink_to(2 * map.len());
    }
}

/// True when the bid whose FID digests to `key` was written here within `lag` and `seen`
/// (`None`: absent) is one of the states that write superseded: a list showing it is older than
/// the write.
pub(crate) fn superseded_lately(
    recent: &HashMap<u64, RecentBid>,
    key: u64,
    seen: Option<&Bid>,
    lag: Duration,
) -> bool {
    recent
        .get(&key)
        .is_some_and(|r| r.at.elapsed() < lag && r.superseded.iter().any(|s| s.as_deref() == seen))
}

fn change_key(change: &Change) -> (u8, &str) {
    match change {
        Change::BidChanged { fid, .. } => (0, fid),
        Change::InstanceChanged { fid, .. } => (1, fid),
        Change::Resync => (2, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_grown_by_a_burst_gives_its_room_back_once_it_has_passed() {
        let mut written: HashMap<String, u64> =
            (0..10_000).map(|i| (format!("bid_{i}"), i)).collect();
        retain_shrinking(&mut written, |_, epoch| *epoch >= 9_990);
        assert_eq!(written.len(), 10);
        assert!(written.capacity() < 100, "{}", written.capacity());
    }
}
