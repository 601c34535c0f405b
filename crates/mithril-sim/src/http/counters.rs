//! Request counters per (method, route template, outcome), for tests and benchmarks.

use serde::Serialize;
use std::collections::BTreeMap;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Outcome {
    /// A response with this status was sent.
    Status(u16),
    /// The connection was dropped on purpose (an injected fault).
    Dropped,
}

/// One counter's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CounterKey {
    pub method: String,
    /// The route template, e.g. `/v2/spot/bids/{bid_fid}`; `<unmatched>` for unknown paths.
    pub route: String,
    pub outcome: Outcome,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub entries: BTreeMap<CounterKey, u64>,
}

impl Counters {
    /// Requests to a route that ended with `status`.
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.sum(method, route, |outcome| outcome == Outcome::Status(status))
    }

    /// Requests to a route whose connection was dropped.
    pub fn dropped(&self, method: &str, route: &str) -> u64 {
        self.sum(method, route, |outcome| outcome == Outcome::Dropped)
    }

    /// All requests to a route, whatever the outcome.
    pub fn total(&self, method: &str, route: &str) -> u64 {
        self.sum(method, route, |_| true)
    }

    /// All requests counted.
    pub fn grand_total(&self) -> u64 {
        self.entries.values().sum()
    }

    fn sum(&self, method: &str, route: &str, keep: impl Fn(Outcome) -> bool) -> u64 {
        self.entries
            .iter()
            .filter(|(key, _)| {
                key.method.eq_ignore_ascii_case(method) && key.route == route && keep(key.outcome)
            })
            .map(|(_, count)| count)
            .sum()
    }
}

pub const UNMATCHED_ROUTE: &str = "<unmatched>";
