//! What lists show under a `list_lag` fault: bids and instances as they were some real time ago.
//! While a lag is configured, every change records the state before it with its real instant.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{Bid, Instance, World};

/// States before changes, oldest first, kept for `window` of real time.
pub struct ChangeLog<T> {
    window: Duration,
    /// (when, sequence number, state before the change; `None` when the change created it).
    entries: VecDeque<(Instant, u64, Option<T>)>,
}

impl<T> ChangeLog<T> {
    pub fn new() -> Self {
        ChangeLog {
            window: Duration::ZERO,
            entries: VecDeque::new(),
        }
    }

    fn enabled(&self) -> bool {
        !self.window.is_zero()
    }

    fn set_window(&mut self, window: Duration) {
        self.window = window;
        if window.is_zero() {
            self.entries.clear();
        }
        self.prune(Instant::now());
    }

    fn prune(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|(at, _, _)| now.saturating_duration_since(*at) > self.window)
        {
            self.entries.pop_front();
        }
    }

    fn record(&mut self, seq: u64, before: Option<T>) {
        let now = Instant::now();
        self.prune(now);
        self.entries.push_back((now, seq, before));
    }

    /// For each item changed within the last `lag`, its state before the first such change
    /// (`None`: it did not exist yet). Items absent from the map are shown as they are.
    pub fn before(&self, lag: Duration) -> HashMap<u64, Option<&T>> {
        let mut view = HashMap::new();
        if lag.is_zero() {
            return view;
        }
        let start = match Instant::now().checked_sub(lag) {
            Some(cutoff) => self.entries.partition_point(|(at, _, _)| *at <= cutoff),
            None => 0,
        };
        for (_, seq, before) in self.entries.range(start..) {
            view.entry(*seq).or_insert(before.as_ref());
        }
        view
    }
}

impl World {
    /// How long changes are remembered (the largest `list_lag` configured); zero forgets them.
    pub fn set_change_window(&mut self, window: Duration) {
        self.bid_changes.set_window(window);
        self.instance_changes.set_window(window);
    }

    /// Records a bid's state before it changes (its history aside: lists do not show it).
    pub(super) fn note_bid(&mut self, seq: u64) {
        if !self.bid_changes.enabled() {
            return;
        }
        let before = self.bids.get_mut(&seq).map(|bid| {
            let history = std::mem::take(&mut bid.history);
            let copy = bid.clone();
            bid.history = history;
            copy
        });
        self.bid_changes.record(seq, before);
    }

    /// Records that a bid is new (a lagging list does not show it yet).
    pub(super) fn note_new_bid(&mut self, seq: u64) {
        if self.bid_changes.enabled() {
            self.bid_changes.record(seq, None);
        }
    }

    /// Records that an instance is new.
    pub(super) fn note_new_instance(&mut self, seq: u64) {
        if self.instance_changes.enabled() {
            self.instance_changes.record(seq, None);
        }
    }

    /// Records an instance's state before it changes (its histories aside).
    pub(super) fn note_instance(&mut self, seq: u64) {
        if !self.instance_changes.enabled() {
            return;
        }
        let before = self.instances.get_mut(&seq).map(|instance| {
            let events = std::mem::take(&mut instance.events);
            let pricing = std::mem::take(&mut instance.pricing);
            let copy = instance.clone();
            instance.events = events;
            instance.pricing = pricing;
            copy
        });
        self.instance_changes.record(seq, before);
    }

    /// Bids as a list lagging `lag` behind shows them: see [`ChangeLog::before`].
    pub fn lagged_bids(&self, lag: Duration) -> HashMap<u64, Option<&Bid>> {
        self.bid_changes.before(lag)
    }

    /// Instances as a list lagging `lag` behind shows them.
    pub fn lagged_instances(&self, lag: Duration) -> HashMap<u64, Option<&Instance>> {
        self.instance_changes.before(lag)
    }
}

/// The item a lagged list shows for `seq` (current one `item` unless the view says otherwise).
pub fn as_listed<'a, T>(
    view: &HashMap<u64, Option<&'a T>>,
    seq: u64,
    item: &'a T,
) -> Option<&'a T> {
    match view.get(&seq) {
        Some(before) => *before,
        None => Some(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagged_view_shows_the_state_before_the_first_recent_change() {
        let mut log: ChangeLog<&str> = ChangeLog::new();
        assert!(!log.enabled(), "off until a lag is configured");
        log.set_window(Duration::from_secs(60));
        log.record(1, None);
        log.record(1, Some("open"));
        log.record(2, Some("allocated"));
        let view = log.before(Duration::from_secs(60));
        assert_eq!(view.get(&1), Some(&None), "created within the lag: absent");
        assert_eq!(view.get(&2), Some(&Some(&"allocated")));
        assert!(log.before(Duration::ZERO).is_empty(), "no lag: current");
        log.set_window(Duration::ZERO);
        assert!(log.entries.is_empty());
    }
}
