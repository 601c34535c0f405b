//! How fresh an observer's picture is, for controllers (conditions) and health endpoints.

use jiff::Timestamp;

use super::error::ObserveError;

/// What kind of failure the last cycle met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Mithril rejected the API key (401/403).
    Unauthorized,
    /// Mithril could not be reached or answered with an error; retried next cycle.
    Unavailable,
}

/// The failure of the latest cycles, while they keep failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    pub kind: FailureKind,
    /// The latest error (never contains the API key).
    pub message: String,
    /// When the first of the consecutive failures happened.
    pub since: Timestamp,
    /// Failed cycles in a row.
    pub consecutive: u32,
}

/// An observer's health: whether its cache can be trusted and since when.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObserverHealth {
    /// A first full cycle has completed: absence from the cache means absence on Mithril.
    pub synced: bool,
    /// End of the latest successful cycle.
    pub last_success: Option<Timestamp>,
    /// Set while cycles fail; the cache then holds the picture of `last_success`.
    pub failure: Option<PollFailure>,
}

impl ObserverHealth {
    /// True when the latest cycle failed, so the cache may be out of date.
    pub fn is_stale(&self) -> bool {
        self.failure.is_some()
    }

    /// True when the latest cycle failed because the API key was rejected.
    pub fn is_auth_failure(&self) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|failure| failure.kind == FailureKind::Unauthorized)
    }

    /// Records a successful cycle; true when the failure kind changed.
    pub(crate) fn succeeded(&mut self, at: Timestamp) -> bool {
        let was = self.failure_kind();
        self.synced = true;
        self.last_success = Some(at);
        self.failure = None;
        was.is_some()
    }

    /// Records a failed cycle; true when the failure kind changed.
    pub(crate) fn failed(&mut self, error: &ObserveError, at: Timestamp) -> bool {
        let kind = if error.is_auth() {
            FailureKind::Unauthorized
        } else {
            FailureKind::Unavailable
        };
        let was = self.failure_kind();
        let (since, consecutive) = match &self.failure {
            Some(previous) => (previous.since, previous.consecutive.saturating_add(1)),
            None => (at, 1),
        };
        self.failure = Some(PollFailure {
            kind,
            message: error.to_string(),
            since,
            consecutive,
        });
        was != Some(kind)
    }

    fn failure_kind(&self) -> Option<FailureKind> {
        self.failure.as_ref().map(|failure| failure.kind)
    }
}
