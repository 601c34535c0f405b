//! A hook called once per HTTP attempt, so the runtime can export metrics without the client
//! depending on a metrics library.

use std::time::Duration;

use http::Method;

use super::error::TransportErrorKind;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Mithril answered with this status.
    Status(u16),
    /// No status came back.
    Error(TransportErrorKind),
}

/// One HTTP attempt, as reported to a [`RequestObserver`].
#[derive(Debug, Clone)]
pub struct AttemptReport<'a> {
    pub method: &'a Method,
    /// The path template (bounded cardinality; no FIDs).
    pub path_template: &'static str,
    pub outcome: AttemptOutcome,
    /// From sending the request to having the whole response body.
    pub latency: Duration,
    /// 0 for the first attempt of a call, 1 for the first retry, ...
    pub retry: u32,
}

/// Receives a report for every HTTP attempt. Called inline on the request path: keep it cheap
/// (increment counters, observe histograms) and never block.
pub trait RequestObserver: Send + Sync + 'static {
    fn on_attempt(&self, report: &AttemptReport<'_>);
}
