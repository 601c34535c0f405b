//! Injected faults, per route (method + template) or for every API route: a share of 5xx answers,
//! a share of 429 with `Retry-After`, added latency, a share of dropped connections, writes whose
//! answer is lost (at once or after a late commit), and lists that lag behind. Draws come from a
//! generator seeded from the simulator's seed, so a test sees the same faults on every run.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// What to inject. Shares are probabilities in 0..=1, drawn (one draw per request) in the order
/// drop, 5xx, 429, drop after, 5xx after, late commit.
///
/// The `_after` kinds let the request take effect and then lose the answer: the bid is placed,
/// but the client sees a 503 or a broken connection. That is the ambiguous failure a client must
/// resolve by looking, never by sending the write again. `late_commit` is the harder case: the
/// connection drops at once and the write lands only later, so looking right away finds nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Share of requests answered 503.
    pub error_5xx: f64,
    /// Share of requests answered 429 with `Retry-After`.
    pub throttle_429: f64,
    /// `Retry-After` of the 429 answers (whole seconds on the wire, rounded up).
    #[serde(with = "millis")]
    pub retry_after: Duration,
    /// Added to every request (real time).
    #[serde(with = "millis")]
    pub latency: Duration,
    /// Share of requests whose connection is dropped without a complete answer.
    pub drop: f64,
    /// Share of requests that are carried out, then answered 503.
    pub error_5xx_after: f64,
    /// Share of requests that are carried out, then dropped without a complete answer.
    pub drop_after: f64,
    /// Share of writes (POST, PATCH, DELETE) dropped at once without an answer, then carried out
    /// `late_commit_delay` later exactly as sent (validated then; a write refused then never lands).
    pub late_commit: f64,
    /// How long a late commit waits (real time).
    #[serde(with = "millis")]
    pub late_commit_delay: Duration,
    /// Lists (`GET /v2/spot/bids`, `GET /v2/instances`) answered through this spec show bids and
    /// instances as they were this long ago (real time): a new one is absent, a changed one shows
    /// its previous state. Reading one bid stays current.
    #[serde(with = "millis")]
    pub list_lag: Duration,
}

/// The `list_lag` of the request's fault spec, for the list handlers.
#[derive(Debug, Clone, Copy)]
pub struct ListLag(pub Duration);

mod millis {
    //! Durations as whole milliseconds in the control API's JSON.
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The fault table and its generator.
pub(crate) struct FaultTable {
    pub(crate) global: Option<FaultSpec>,
    pub(crate) routes: HashMap<(String, String), FaultSpec>,
    pub(crate) rng: StdRng,
}

impl FaultTable {
    pub(crate) fn new(seed: u64) -> Self {
        // A distinct stream from the world's, so faults never shift FIDs or jitter.
        FaultTable {
            global: None,
            routes: HashMap::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xfa17_5eed_0000_0001),
        }
    }

    /// The spec for a request: its route's, else the global one.
    pub(crate) fn spec_for(&self, method: &str, route: &str) -> Option<FaultSpec> {
        self.routes
            .get(&(method.to_ascii_uppercase(), route.to_owned()))
            .or(self.global.as_ref())
            .cloned()
    }

    /// The longest `list_lag` configured: how long the world must remember changes.
    pub(crate) fn longest_list_lag(&self) -> Duration {
        self.routes
            .values()
            .chain(self.global.as_ref())
            .map(|spec| spec.list_lag)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// Marks a response whose connection is to be dropped (the counters record it so).
#[derive(Debug, Clone, Copy)]
pub struct Dropped;
