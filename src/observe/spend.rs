//! What each bid has cost and its latest Mithril events, read a few bids per cycle: a bid's
//! pricing history (`GET /v2/instances/pricing/history?bid_fid=`) is read again only when what
//! it pays may have changed (its status, its instances or its auction's clearing price), its
//! own history (`GET /v2/spot/bids/{fid}/history`) only when its status or limit changed, and
//! never more than [`super::ObserverConfig::spend_reads_per_cycle`] reads per cycle, taken in
//! turn by FID so that every bid is served.

use std::collections::HashMap;

use jiff::Timestamp;

use mithril_api::{Bid, BidHistoryEvent, BidStatus, InstancePricingEvent, Price};

use crate::digest::digest;

/// Bid events kept per bid: the latest transitions, for `kubectl describe`.
pub const HISTORY_EVENTS: usize = 5;

/// What a bid's pricing history depends on (its status, its instances, and its auction's
/// clearing price while it holds instances), as a digest: a read is stale once this differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PricingKey(u64);

/// What a bid's own history depends on (its status and limit), as a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistoryKey(u64);

impl PricingKey {
    /// The key of `bid` now, `clearing` being its auction's clearing price.
    pub(crate) fn of(bid: &Bid, clearing: Option<Price>) -> Self {
        let paying = matches!(bid.status, BidStatus::Allocated | BidStatus::Preempting);
        // Compared only with the same bid's earlier key: a collision at worst skips one re-read.
        PricingKey(digest(&(
            &bid.status,
            &bid.instances,
            clearing.filter(|_| paying),
        )))
    }
}

impl HistoryKey {
    pub(crate) fn of(bid: &Bid) -> Self {
        HistoryKey(digest(&(&bid.status, bid.limit_price)))
    }
}

/// What is known of one bid's spending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Ledger {
    /// The key the price periods were read for; `None` before the first read.
    pricing_key: Option<PricingKey>,
    /// Every price period of every instance the bid ever had.
    periods: Vec<InstancePricingEvent>,
    history_key: Option<HistoryKey>,
    /// The bid's latest events, oldest first.
    events: Vec<BidHistoryEvent>,
}

/// The ledgers of an observer's bids and where the last cycle's reads stopped.
#[derive(Debug, Default)]
pub(crate) struct SpendBook {
    ledgers: HashMap<String, Ledger>,
    /// The FID last read: the next cycle starts after it.
    cursor: Option<String>,
}

/// One read a cycle makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    Pricing { fid: String, key: PricingKey },
    History { fid: String, key: HistoryKey },
}

impl Read {
    pub(crate) fn fid(&self) -> &str {
        match self {
            Read::Pricing { fid, .. } | Read::History { fid, .. } => fid,
        }
    }
}

/// A bid as the cycle sees it, borrowed from the cache: nothing of it is copied until a read
/// is due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub(crate) fid: &'a str,
    pub(crate) holds_instances: bool,
    pub(crate) pricing: PricingKey,
    pub(crate) history: HistoryKey,
}

impl<'a> Seen<'a> {
    pub(crate) fn of(bid: &'a Bid, clearing: Option<Price>) -> Self {
        Seen {
            fid: &bid.fid,
            holds_instances: !bid.instances.is_empty(),
            pricing: PricingKey::of(bid, clearing),
            history: HistoryKey::of(bid),
        }
    }
}

