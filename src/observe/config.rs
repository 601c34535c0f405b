//! How often and how broadly an observer looks at Mithril.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mithril_api::{Clock, TokioClock};

/// The largest number of bid or reservation FIDs put in one targeted instance list, so the query
/// string stays far below common URL limits (a FID is about 20 characters).
pub const MAX_TARGETED_BATCH: usize = 50;

/// Settings of one observer.
#[derive(Clone)]
pub struct ObserverConfig {
    /// Time between two observation cycles in [`crate::observe::MithrilObserver::run`].
    pub resync: Duration,
    /// Each wait is `resync` plus or minus up to this fraction of it (0.0..=0.5), so observers
    /// started together do not hit Mithril in lockstep.
    pub jitter: f64,
    /// Every this many cycles, list every instance of the project that can still change (every
    /// reserved one, every bid instance not in a final status) instead of only the unsettled
    /// ones: the safety net for transitions the cheaper scheme cannot see (e.g. a reserved
    /// instance paused by someone else faster than a resync). 1 lists everything every cycle.
    pub full_instance_refresh_every: u32,
    /// Bid or reservation FIDs per targeted instance list (1..=[`MAX_TARGETED_BATCH`]).
    pub targeted_batch: usize,
    /// Capacity of the change channel; a subscriber that falls further behind receives
    /// [`crate::observe::Change::Resync`].
    pub change_capacity: usize,
    /// Time source for durations, health timestamps and the wait between cycles.
    pub clock: Arc<dyn Clock>,
    /// How far Mithril's lists may lag behind its writes (real time): a bid written within this
    /// is not taken back by a list still showing it as it was (nor dropped before it shows).
    pub list_lag: Duration,
    /// Reads of bids' pricing and event histories per cycle, at most (0: none); a bid is read
    /// again only once what it pays or its status changed.
    pub spend_reads_per_cycle: u32,
    /// Between cycles, while instances are booting and fit in one list page, their list is read
    /// this often (zero: never), so one that settles is seen within it rather than at the next
    /// cycle: one request each time, plus the instances of the bids whose instances settled.
    pub settle_interval: Duration,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        ObserverConfig {
            resync: Duration::from_secs(30),
            jitter: 0.1,
            full_instance_refresh_every: 20,
            targeted_batch: MAX_TARGETED_BATCH,
            change_capacity: 4096,
            clock: Arc::new(TokioClock::new()),
            list_lag: Duration::from_secs(60),
            spend_reads_per_cycle: 10,
            settle_interval: Duration::from_secs(5),
        }
    }
}

impl ObserverConfig {
    /// The configuration with every value brought into its valid range.
    pub(crate) fn normalized(mut self) -> Self {
        self.jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.5)
        } else {
            0.0
        };
        self.full_instance_refresh_every = self.full_instance_refresh_every.max(1);
        self.targeted_batch = self.targeted_batch.clamp(1, MAX_TARGETED_BATCH);
        self.change_capacity = self.change_capacity.max(16);
        if self.resync.is_zero() {
            self.resync = Duration::from_secs(1);
        }
        self
    }

    /// The wait before the next cycle: `resync` with jitter applied.
    pub(crate) fn next_wait(&self) -> Duration {
        if self.jitter <= 0.0 {
            return self.resync;
        }
        let factor = 1.0 + rand::random_range(-self.jitter..=self.jitter);
        self.resync.mul_f64(factor)
    }
}

impl fmt::Debug for ObserverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserverConfig")
            .field("resync", &self.resync)
            .field("jitter", &self.jitter)
            .field(
                "full_instance_refresh_every",
                &self.full_instance_refresh_every,
            )
            .field("targeted_batch", &self.targeted_batch)
            .field("change_capacity", &self.change_capacity)
            .field("spend_reads_per_cycle", &self.spend_reads_per_cycle)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_clamps_every_setting() {
        let config = ObserverConfig {
            resync: Duration::ZERO,
            jitter: 3.0,
            full_instance_refresh_every: 0,
            targeted_batch: 10_000,
            change_capacity: 0,
            ..ObserverConfig::default()
        }
        .normalized();
        assert_eq!(config.resync, Duration::from_secs(1));
        assert_eq!(config.jitter, 0.5);
        assert_eq!(config.full_instance_refresh_every, 1);
        assert_eq!(config.targeted_batch, MAX_TARGETED_BATCH);
        assert_eq!(config.change_capacity, 16);
    }

    #[test]
    fn jittered_waits_stay_within_bounds() {
        let config = ObserverConfig {
            resync: Duration::from_secs(100),
            jitter: 0.2,
            ..ObserverConfig::default()
        }
        .normalized();
        for _ in 0..200 {
            let wait = config.next_wait();
            assert!(wait >= Duration::from_secs(80) && wait <= Duration::from_secs(120));
        }
    }
}
