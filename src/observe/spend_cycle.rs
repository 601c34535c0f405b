//! The spend reads of a cycle: after the observation, a few bids' pricing and event histories
//! (see [`super::spend`] for which and how many).

use jiff::Timestamp;

use mithril_api::{
    BidHistoryEvent, HistoryQuery, InstancePricingEvent, MithrilClient, MithrilError,
};

use super::change::Change;
use super::observer::MithrilObserver;
use super::snapshot::Snapshot;
use super::spend::{Cost, HistoryKey, PricingKey, Read, Seen};

/// What a cycle's spend reads did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendReport {
    /// HTTP requests made (one per page).
    pub requests: u32,
    /// Bids whose pricing or events changed.
    pub changed: usize,
    /// Reads still due after this cycle (left for the next ones by the budget).
    pub pending: usize,
}

impl MithrilObserver {
    /// Reads what the bids have cost and their latest events, within the per-cycle budget; the
    /// bids whose reads changed are reported as changed. A failed read ends this cycle's reads:
    /// it is due again next cycle.
    pub async fn refresh_spend(&self) -> Result<SpendReport, MithrilError> {
        let _cycle = self.inner.cycle.lock().await;
        let budget = self.inner.config.spend_reads_per_cycle as usize;
        let reads = {
            let state = self.read();
            state.spend.due(&seen_bids(&state.snapshot), budget)
        };
        let mut report = SpendReport::default();
        let mut last = None;
        let mut changes = Vec::new();
        let mut failure = None;
        for read in &reads {
            let result = match read {
                Read::Pricing { fid, key } => self.read_pricing(fid, key, &mut report).await,
                Read::History { fid, key } => self.read_history(fid, key, &mut report).await,
            };
            match result {
                Ok(changed) => {
                    last = Some(read.fid().to_owned());
                    if changed {
                        changes.push(read.fid().to_owned());
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        changes.dedup();
        report.changed = changes.len();
        let changes: Vec<Change> = {
            let mut guard = self.write();
            let state = &mut *guard;
            let seen = seen_bids(&state.snapshot);
            state.spend.settle(&seen, last.as_deref());
            report.pending = state.spend.pending(&seen);
            changes
                .into_iter()
                .filter_map(|fid| {
                    let name = state.snapshot.bid(&fid)?.name.clone();
                    Some(Change::BidChanged { fid, name })
                })
                .collect()
        };
        self.emit(changes);
        match failure {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Reads one bid's price periods and records them; true when they changed.
    async fn read_pricing(
        &self,
        fid: &str,
        key: &PricingKey,
        report: &mut SpendReport,
    ) -> Result<bool, MithrilError> {
        let (periods, pages) = periods_of(&self.inner.client, &self.inner.project, fid).await?;
        report.requests += pages;
        let changed = self.write().spend.record_pricing(fid, *key, periods);
        Ok(changed)
    }

    /// Reads one bid's events and records the latest; true when they changed.
    async fn read_history(
        &self,
        fid: &str,
        key: &HistoryKey,
        report: &mut SpendReport,
    ) -> Result<bool, MithrilError> {
        report.requests += 1;
        let events = events_of(&self.inner.client, fid).await?;
        let changed = self.write().spend.record_history(fid, *key, events);
        Ok(changed)
    }

    /// What the bid has paid up to `now`; `None` until its pricing history has been read.
    pub fn cost_so_far(&self, fid: &str, now: Timestamp) -> Option<Cost> {
        self.read().spend.ledger(fid)?.cost_so_far(now)
    }

    /// The bid's latest Mithril events (at most [`super::HISTORY_EVENTS`]), oldest first.
    pub fn bid_events(&self, fid: &str) -> Vec<BidHistoryEvent> {
        self.read()
            .spend
            .ledger(fid)
            .map(|ledger| ledger.events().to_vec())
            .unwrap_or_default()
    }
}

/// The cached bids sorted by FID, each with the keys of its two reads.
fn seen_bids(snapshot: &Snapshot) -> Vec<Seen<'_>> {
    let mut seen: Vec<Seen> = snapshot
        .bids()
        .map(|bid| Seen::of(bid, snapshot.clearing_price(bid)))
        .collect();
    seen.sort_unstable_by(|a, b| a.fid.cmp(b.fid));
    seen
}

/// Every price period of every instance the bid ever had, and the pages it took.
async fn periods_of(
    client: &MithrilClient,
    project: &str,
    fid: &str,
) -> Result<(Vec<InstancePricingEvent>, u32), MithrilError> {
    let mut query = HistoryQuery::for_project(project).bid(fid).limit(100);
    let mut periods = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let page = client.instance_pricing_history(&query).await?;
        periods.extend(page.items.into_iter().flat_map(|instance| instance.events));
        match page.next_cursor {
            Some(cursor) if pages < MAX_PRICING_PAGES => query = query.next_cursor(cursor),
            _ => return Ok((periods, pages)),
        }
    }
}

/// Pages of one bid's pricing history read at most (100 instances each).
const MAX_PRICING_PAGES: u32 = 50;

/// The bid's events; none when Mithril no longer knows it.
async fn events_of(
    client: &MithrilClient,
    fid: &str,
) -> Result<Vec<BidHistoryEvent>, MithrilError> {
    match client.bid_history(fid).await {
        Ok(history) => Ok(history.events),
        Err(error) if error.is_not_found() => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}
