//! One observation cycle: read Mithril, then merge into the cache and report what changed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use crate::mithril::{Auction, Bid, Instance, InstanceStatusResponse, MithrilError};

use super::change::Change;
use super::error::ObserveError;
use super::fetch::Fetcher;
use super::observer::{CycleCursor, MithrilObserver, PollReport};
use super::settled::is_settled;
use super::snapshot::Snapshot;

/// What a cycle read, before it is merged.
struct Observation {
    /// The write epoch when the cycle started.
    start_epoch: u64,
    bids: Vec<Bid>,
    instances: InstancesSeen,
    auctions: Arc<Vec<Auction>>,
    requests: u32,
}

enum InstancesSeen {
    /// Every instance of the project.
    All(Vec<Instance>),
    /// The unsettled instances plus those listed by bid or reservation.
    Some {
        listed: Vec<Instance>,
        /// Instances with neither bid nor reservation, fetched one by one.
        statuses: Vec<InstanceStatusResponse>,
        /// Instances Mithril no longer knows.
        gone: Vec<String>,
    },
}

/// Whose instances a partial cycle must list, beyond the unsettled ones.
#[derive(Debug, Default, PartialEq, Eq)]
struct Targets {
    bids: BTreeSet<String>,
    reservations: BTreeSet<String>,
    /// Instances known to have settled whose owner is unknown.
    instances: BTreeSet<String>,
}

impl MithrilObserver {
    /// Runs one full observation cycle. On failure the previous cache stays in place, marked
    /// stale in [`Self::health`]; the next cycle starts over.
    pub async fn poll_once(&self) -> Result<PollReport, ObserveError> {
        let mut cursor = self.inner.cycle.lock().await;
        let clock = self.inner.config.clock.clone();
        let started = clock.now();
        let full = !self.is_synced()
            || cursor.cycles_since_full + 1 >= self.inner.config.full_instance_refresh_every;
        match self.observe(&mut cursor, full).await {
            Ok(observation) => {
                let requests = observation.requests;
                let (changed, bids, instances) = self.merge(observation);
                cursor.cycles_since_full = if full {
                    0
                } else {
                    cursor.cycles_since_full.saturating_add(1)
                };
                Ok(PollReport {
                    requests,
                    bids,
                    instances,
                    changed,
                    full_instance_refresh: full,
                    duration: clock.now().saturating_sub(started),
                })
            }
            Err(error) => {
                let error = ObserveError::from(error);
                let kind_changed = self.write().health.failed(&error, clock.wall_time());
                if kind_changed {
                    tracing::warn!(project = %self.inner.project, %error, "Mithril observation failed; keeping the last picture");
                    // Controllers re-check their resources to surface (or clear) the condition.
                    self.emit(vec![Change::Resync]);
                } else {
                    tracing::debug!(project = %self.inner.project, %error, "Mithril observation failed again");
                }
                Err(error)
            }
        }
    }

    async fn observe(
        &self,
        cursor: &mut CycleCursor,
        full: bool,
    ) -> Result<Observation, MithrilError> {
        let inner = &self.inner;
        let (start_epoch, stale_bids) = {
            let state = self.read();
            let stale: Vec<String> = state.stale_bids.keys().cloned().collect();
            (state.write_epoch, stale)
        };
        let mut fetch = Fetcher::new(&inner.client, &inner.project);
        let bids = fetch.bids().await?;
        let instances = if full {
            InstancesSeen::All(fetch.all_instances().await?)
        } else {
            let unsettled = fetch.unsettled_instances().await?;
            let targets = targets(&self.read().snapshot, &bids, &unsettled, &stale_bids);
            let batch = inner.config.targeted_batch;
            let mut listed = unsettled;
            let by_bid: Vec<String> = targets.bids.into_iter().collect();
            listed.extend(fetch.instances_of_bids(&by_bid, batch).await?);
            let by_reservation: Vec<String> = targets.reservations.into_iter().collect();
            listed.extend(
                fetch
                    .instances_of_reservations(&by_reservation, batch)
                    .await?,
            );
            let (mut statuses, mut gone) = (Vec::new(), Vec::new());
            for fid in targets.instances {
                match fetch.instance_status(&fid).await? {
                    Some(status) => statuses.push(status),
                    None => gone.push(fid),
                }
            }
            InstancesSeen::Some {
                listed,
                statuses,
                gone,
            }
        };
        let auctions = inner
            .auctions
            .read(
                &inner.client,
                inner.config.clock.as_ref(),
                &mut cursor.auction_generation,
                inner.config.resync,
            )
            .await?;
        Ok(Observation {
            start_epoch,
            bids,
            instances,
            auctions: auctions.auctions,
            requests: fetch.requests + auctions.requests,
        })
    }

