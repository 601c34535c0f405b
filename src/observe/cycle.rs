//! One observation cycle: read Mithril, then merge into the cache and report what changed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use mithril_api::models::common::MAX_PAGE_LIMIT;
use mithril_api::{Auction, Bid, BidStatus, Instance, InstanceStatusResponse, MithrilError};

use super::change::Change;
use super::error::ObserveError;
use super::fetch::Fetcher;
use super::health::{PollReport, Settling};
use super::observer::{CycleCursor, MithrilObserver};
use super::pages::{Listing, Pages};
use super::settled::{is_final, is_settled};
use super::snapshot::Snapshot;
use super::state::{State, retain_shrinking, superseded_lately};
use crate::digest::digest;

/// Booting instances a settle read follows at most: one page of their list.
const ONE_PAGE: usize = MAX_PAGE_LIMIT as usize;

/// What a cycle read, before it is merged.
struct Observation {
    /// The write epoch when the cycle started.
    start_epoch: u64,
    /// The live bids.
    bids: Listing<Bid>,
    /// Bids cached as live that no live list showed, read by FID: `None` when Mithril no longer
    /// knows one.
    looked_up: Vec<(String, Option<Bid>)>,
    instances: InstancesSeen,
    auctions: Arc<Vec<Auction>>,
    requests: u32,
}

/// The instances a cycle's lists showed (those the cache held as they are left out), plus those
/// listed by bid or reservation.
struct InstancesSeen {
    listed: Pages<Instance>,
    /// Instances with neither bid nor reservation, fetched one by one.
    statuses: Vec<InstanceStatusResponse>,
    /// Instances Mithril no longer knows.
    gone: Vec<String>,
}

