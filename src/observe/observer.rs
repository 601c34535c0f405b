//! [`MithrilObserver`]: one project's bids, instances and market prices in memory, kept fresh by
//! a polling loop, read by controllers without touching the network.

use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use mithril_api::{Auction, Bid, BidStatus, Instance, MithrilClient};

use super::auctions::AuctionFeed;
use super::change::{Change, ChangeStream, change_stream};
use super::config::ObserverConfig;
use super::health::{ObserverHealth, PollReport, Settling};
use super::snapshot::InstanceFilter;
use super::state::State;

/// The shared observer of one (API key, project). Cheap to clone; clones share everything.
///
/// Every cycle reads, for N live bids, one bid list per live status (Open, Allocated, Preempting,
/// Paused: `ceil(N/100)` pages, plus up to 3), one list of the instances that are not settled (one
/// page in steady state) and the spot availability: `ceil(N/100) + 2` requests plus up to 3,
/// however many ended bids the project keeps (Mithril keeps them all; they are not listed).
/// Only transitions cost more: a bid cached as live that no list shows is read by FID (it ended,
/// or moved between two lists while they were read); an instance that leaves the unsettled list,
/// a bid that changes status or names an instance never seen, or a bid cancelled through
/// [`Self::record_cancelled`], get their instances listed by bid (50 bids per list) or
/// reservation. Every
/// [`ObserverConfig::full_instance_refresh_every`] cycles, every reserved instance and every bid
/// instance not in a final status are listed instead (two lists; the instances of ended bids,
/// which Mithril keeps, are not).
#[derive(Clone)]
pub struct MithrilObserver {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: MithrilClient,
    pub(crate) project: String,
    pub(crate) config: ObserverConfig,
    pub(crate) auctions: Arc<AuctionFeed>,
    pub(crate) state: RwLock<State>,
    /// This observer's own channel, made by its first subscriber: the operator subscribes to the
    /// registry's only, and a channel's slots are allocated whole when it is made.
    pub(crate) changes: OnceLock<broadcast::Sender<Change>>,
    /// The registry-wide channel every change is also sent to, when the registry made this observer.
    pub(crate) forward: Option<broadcast::Sender<Change>>,
    /// Serializes cycles and holds what only a cycle needs.
    pub(crate) cycle: tokio::sync::Mutex<CycleCursor>,
}

/// What a cycle carries over to the next.
#[derive(Debug, Default)]
pub(crate) struct CycleCursor {
    /// Generation of the availability answer last used.
    pub(crate) auction_generation: u64,
    /// Successful cycles since the last full instance refresh.
    pub(crate) cycles_since_full: u32,
}