    /// Merges a cycle's reads into the cache (never over newer write-throughs) and emits the
    /// changes. Returns (changes found, bids, instances).
    fn merge(&self, observation: Observation) -> (usize, usize, usize) {
        let clock = &self.inner.config.clock;
        let mut guard = self.write();
        let start = observation.start_epoch;
        let state = &mut *guard;
        let written_bids = &state.written_bids;
        let written_instances = &state.written_instances;
        let bid_written = |fid: &str| written_bids.get(fid).is_some_and(|epoch| *epoch > start);
        let instance_written = |fid: &str| {
            written_instances
                .get(fid)
                .is_some_and(|epoch| *epoch > start)
        };
        let snapshot = &mut state.snapshot;
        snapshot.replace_bids(observation.bids, bid_written);
        match observation.instances {
            InstancesSeen::All(instances) => {
                snapshot.replace_instances(instances, instance_written)
            }
            InstancesSeen::Some {
                listed,
                statuses,
                gone,
            } => {
                snapshot.put_instances(
                    listed
                        .into_iter()
                        .filter(|instance| !instance_written(&instance.fid)),
                );
                for status in statuses {
                    if !instance_written(&status.fid) {
                        snapshot.set_instance_status(&status.fid, status.status);
                    }
                }
                for fid in gone {
                    if !instance_written(&fid) {
                        snapshot.remove_instance(&fid);
                    }
                }
            }
        }
        snapshot.replace_auctions(&observation.auctions);
        state.written_bids.retain(|_, epoch| *epoch > start);
        state.written_instances.retain(|_, epoch| *epoch > start);
        state.stale_bids.retain(|_, epoch| *epoch > start);

        let first_sync = !state.health.synced;
        let recovered = state.health.succeeded(clock.wall_time());
        let mut changes = if first_sync {
            state.baseline();
            Vec::new()
        } else {
            state.diff_all()
        };
        let found = changes.len();
        if first_sync || recovered {
            changes.push(Change::Resync);
        }
        let (bids, instances) = (state.snapshot.bid_count(), state.snapshot.instance_count());
        drop(guard);
        self.emit(changes);
        (found, bids, instances)
    }
}

/// Whose instances a partial cycle lists, given the cache before the cycle, the bids just read
/// and the unsettled instances just read.
fn targets(
    snapshot: &Snapshot,
    bids: &[Bid],
    unsettled: &[Instance],
    stale_bids: &[String],
) -> Targets {
    let listed: HashSet<&str> = unsettled.iter().map(|i| i.fid.as_str()).collect();
    let mut targets = Targets::default();
    // Instances that were unsettled and are no longer listed as such have settled.
    for instance in snapshot.instances() {
        if is_settled(&instance.status) || listed.contains(instance.fid.as_str()) {
            continue;
        }
        match (&instance.bid, &instance.reservation) {
            (Some(bid), _) => targets.bids.insert(bid.clone()),
            (None, Some(reservation)) => targets.reservations.insert(reservation.clone()),
            (None, None) => targets.instances.insert(instance.fid.clone()),
        };
    }
    for bid in bids {
        let unlisted = |fid: &&String| !listed.contains(fid.as_str());
        // An instance never seen that is not unsettled: it was born and settled between cycles.
        let unseen = bid
            .instances
            .iter()
            .filter(unlisted)
            .any(|fid| snapshot.instance(fid).is_none());
        // A status change of the bid can move settled instances to another settled status.
        let status_changed = snapshot
            .bid(&bid.fid)
            .is_some_and(|cached| cached.status != bid.status)
            && bid.instances.iter().any(|fid| unlisted(&fid));
        if unseen || status_changed {
            targets.bids.insert(bid.fid.clone());
        }
    }
    targets.bids.extend(stale_bids.iter().cloned());
    targets
}