/// Whose instances a cycle must list by owner or read by FID, beyond its own lists.
#[derive(Debug, Default, PartialEq, Eq)]
struct Targets {
    bids: BTreeSet<String>,
    reservations: BTreeSet<String>,
    /// Instances that settled and whose bid or reservation is listed for them.
    settled: BTreeSet<String>,
    /// Instances that settled whose owner is unknown: fetched one by one.
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
                if let Some(failure) = self.read().health.failure.as_ref() {
                    tracing::info!(project = %self.inner.project, failed_cycles = failure.consecutive, "Mithril observation recovered");
                }
                let (changed, bids, instances) = self.merge(observation);
                cursor.cycles_since_full = if full {
                    0
                } else {
                    cursor.cycles_since_full.saturating_add(1)
                };
                let report = PollReport {
                    requests,
                    bids,
                    instances,
                    changed,
                    full_instance_refresh: full,
                    duration: clock.now().saturating_sub(started),
                };
                self.write().last_report = Some(report.clone());
                Ok(report)
            }
            Err(error) => {
                let error = ObserveError::from(error);
                let (auth_changed, first) = {
                    let mut state = self.write();
                    let auth_changed = state.health.failed(&error, clock.wall_time());
                    let first = state
                        .health
                        .failure
                        .as_ref()
                        .is_some_and(|failure| failure.consecutive == 1);
                    (auth_changed, first)
                };
                if first {
                    tracing::warn!(project = %self.inner.project, %error, "Mithril observation failed; keeping the last picture");
                } else {
                    tracing::debug!(project = %self.inner.project, %error, "Mithril observation failed again");
                }
                if auth_changed {
                    // Controllers re-check their resources to surface (or clear) the condition.
                    self.emit(vec![Change::Resync]);
                }
                Err(error)
            }
        }
    }

    /// Between cycles: reads the list of booting instances and, when none belongs to a bid the
    /// cache holds as Open, merges it (with the instances of the bids whose instances
    /// settled since) into the cache; bids and the market are left to the next cycle. Only once
    /// synced, while the cache holds booting instances (fewer than a page) or bids waiting to be
    /// allocated.
    pub async fn poll_settling(&self) -> Result<Settling, ObserveError> {
        if !self.is_synced() {
            return Ok(Settling::Skipped);
        }
        let (booting, waiting) = self.settling_state();
        if booting > ONE_PAGE || (booting == 0 && !waiting) {
            return Ok(Settling::Skipped);
        }
        // Never beside a cycle: each merges what it read since its own start.
        let _cursor = self.inner.cycle.lock().await;
        let start_epoch = self.read().write_epoch;
        let mut fetch = Fetcher::new(&self.inner.client, &self.inner.project);
        let unsettled = fetch
            .unsettled_instances()
            .await
            .map_err(ObserveError::from)?;
        let allocated = {
            let state = self.read();
            unsettled.iter().any(|instance| {
                instance.bid.as_deref().is_some_and(|fid| {
                    state
                        .snapshot
                        .bid(fid)
                        .is_some_and(|bid| bid.status == BidStatus::Open)
                })
            })
        };
        if allocated {
            return Ok(Settling::CycleDue {
                requests: fetch.requests,
            });
        }
        let instances = self
            .owners_looked_up(&mut fetch, unsettled, std::iter::empty(), &[])
            .await
            .map_err(ObserveError::from)?;
        let mut guard = self.write();
        let state = &mut *guard;
        merge_instances(state, instances, start_epoch);
        let changes = state.diff_all();
        drop(guard);
        self.emit(changes);
        Ok(Settling::Read {
            requests: fetch.requests,
        })
    }

    /// Instances the cache holds as booting (counted up to one more than a page), and whether it
    /// holds an Open bid.
    fn settling_state(&self) -> (usize, bool) {
        let state = self.read();
        let booting = state
            .snapshot
            .instances()
            .filter(|instance| is_unsettled(instance))
            .take(ONE_PAGE + 1)
            .count();
        let waiting = state
            .snapshot
            .bids()
            .any(|bid| bid.status == BidStatus::Open);
        (booting, waiting)
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
        // Each page is compared with the cache as it arrives; what it already holds is dropped,
        // so a steady cycle keeps the FIDs it read rather than a second copy of every bid.
        let bids = fetch
            .live_bids(|page| {
                let state = self.read();
                page.retain(|bid| !state.snapshot.holds_unchanged_bid(bid));
            })
            .await?;
        // A bid known as live that no live list showed has ended, or moved between two lists
        // while they were read, or is too new for a lagging list: only its own read tells.
        let missing = self.read().missing_live_bids(&bids.seen, start_epoch);
        let mut looked_up = Vec::with_capacity(missing.len());
        for fid in missing {
            let bid = fetch.bid(&fid).await?;
            looked_up.push((fid, bid));
        }
        // The bids dropped as unchanged name no instance the cache lacks and kept their status,
        // so they would add nothing to the targets.
        let read = bids
            .changed
            .iter()
            .chain(looked_up.iter().filter_map(|(_, bid)| bid.as_ref()));
        let instances = self
            .changed_instances(&mut fetch, full, read, &stale_bids)
            .await?;
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
            looked_up,
            instances,
            auctions: auctions.auctions,
            requests: fetch.requests + auctions.requests,
        })
    }

    /// The unsettled instances (`full`: every reserved instance and every bid instance not in a
    /// final status), plus the instances of every bid or reservation [`targets`] names.
    async fn changed_instances<'a>(
        &self,
        fetch: &mut Fetcher<'_>,
        full: bool,
        bids: impl IntoIterator<Item = &'a Bid>,
        stale_bids: &[String],
    ) -> Result<InstancesSeen, MithrilError> {
        if !full {
            let unsettled = fetch.unsettled_instances().await?;
            return self
                .owners_looked_up(fetch, unsettled, bids, stale_bids)
                .await;
        }
        let listing = fetch
            .open_instances(|page| {
                let state = self.read();
                page.retain(|instance| !state.snapshot.holds_unchanged_instance(instance));
            })
            .await?;
        let (listed, seen) = (listing.changed, listing.seen);
        let targets = targets(
            &self.read().snapshot,
            bids,
            &seen,
            shown_in_full_lists,
            stale_bids,
        );
        self.look_up(fetch, listed, targets).await
    }

    /// A partial cycle's instances: the unsettled list, plus the instances of the owners
    /// [`targets`] names.
    async fn owners_looked_up<'a>(
        &self,
        fetch: &mut Fetcher<'_>,
        unsettled: Pages<Instance>,
        bids: impl IntoIterator<Item = &'a Bid>,
        stale_bids: &[String],
    ) -> Result<InstancesSeen, MithrilError> {
        let seen = unsettled.iter().map(|i| i.fid.clone()).collect();
        let targets = targets(&self.read().snapshot, bids, &seen, is_unsettled, stale_bids);
        self.look_up(fetch, unsettled, targets).await
    }

    /// `listed` plus the instances of the bids and reservations `targets` names, those of its
    /// instances read one by one, and those found gone.
    async fn look_up(
        &self,
        fetch: &mut Fetcher<'_>,
        mut listed: Pages<Instance>,
        targets: Targets,
    ) -> Result<InstancesSeen, MithrilError> {
        let batch = self.inner.config.targeted_batch;
        let by_bid: Vec<String> = targets.bids.into_iter().collect();
        listed.append(fetch.instances_of_bids(&by_bid, batch).await?);
        let by_reservation: Vec<String> = targets.reservations.into_iter().collect();
        listed.append(
            fetch
                .instances_of_reservations(&by_reservation, batch)
                .await?,
        );
        let seen: HashSet<&str> = listed.iter().map(|i| i.fid.as_str()).collect();
        // Settled instances missing from their owner's list no longer exist.
        let mut gone: Vec<String> = targets
            .settled
            .into_iter()
            .filter(|fid| !seen.contains(fid.as_str()))
            .collect();
        let mut statuses = Vec::new();
        for fid in targets.instances {
            match fetch.instance_status(&fid).await? {
                Some(status) => statuses.push(status),
                None => gone.push(fid),
            }
        }
        Ok(InstancesSeen {
            listed,
            statuses,
            gone,
        })
    }

    /// Merges a cycle's reads into the cache (never over newer write-throughs) and emits the
    /// changes. Returns (changes found, bids, instances).
    fn merge(&self, observation: Observation) -> (usize, usize, usize) {
        let clock = &self.inner.config.clock;
        let mut guard = self.write();
        let start = observation.start_epoch;
        let state = &mut *guard;
        let lag = self.inner.config.list_lag;
        let (written_bids, recent) = (&state.written_bids, &state.recent_bids);
        let behind = |fid: &str, listed: Option<&Bid>| {
            let key = digest(fid);
            written_bids.get(&key).is_some_and(|epoch| *epoch > start)
                || superseded_lately(recent, key, listed, lag)
        };
        state
            .snapshot
            .replace_bids(observation.bids, observation.looked_up, behind);
        merge_instances(state, observation.instances, start);
        state.snapshot.replace_auctions(&observation.auctions);
        retain_shrinking(&mut state.written_bids, |_, epoch| *epoch > start);
        retain_shrinking(&mut state.written_instances, |_, epoch| *epoch > start);
        retain_shrinking(&mut state.stale_bids, |_, epoch| *epoch > start);
        retain_shrinking(&mut state.recent_bids, |_, recent| {
            recent.at.elapsed() < lag
        });

        let first_sync = !state.health.synced;
        let key_accepted_again = state.health.succeeded(clock.wall_time());
        let mut changes = if first_sync {
            state.baseline();
            Vec::new()
        } else {
            state.diff_all()
        };
        let found = changes.len();
        if first_sync || key_accepted_again {
            changes.push(Change::Resync);
        }
        let (bids, instances) = (state.snapshot.bid_count(), state.snapshot.instance_count());
        drop(guard);
        self.emit(changes);
        (found, bids, instances)
    }
}

