//! What each bid has cost and its latest Mithril events, read a few bids per cycle: a bid's
//! pricing history (`GET /v2/instances/pricing/history?bid_fid=`) is read again only when what
//! it pays may have changed (its status, its instances or its auction's clearing price), its
//! own history (`GET /v2/spot/bids/{fid}/history`) only when its status or limit changed, and
//! never more than [`super::ObserverConfig::spend_reads_per_cycle`] reads per cycle, taken in
//! turn by FID so that every bid is served.

use std::collections::HashMap;

use jiff::Timestamp;

use mithril_api::{Bid, BidHistoryEvent, BidStatus, InstancePricingEvent, Price};

/// Bid events kept per bid: the latest transitions, for `kubectl describe`.
pub const HISTORY_EVENTS: usize = 5;

/// What a bid's pricing history depends on: a read is stale once this differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PricingKey {
    status: BidStatus,
    instances: Vec<String>,
    /// The auction's clearing price while the bid holds instances; `None` otherwise.
    clearing: Option<Price>,
}

/// What a bid's own history depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryKey {
    status: BidStatus,
    limit: Price,
}

impl PricingKey {
    /// The key of `bid` now, `clearing` being its auction's clearing price.
    pub(crate) fn of(bid: &Bid, clearing: Option<Price>) -> Self {
        let paying = matches!(bid.status, BidStatus::Allocated | BidStatus::Preempting);
        PricingKey {
            status: bid.status.clone(),
            instances: bid.instances.clone(),
            clearing: clearing.filter(|_| paying),
        }
    }
}

impl HistoryKey {
    pub(crate) fn of(bid: &Bid) -> Self {
        HistoryKey {
            status: bid.status.clone(),
            limit: bid.limit_price,
        }
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

/// A bid as the cycle sees it: FID and the keys of its two reads.
pub(crate) type Seen = (String, PricingKey, HistoryKey);

impl SpendBook {
    /// The reads due, at most `budget`, in FID order from after the last cycle's cursor. A bid
    /// with no instance and no known period costs nothing: it needs no pricing read.
    pub(crate) fn due(&self, seen: &[Seen], budget: usize) -> Vec<Read> {
        let mut order: Vec<&Seen> = seen.iter().collect();
        order.sort_by(|a, b| a.0.cmp(&b.0));
        let start = self
            .cursor
            .as_ref()
            .map_or(0, |cursor| order.partition_point(|(fid, ..)| fid <= cursor));
        let mut reads = Vec::new();
        for (fid, pricing, history) in order[start..].iter().chain(&order[..start]) {
            let ledger = self.ledgers.get(fid);
            let periods = ledger.is_some_and(|l| !l.periods.is_empty());
            let pricing_stale = ledger.and_then(|l| l.pricing_key.as_ref()) != Some(pricing);
            if pricing_stale && (periods || !pricing.instances.is_empty()) {
                reads.push(Read::Pricing {
                    fid: fid.clone(),
                    key: pricing.clone(),
                });
            }
            if ledger.and_then(|l| l.history_key.as_ref()) != Some(history) {
                reads.push(Read::History {
                    fid: fid.clone(),
                    key: history.clone(),
                });
            }
            if reads.len() >= budget {
                reads.truncate(budget);
                break;
            }
        }
        reads
    }

    /// Notes the keys of bids that need no read (no instance, no period), drops the ledgers of
    /// bids no longer seen, and moves the cursor past the last read made.
    pub(crate) fn settle(&mut self, seen: &[Seen], last_read: Option<&str>) {
        let known: HashMap<&str, &Seen> = seen.iter().map(|s| (s.0.as_str(), s)).collect();
        self.ledgers
            .retain(|fid, _| known.contains_key(fid.as_str()));
        for (fid, pricing, _) in seen {
            let ledger = self.ledgers.entry(fid.clone()).or_default();
            if ledger.periods.is_empty() && pricing.instances.is_empty() {
                ledger.pricing_key = Some(pricing.clone());
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

    fn seen(fid: &str, status: BidStatus, instances: &[&str], clearing: u64) -> Seen {
        let pricing = PricingKey {
            status: status.clone(),
            instances: instances.iter().map(|i| (*i).to_owned()).collect(),
            clearing: Some(Price::from_cents(clearing)),
        };
        let history = HistoryKey {
            status,
            limit: Price::from_cents(1000),
        };
        (fid.to_owned(), pricing, history)
    }

    fn record_all(book: &mut SpendBook, reads: &[Read]) {
        for read in reads {
            match read {
                Read::Pricing { fid, key } => {
                    book.record_pricing(fid, key.clone(), Vec::new());
                }
                Read::History { fid, key } => {
                    book.record_history(fid, key.clone(), Vec::new());
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
        let bids = [seen("bid_a", BidStatus::Allocated, &["inst_1"], 800)];
        let reads = book.due(&bids, 10);
        assert_eq!(reads.len(), 2, "pricing and history: {reads:?}");
        record_all(&mut book, &reads);
        book.settle(&bids, reads.last().map(Read::fid));
        assert!(book.due(&bids, 10).is_empty());

        // A new clearing price changes what it pays: only its pricing is read again.
        let repriced = [seen("bid_a", BidStatus::Allocated, &["inst_1"], 950)];
        let reads = book.due(&repriced, 10);
        assert!(
            matches!(reads.as_slice(), [Read::Pricing { .. }]),
            "{reads:?}"
        );
    }

    #[test]
    fn a_bid_that_never_held_an_instance_needs_no_pricing_read() {
        let mut book = SpendBook::default();
        let bids = [seen("bid_open", BidStatus::Open, &[], 800)];
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
    }

    #[test]
    fn the_budget_is_shared_in_turn_so_every_bid_is_served() {
        let mut book = SpendBook::default();
        let bids: Vec<Seen> = (0..10)
            .map(|i| seen(&format!("bid_{i:02}"), BidStatus::Allocated, &["inst"], 800))
            .collect();
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
        let moved: Vec<Seen> = (0..10)
            .map(|i| seen(&format!("bid_{i:02}"), BidStatus::Allocated, &["inst"], 900))
            .collect();
        let first = book.due(&moved, 3);
        record_all(&mut book, &first);
        book.settle(&moved, first.last().map(Read::fid));
        let second = book.due(&moved, 3);
        assert_eq!(first[0].fid(), "bid_00");
        assert_eq!(second[0].fid(), "bid_03", "{first:?} then {second:?}");
    }

    #[test]
    fn history_keeps_the_latest_events_and_ledgers_of_gone_bids_are_dropped() {
        let mut book = SpendBook::default();
        let key = HistoryKey {
            status: BidStatus::Allocated,
            limit: Price::from_cents(1000),
        };
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
        assert!(book.record_history("bid_a", key.clone(), events.clone()));
        let kept = book.ledger("bid_a").unwrap().events();
        assert_eq!(kept.len(), HISTORY_EVENTS);
        assert_eq!(kept.last(), events.last());
        assert!(!book.record_history("bid_a", key, events));
        book.settle(&[], None);
        assert!(book.ledger("bid_a").is_none());
    }
}