impl SpendBook {
    /// The reads due, at most `budget`, in FID order from after the last cycle's cursor.
    /// `seen` is sorted by FID.
    pub(crate) fn due(&self, seen: &[Seen<'_>], budget: usize) -> Vec<Read> {
        let start = self
            .cursor
            .as_deref()
            .map_or(0, |cursor| seen.partition_point(|bid| bid.fid <= cursor));
        let mut reads = Vec::new();
        for bid in seen[start..].iter().chain(&seen[..start]) {
            let (pricing, history) = self.stale(bid);
            if pricing {
                reads.push(Read::Pricing {
                    fid: bid.fid.to_owned(),
                    key: bid.pricing,
                });
            }
            if history {
                reads.push(Read::History {
                    fid: bid.fid.to_owned(),
                    key: bid.history,
                });
            }
            if reads.len() >= budget {
                reads.truncate(budget);
                break;
            }
        }
        reads
    }

    /// How many reads are due, whatever the budget.
    pub(crate) fn pending(&self, seen: &[Seen<'_>]) -> usize {
        seen.iter()
            .map(|bid| {
                let (pricing, history) = self.stale(bid);
                usize::from(pricing) + usize::from(history)
            })
            .sum()
    }

    /// Whether the bid's pricing and its history need a read. A bid with no instance and no
    /// known period costs nothing: it needs no pricing read.
    fn stale(&self, bid: &Seen<'_>) -> (bool, bool) {
        let ledger = self.ledgers.get(bid.fid);
        let periods = ledger.is_some_and(|l| !l.periods.is_empty());
        let pricing = ledger.and_then(|l| l.pricing_key) != Some(bid.pricing)
            && (periods || bid.holds_instances);
        let history = ledger.and_then(|l| l.history_key) != Some(bid.history);
        (pricing, history)
    }

    /// Notes the keys of bids that need no read (no instance, no period), drops the ledgers of
    /// bids no longer seen, and moves the cursor past the last read made. `seen` is sorted by
    /// FID.
    pub(crate) fn settle(&mut self, seen: &[Seen<'_>], last_read: Option<&str>) {
        self.ledgers.retain(|fid, _| {
            seen.binary_search_by(|bid| bid.fid.cmp(fid.as_str()))
                .is_ok()
        });
        for bid in seen.iter().filter(|bid| !bid.holds_instances) {
            match self.ledgers.get_mut(bid.fid) {
                Some(ledger) if ledger.periods.is_empty() => ledger.pricing_key = Some(bid.pricing),
                Some(_) => {}
                None => {
                    let ledger = Ledger {
                        pricing_key: Some(bid.pricing),
                        ..Ledger::default()
                    };
                    self.ledgers.insert(bid.fid.to_owned(), ledger);
                }
            }
        }
        if let Some(fid) = last_read {
            self.cursor = Some(fid.to_owned());
        }
    }

    /// Records a pricing read; true when the periods changed.
    pub(crate) fn record_pricing(
        &mut self,
        fid: &str,
        key: PricingKey,
        periods: Vec<InstancePricingEvent>,
    ) -> bool {
        let ledger = self.ledgers.entry(fid.to_owned()).or_default();
        ledger.pricing_key = Some(key);
        let changed = ledger.periods != periods;
        ledger.periods = periods;
        changed
    }

    /// Records a history read (keeping the latest [`HISTORY_EVENTS`]); true when they changed.
    pub(crate) fn record_history(
        &mut self,
        fid: &str,
        key: HistoryKey,
        mut events: Vec<BidHistoryEvent>,
    ) -> bool {
        let ledger = self.ledgers.entry(fid.to_owned()).or_default();
        ledger.history_key = Some(key);
        events.sort_by_key(|event| event.timestamp);
        let latest = events.split_off(events.len().saturating_sub(HISTORY_EVENTS));
        let changed = ledger.events != latest;
        ledger.events = latest;
        changed
    }

    /// What is known of one bid.
    pub(crate) fn ledger(&self, fid: &str) -> Option<&Ledger> {
        self.ledgers.get(fid)
    }
}

impl Ledger {
    /// What the bid has paid up to `now`, once its pricing history has been read (or it never
    /// held an instance).
    pub(crate) fn cost_so_far(&self, now: Timestamp) -> Option<Cost> {
        self.pricing_key.as_ref()?;
        Some(cost_of(&self.periods, now))
    }

    pub(crate) fn events(&self) -> &[BidHistoryEvent] {
        &self.events
    }
}

/// An amount paid, exact to the cent-second (price in cents per hour × seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost {
    cent_seconds: u128,
}

impl Cost {
    /// The amount rounded down to the cent.
    pub fn price(self) -> Price {
        Price::from_cents(u64::try_from(self.cent_seconds / 3600).unwrap_or(u64::MAX))
    }

    /// The amount in dollars (for metrics).
    pub fn dollars(self) -> f64 {
        self.cent_seconds as f64 / 360_000.0
    }
}

/// What the periods cost up to `now`: each price (per instance-hour) times its duration, a
/// period still open counted up to `now`.
pub fn cost_of(periods: &[InstancePricingEvent], now: Timestamp) -> Cost {
    let cent_seconds = periods
        .iter()
        .map(|period| {
            let end = period.end_time.unwrap_or(now).min(now);
            let seconds = end
                .as_second()
                .saturating_sub(period.start_time.as_second());
            u128::from(period.price.cents()) * u128::try_from(seconds.max(0)).unwrap_or(0)
        })
        .sum();
    Cost { cent_seconds }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::test_support::bid;
    use mithril_api::BidEventType;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn period(cents: u64, start: &str, end: Option<&str>) -> InstancePricingEvent {
        InstancePricingEvent {
            price: Price::from_cents(cents),
            start_time: at(start),
            end_time: end.map(at),
        }
    }

    fn seen(bid: &Bid, clearing: u64) -> Seen<'_> {
        Seen::of(bid, Some(Price::from_cents(clearing)))
    }

    fn record_all(book: &mut SpendBook, reads: &[Read]) {
        for read in reads {
            match read {
                Read::Pricing { fid, key } => {
                    book.record_pricing(fid, *key, Vec::new());
                }
                Read::History { fid, key } => {
                    book.record_history(fid, *key, Vec::new());
                }
            }
        }
    }

    #[test]
    fn closed_and_open_periods_add_up_to_the_cent() {
        let periods = [
            period(1200, "2025-01-01T00:00:00Z", Some("2025-01-01T02:00:00Z")),
            period(900, "2025-01-01T02:00:00Z", None),
        ];
        // Two hours at $12.00, then 30 minutes at $9.00 so far.
        let cost = cost_of(&periods, at("2025-01-01T02:30:00Z"));
        assert_eq!(cost.price(), Price::from_cents(2400 + 450));
        assert!((cost.dollars() - 28.50).abs() < 1e-9);
        // A period that has not started yet by `now` costs nothing.
        assert_eq!(
            cost_of(&periods, at("2025-01-01T01:00:00Z")).price(),
            Price::from_cents(1200)
        );
    }

    #[test]
    fn a_steady_bid_is_read_once_then_never_again() {
        let mut book = SpendBook::default();
        let allocated = bid("bid_a", BidStatus::Allocated, &["inst_1"]);
        let bids = [seen(&allocated, 800)];
        let reads = book.due(&bids, 10);
        assert_eq!(reads.len(), 2, "pricing and history: {reads:?}");
        assert_eq!(book.pending(&bids), 2);
        record_all(&mut book, &reads);
        book.settle(&bids, reads.last().map(Read::fid));
        assert!(book.due(&bids, 10).is_empty());
        assert_eq!(book.pending(&bids), 0);

        // A new clearing price changes what it pays: only its pricing is read again.
        let repriced = [seen(&allocated, 950)];
        let reads = book.due(&repriced, 10);
        assert!(
            matches!(reads.as_slice(), [Read::Pricing { .. }]),
            "{reads:?}"
        );
        // So does another instance; the limit changes only its history.
        let moved = bid("bid_a", BidStatus::Allocated, &["inst_2"]);
        assert!(matches!(
            book.due(&[seen(&moved, 800)], 10).as_slice(),
            [Read::Pricing { .. }]
        ));
        let mut raised = allocated.clone();
        raised.limit_price = Price::from_cents(1200);
        assert!(matches!(
            book.due(&[seen(&raised, 800)], 10).as_slice(),
            [Read::History { .. }]
        ));
    }

    #[test]
    fn a_bid_that_never_held_an_instance_needs_no_pricing_read() {
        let mut book = SpendBook::default();
        let open = bid("bid_open", BidStatus::Open, &[]);
        let bids = [seen(&open, 800)];
        let reads = book.due(&bids, 10);
        assert!(
            matches!(reads.as_slice(), [Read::History { .. }]),
            "{reads:?}"
        );
        record_all(&mut book, &reads);
        book.settle(&bids, None);
        assert_eq!(
            book.ledger("bid_open")
                .and_then(|l| l.cost_so_far(at("2025-01-01T00:00:00Z"))),
            Some(Cost::default())
        );
        assert!(book.due(&bids, 10).is_empty());

        // Noted even before its history is read; an allocation makes its pricing due.
        let mut fresh = SpendBook::default();
        fresh.settle(&bids, None);
        assert!(
            fresh
                .ledger("bid_open")
                .is_some_and(|l| l.cost_so_far(at("2025-01-01T00:00:00Z")).is_some())
        );
        let won = bid("bid_open", BidStatus::Allocated, &["inst_1"]);
        assert_eq!(fresh.pending(&[seen(&won, 800)]), 2);
    }

    #[test]
    fn the_budget_is_shared_in_turn_so_every_bid_is_served() {
        let mut book = SpendBook::default();
        let allocated: Vec<Bid> = (0..10)
            .map(|i| bid(&format!("bid_{i:02}"), BidStatus::Allocated, &["inst"]))
            .collect();
        let bids: Vec<Seen> = allocated.iter().map(|b| seen(b, 800)).collect();
        let mut served = Vec::new();
        for _ in 0..5 {
            let reads = book.due(&bids, 4);
            assert!(reads.len() <= 4);
            served.extend(reads.iter().map(|r| r.fid().to_owned()));
            record_all(&mut book, &reads);
            book.settle(&bids, reads.last().map(Read::fid));
        }
        served.dedup();
        assert_eq!(served.len(), 10, "every bid got its reads: {served:?}");
        assert!(book.due(&bids, 4).is_empty());

        // Every bid changing at once: the next cycles start where the last stopped.
        let moved: Vec<Seen> = allocated.iter().map(|b| seen(b, 900)).collect();
        let first = book.due(&moved, 3);
        record_all(&mut book, &first);
        book.settle(&moved, first.last().map(Read::fid));
        let second = book.due(&moved, 3);
        assert_eq!(first[0].fid(), "bid_00");
        assert_eq!(second[0].fid(), "bid_03", "{first:?} then {second:?}");
        assert_eq!(book.pending(&moved), 7);
    }

    #[test]
    fn history_keeps_the_latest_events_and_ledgers_of_gone_bids_are_dropped() {
        let mut book = SpendBook::default();
        let key = HistoryKey::of(&bid("bid_a", BidStatus::Allocated, &["inst_1"]));
        let events: Vec<BidHistoryEvent> = (0..8)
            .map(|hour| BidHistoryEvent {
                timestamp: at(&format!("2025-01-01T0{hour}:00:00Z")),
                event_type: if hour % 2 == 0 {
                    BidEventType::Allocated
                } else {
                    BidEventType::Preempted
                },
                limit_price: None,
                user_id: None,
                memory_gb: None,
                persistent_disk_change: None,
            })
            .collect();
        assert!(book.record_history("bid_a", key, events.clone()));
        let kept = book.ledger("bid_a").unwrap().events();
        assert_eq!(kept.len(), HISTORY_EVENTS);
        assert_eq!(kept.last(), events.last());
        assert!(!book.record_history("bid_a", key, events));
        let other = bid("bid_b", BidStatus::Open, &[]);
        book.settle(&[seen(&other, 800)], None);
        assert!(book.ledger("bid_a").is_none());
        assert!(book.ledger("bid_b").is_some());
    }
}