/// Merges the instances a read since write epoch `start` saw, never over a newer write-through.
fn merge_instances(state: &mut State, seen: InstancesSeen, start: u64) {
    let written_instances = &state.written_instances;
    let instance_written = |fid: &str| {
        written_instances
            .get(&digest(fid))
            .is_some_and(|epoch| *epoch > start)
    };
    let InstancesSeen {
        listed,
        statuses,
        gone,
    } = seen;
    let snapshot = &mut state.snapshot;
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

/// Whether a full refresh's lists show `instance` while it is as cached: reserved instances
/// always, bid instances until they reach a final status. One with neither is never listed: it is
/// read by FID.
fn shown_in_full_lists(instance: &Instance) -> bool {
    instance.reservation.is_some() || !is_final(&instance.status)
}

fn is_unsettled(instance: &Instance) -> bool {
    !is_settled(&instance.status)
}

/// Whose instances a cycle lists by owner, given the cache before the cycle, the bids just read,
/// the FIDs of the instances just listed, and `shown`: whether those lists show a cached
/// instance as it is (partial cycle: the unsettled ones).
fn targets<'a>(
    snapshot: &Snapshot,
    bids: impl IntoIterator<Item = &'a Bid>,
    listed: &HashSet<String>,
    shown: fn(&Instance) -> bool,
    stale_bids: &[String],
) -> Targets {
    let mut targets = Targets::default();
    // Instances the lists would show as cached and did not show have moved on (unsettled ones
    // have settled; in a full refresh, bid instances have ended) or are gone.
    for instance in snapshot.instances() {
        if !shown(instance) || listed.contains(&instance.fid) {
            continue;
        }
        match (&instance.bid, &instance.reservation) {
            (Some(bid), _) => {
                targets.bids.insert(bid.clone());
                targets.settled.insert(instance.fid.clone());
            }
            (None, Some(reservation)) => {
                targets.reservations.insert(reservation.clone());
                targets.settled.insert(instance.fid.clone());
            }
            (None, None) => {
                targets.instances.insert(instance.fid.clone());
            }
        }
    }
    for bid in bids {
        let unlisted = |fid: &&String| !listed.contains(fid.as_str());
        // An instance never seen and not listed: it was born and settled (or ended) between
        // cycles.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::test_support::bid;
    use mithril_api::{BidStatus, InstanceStatus, Price};
    use std::time::Duration;

    /// The observers' defaults the tests rely on.
    struct ObserverConfigDefaults;

    impl ObserverConfigDefaults {
        fn lag() -> Duration {
            crate::observe::ObserverConfig::default().list_lag
        }
    }

    fn instance(
        fid: &str,
        bid: Option<&str>,
        reservation: Option<&str>,
        status: InstanceStatus,
    ) -> Instance {
        Instance {
            fid: fid.into(),
            name: fid.into(),
            project: "proj_1".into(),
            created_at: "2025-01-01T00:00:00Z".parse().unwrap(),
            created_by: "user_1".into(),
            instance_type: "it_1".into(),
            region: Some("us-central1-a".into()),
            bid: bid.map(Into::into),
            reservation: reservation.map(Into::into),
            ssh_destination: None,
            private_ip: None,
            status,
        }
    }

    fn fids(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|fid| (*fid).to_owned()).collect()
    }

    #[test]
    fn a_quiet_cycle_targets_nothing() {
        let mut snapshot = Snapshot::default();
        let running = bid("bid_a", BidStatus::Allocated, &["inst_a"]);
        let booting = bid("bid_b", BidStatus::Allocated, &["inst_b"]);
        snapshot.put_bid(running.clone());
        snapshot.put_bid(booting.clone());
        snapshot.put_instances([
            instance("inst_a", Some("bid_a"), None, InstanceStatus::Running),
            instance("inst_b", Some("bid_b"), None, InstanceStatus::Starting),
            instance("inst_r", None, Some("res_1"), InstanceStatus::Paused),
        ]);
        // Still booting: the unsettled list has inst_b.
        let targets = targets(
            &snapshot,
            &[running, booting],
            &fids(&["inst_b"]).into_iter().collect(),
            is_unsettled,
            &[],
        );
        assert_eq!(targets, Targets::default());
    }

    #[test]
    fn instances_that_left_the_unsettled_list_are_looked_up_by_owner() {
        let mut snapshot = Snapshot::default();
        snapshot.put_instances([
            instance("inst_a", Some("bid_a"), None, InstanceStatus::Starting),
            instance("inst_r", None, Some("res_1"), InstanceStatus::Stopping),
            instance("inst_o", None, None, InstanceStatus::Confirmed),
        ]);
        let targets = targets(&snapshot, &[], &HashSet::new(), is_unsettled, &[]);
        assert_eq!(targets.bids, fids(&["bid_a"]));
        assert_eq!(targets.reservations, fids(&["res_1"]));
        assert_eq!(targets.settled, fids(&["inst_a", "inst_r"]));
        assert_eq!(targets.instances, fids(&["inst_o"]));
    }

    #[test]
    fn bids_with_unseen_instances_or_a_new_status_are_looked_up() {
        let mut snapshot = Snapshot::default();
        snapshot.put_bid(bid("bid_cancelled", BidStatus::Allocated, &["inst_c"]));
        snapshot.put_bid(bid("bid_same", BidStatus::Allocated, &["inst_s"]));
        snapshot.put_instances([
            instance(
                "inst_c",
                Some("bid_cancelled"),
                None,
                InstanceStatus::Running,
            ),
            instance("inst_s", Some("bid_same"), None, InstanceStatus::Running),
        ]);
        let read = [
            bid("bid_cancelled", BidStatus::Terminated, &["inst_c"]),
            bid("bid_same", BidStatus::Allocated, &["inst_s"]),
            // Allocated and already RUNNING between two cycles.
            bid("bid_fast", BidStatus::Allocated, &["inst_f"]),
            // Allocated, still booting: the unsettled list has it.
            bid("bid_booting", BidStatus::Allocated, &["inst_n"]),
        ];
        // Allocated, still booting: the unsettled list has inst_n.
        let unsettled = fids(&["inst_n"]).into_iter().collect();
        let targets = targets(
            &snapshot,
            &read,
            &unsettled,
            is_unsettled,
            &["bid_marked".to_owned()],
        );
        assert_eq!(
            targets.bids,
            fids(&["bid_cancelled", "bid_fast", "bid_marked"])
        );
        assert!(targets.settled.is_empty());
    }

    #[test]
    fn a_full_refresh_looks_up_what_its_lists_should_show_and_did_not() {
        let mut snapshot = Snapshot::default();
        snapshot.put_instances([
            instance("inst_ran", Some("bid_a"), None, InstanceStatus::Running),
            instance(
                "inst_ended",
                Some("bid_b"),
                None,
                InstanceStatus::Terminated,
            ),
            instance("inst_listed", Some("bid_c"), None, InstanceStatus::Running),
            instance("inst_r", None, Some("res_1"), InstanceStatus::Terminated),
        ]);
        let listed = fids(&["inst_listed"]).into_iter().collect();
        let targets = targets(&snapshot, &[], &listed, shown_in_full_lists, &[]);
        // A bid instance in a final status is never listed again: it stays as it is.
        assert_eq!(targets.bids, fids(&["bid_a"]));
        assert_eq!(targets.reservations, fids(&["res_1"]));
        assert_eq!(targets.settled, fids(&["inst_ran", "inst_r"]));
    }

    fn offline_observer() -> MithrilObserver {
        let config = mithril_api::ClientConfig::new(
            "http://127.0.0.1:9".parse().unwrap(),
            mithril_api::ApiKey::new("fkey_unit").unwrap(),
        );
        let clock = std::sync::Arc::new(mithril_api::ManualClock::new(
            "2025-01-01T00:00:00Z".parse().unwrap(),
        ));
        MithrilObserver::new(
            mithril_api::MithrilClient::new(config).unwrap(),
            "proj_1",
            crate::observe::ObserverConfig {
                clock,
                ..crate::observe::ObserverConfig::default()
            },
        )
    }

    fn observation(start_epoch: u64, bids: Vec<Bid>, instances: Vec<Instance>) -> Observation {
        Observation {
            start_epoch,
            bids: bids.into(),
            looked_up: Vec::new(),
            instances: InstancesSeen {
                listed: instances.into(),
                statuses: Vec::new(),
                gone: Vec::new(),
            },
            auctions: Arc::default(),
            requests: 0,
        }
    }

    #[test]
    fn a_cycle_never_undoes_a_write_made_while_it_ran() {
        let observer = offline_observer();
        let original = bid("bid_a", BidStatus::Allocated, &[]);
        observer.merge(observation(0, vec![original.clone()], vec![]));
        let started_at = observer.read().write_epoch;

        let mut raised = original.clone();
        raised.limit_price = Price::from_cents(2500);
        assert!(observer.record_bid(raised));
        // The cycle read the bid before the write landed.
        let (changed, _, _) = observer.merge(observation(started_at, vec![original], vec![]));
        assert_eq!(changed, 0);
        assert_eq!(
            observer.bid_by_fid("bid_a").unwrap().limit_price,
            Price::from_cents(2500)
        );
        // A cycle started after the write overwrites as usual.
        let later = observer.read().write_epoch;
        let mut lowered = bid("bid_a", BidStatus::Allocated, &[]);
        lowered.limit_price = Price::from_cents(1000);
        let (changed, _, _) = observer.merge(observation(later, vec![lowered], vec![]));
        assert_eq!(changed, 1);
        assert_eq!(
            observer.bid_by_fid("bid_a").unwrap().limit_price,
            Price::from_cents(1000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_list_takes_back_no_recent_write_until_the_lag_has_passed() {
        let observer = offline_observer();
        let placed = bid("bid_old", BidStatus::Allocated, &[]);
        observer.merge(observation(0, vec![placed.clone()], vec![]));
        // Written here: a new bid placed, and the old one's price raised.
        let created = bid("bid_new", BidStatus::Open, &[]);
        assert!(observer.record_own_bid(created));
        let mut raised = placed.clone();
        raised.limit_price = Price::from_cents(2500);
        assert!(observer.record_own_bid(raised));
        // A list read after the writes but still showing the world before them.
        let epoch = || observer.read().write_epoch;
        let behind = |epoch| observation(epoch, vec![placed.clone()], vec![]);
        observer.merge(behind(epoch()));
        assert!(observer.bid_by_fid("bid_new").is_some(), "not dropped");
        assert_eq!(
            observer.bid_by_fid("bid_old").unwrap().limit_price,
            Price::from_cents(2500),
            "not taken back"
        );
        // A state Mithril moved on to by itself is taken at once.
        let mut won = bid("bid_new", BidStatus::Allocated, &[]);
        won.limit_price = Price::from_cents(2000);
        observer.merge(observation(epoch(), vec![placed.clone(), won], vec![]));
        assert_eq!(
            observer.bid_by_fid("bid_new").unwrap().status,
            BidStatus::Allocated
        );
        // Past the lag, the reads are the truth again: the cycle reads the new bid by FID, as no
        // list names it, and Mithril does not know it.
        tokio::time::advance(ObserverConfigDefaults::lag() + Duration::from_secs(1)).await;
        let listed: HashSet<String> = ["bid_old".to_owned()].into();
        assert_eq!(
            observer.read().missing_live_bids(&listed, epoch()),
            ["bid_new"]
        );
        let mut read = behind(epoch());
        read.looked_up = vec![("bid_new".into(), None)];
        observer.merge(read);
        assert!(observer.bid_by_fid("bid_new").is_none());
        assert_eq!(
            observer.bid_by_fid("bid_old").unwrap().limit_price,
            Price::from_cents(2000)
        );
    }

    #[test]
    fn only_live_bids_no_list_named_are_read_one_by_one() {
        let observer = offline_observer();
        observer.merge(observation(
            0,
            vec![
                bid("bid_listed", BidStatus::Allocated, &[]),
                bid("bid_unlisted", BidStatus::Open, &[]),
                bid("bid_ended", BidStatus::Terminated, &[]),
            ],
            vec![],
        ));
        // Created here before the cycle: not listed yet, or ended already.
        assert!(observer.record_own_bid(bid("bid_created", BidStatus::Open, &[])));
        let started = observer.read().write_epoch;
        // Written while the cycle runs: the merge keeps it, whatever a read says.
        assert!(observer.record_own_bid(bid("bid_written", BidStatus::Open, &[])));
        let listed: HashSet<String> = ["bid_listed".to_owned()].into();
        let mut missing = observer.read().missing_live_bids(&listed, started);
        missing.sort();
        assert_eq!(missing, ["bid_created", "bid_unlisted"]);
    }

    #[test]
    fn vanished_bids_and_reserved_instances_are_reported() {
        let observer = offline_observer();
        observer.merge(observation(
            0,
            vec![bid("bid_a", BidStatus::Open, &[])],
            vec![instance(
                "inst_r",
                None,
                Some("res_1"),
                InstanceStatus::Running,
            )],
        ));
        let mut changes = observer.subscribe();
        let mut read = observation(0, vec![], vec![]);
        read.looked_up = vec![("bid_a".into(), None)];
        read.instances.gone = vec!["inst_r".into()];
        let (changed, bids, instances) = observer.merge(read);
        assert_eq!((changed, bids, instances), (2, 0, 0));
        // The vanished bid's change still names it: a resource that never learned the FID
        // finds its bid by name.
        let first = futures::FutureExt::now_or_never(futures::StreamExt::next(&mut changes));
        assert_eq!(
            first.flatten(),
            Some(Change::BidChanged {
                fid: "bid_a".into(),
                name: "name-bid_a".into()
            })
        );
    }
}