impl std::fmt::Debug for MithrilObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MithrilObserver")
            .field("project", &self.inner.project)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl MithrilObserver {
    /// An observer of `project_fid` with its own availability reads. It observes nothing until
    /// [`Self::poll_once`] or [`Self::run`].
    pub fn new(
        client: MithrilClient,
        project_fid: impl Into<String>,
        config: ObserverConfig,
    ) -> Self {
        Self::shared(client, project_fid.into(), config, Arc::default(), None)
    }

    /// An observer sharing availability reads with the other observers of the same key, and
    /// forwarding its changes to `forward`.
    pub(crate) fn shared(
        client: MithrilClient,
        project: String,
        config: ObserverConfig,
        auctions: Arc<AuctionFeed>,
        forward: Option<broadcast::Sender<Change>>,
    ) -> Self {
        let config = config.normalized();
        MithrilObserver {
            inner: Arc::new(Inner {
                client,
                project,
                config,
                auctions,
                state: RwLock::new(State::default()),
                changes: OnceLock::new(),
                forward,
                cycle: tokio::sync::Mutex::new(CycleCursor::default()),
            }),
        }
    }

    /// The project FID observed.
    pub fn project(&self) -> &str {
        &self.inner.project
    }

    /// The client this observer reads with; write with it too, so the rate limit is shared.
    pub fn client(&self) -> &MithrilClient {
        &self.inner.client
    }

    /// Polls every resync interval (with jitter) until `shutdown` is cancelled. Failures are
    /// recorded in [`Self::health`] and retried at the next interval.
    pub async fn run(self, shutdown: CancellationToken) {
        self.run_reporting(shutdown, |_, _| {}).await;
    }

    /// [`Self::run`], handing `completed` each successful cycle's report and end (for metrics).
    pub(crate) async fn run_reporting(
        self,
        shutdown: CancellationToken,
        completed: impl Fn(&PollReport, Timestamp) + Send + Sync,
    ) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            () = self.cycles(completed) => {}
        }
    }

    /// Cycles every interval with spend reads after each, settle reads between them, and at most
    /// one extra cycle an interval when a settle read shows an allocation (the next cycle keeps
    /// its time).
    async fn cycles(&self, completed: impl Fn(&PollReport, Timestamp) + Send + Sync) {
        let clock = &self.inner.config.clock;
        loop {
            if self.cycle(&completed).await {
                match self.refresh_spend().await {
                    Ok(spend) => {
                        tracing::debug!(project = %self.inner.project, requests = spend.requests, changed = spend.changed, pending = spend.pending, "Mithril spend reads")
                    }
                    Err(error) => {
                        tracing::debug!(project = %self.inner.project, %error, "Mithril spend reads failed; due again next cycle")
                    }
                }
            }
            let due = clock.now() + self.inner.config.next_wait();
            if self.settle_until(due, true).await {
                self.cycle(&completed).await;
                self.settle_until(due, false).await;
            }
        }
    }

    /// One cycle, reported; whether it succeeded.
    async fn cycle(&self, completed: &(impl Fn(&PollReport, Timestamp) + Send + Sync)) -> bool {
        let Ok(report) = self.poll_once().await else {
            return false;
        };
        if let Some(at) = self.health().last_success {
            completed(&report, at);
        }
        tracing::debug!(
            project = %self.inner.project,
            requests = report.requests,
            bids = report.bids,
            instances = report.instances,
            changed = report.changed,
            full = report.full_instance_refresh,
            "Mithril observation cycle"
        );
        true
    }

    /// Waits until `due` (the observer clock's time), following booting instances every settle
    /// interval meanwhile ([`Self::poll_settling`]). With `early`, returns as soon as a settle
    /// read shows an allocation; returns whether it did.
    async fn settle_until(&self, due: Duration, early: bool) -> bool {
        let clock = &self.inner.config.clock;
        let settle = self.inner.config.settle_interval;
        loop {
            let left = due.saturating_sub(clock.now());
            if settle.is_zero() || left <= settle {
                clock.sleep(left).await;
                return false;
            }
            clock.sleep(settle).await;
            match self.poll_settling().await {
                Ok(Settling::Skipped) => {}
                Ok(Settling::Read { requests }) => {
                    tracing::debug!(project = %self.inner.project, requests, "Mithril settle read");
                }
                Ok(Settling::CycleDue { requests }) => {
                    tracing::debug!(project = %self.inner.project, requests, "Mithril settle read: bids allocated");
                    if early {
                        return true;
                    }
                }
                Err(error) => {
                    tracing::debug!(project = %self.inner.project, %error, "Mithril settle read failed; the next cycle reads again");
                }
            }
        }
    }

    /// The changes from now on. A subscriber that falls behind gets [`Change::Resync`].
    pub fn subscribe(&self) -> ChangeStream {
        let capacity = self.inner.config.change_capacity;
        let changes = self
            .inner
            .changes
            .get_or_init(|| broadcast::channel(capacity).0);
        change_stream(changes.subscribe())
    }

    /// True once a first full cycle has completed.
    pub fn is_synced(&self) -> bool {
        self.read().health.synced
    }

    /// Freshness of the cache and the latest failure, if cycles are failing.
    pub fn health(&self) -> ObserverHealth {
        self.read().health.clone()
    }

    /// The report of the latest successful cycle (for metrics).
    pub fn last_report(&self) -> Option<PollReport> {
        self.read().last_report.clone()
    }

    /// The bid with this FID: a live one, or an ended one this observer saw end (or was given
    /// through a write-through); the project's older history is not read.
    pub fn bid_by_fid(&self, fid: &str) -> Option<Bid> {
        self.read().snapshot.bid(fid).cloned()
    }

    /// The bid with this name that is not terminated.
    pub fn live_bid_by_name(&self, name: &str) -> Option<Bid> {
        self.read().snapshot.live_bid_named(name).cloned()
    }

    /// FID and name of every live bid whose name `keep` accepts.
    pub fn live_bids_named(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        self.read()
            .snapshot
            .bids()
            .filter(|bid| bid.status != BidStatus::Terminated && keep(&bid.name))
            .map(|bid| (bid.fid.clone(), bid.name.clone()))
            .collect()
    }

    /// Every bid with this name [`Self::bid_by_fid`] knows: the live one first, then the
    /// terminated ones, newest first.
    pub fn bids_by_name(&self, name: &str) -> Vec<Bid> {
        self.read()
            .snapshot
            .bids_named(name)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The instances of a bid's current allocation that are in the cache, in the bid's order.
    pub fn instances_of_bid(&self, fid: &str) -> Vec<Instance> {
        self.read()
            .snapshot
            .instances_of_bid(fid)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The instance with this FID.
    pub fn instance(&self, fid: &str) -> Option<Instance> {
        self.read().snapshot.instance(fid).cloned()
    }

    /// Every cached instance matching `filter`, sorted by FID.
    pub fn instances_matching(&self, filter: &InstanceFilter) -> Vec<Instance> {
        let state = self.read();
        let mut found: Vec<Instance> = state
            .snapshot
            .instances()
            .filter(|instance| filter.matches(instance))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.fid.cmp(&b.fid));
        found
    }

    /// The regions of `regions` in which Mithril runs no spot auction at all (for any instance
    /// type), with the regions that have one; `None` until the cache has synced and seen auctions.
    /// A region no auction mentions is unknown to the spot market: a bid there would be refused.
    pub fn unknown_regions(&self, regions: &[String]) -> Option<(Vec<String>, Vec<String>)> {
        let state = self.read();
        if !state.health.synced {
            return None;
        }
        let known = state.snapshot.auction_regions()?;
        let unknown = regions
            .iter()
            .filter(|region| !known.contains(region.as_str()))
            .cloned()
            .collect();
        Some((unknown, known.into_iter().map(str::to_owned).collect()))
    }

    /// The spot market of an instance type in a region; its `last_instance_price` is what an
    /// allocated bid there pays.
    pub fn auction(&self, region: &str, instance_type_fid: &str) -> Option<Auction> {
        self.read()
            .snapshot
            .auction(region, instance_type_fid)
            .cloned()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // The state is rebuilt whole by each cycle; a panic elsewhere cannot leave it half-written
        // in a way later cycles would not repair.
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends changes; with more than the channel can hold at once, one [`Change::Resync`] instead.
    pub(crate) fn emit(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let changes = if changes.len() > self.inner.config.change_capacity / 2 {
            vec![Change::Resync]
        } else {
            changes
        };
        let own = self.inner.changes.get();
        for change in changes {
            // No subscriber is not an error: nobody is waiting for changes yet.
            if let Some(own) = own {
                let _ = own.send(change.clone());
            }
            if let Some(forward) = &self.inner.forward {
                let _ = forward.send(change);
            }
        }
    }
}
