//! How fresh an observer's picture is, and what its cycles did, for controllers (conditions),
//! health endpoints and metrics.

use jiff::Timestamp;
use std::time::Duration;

use super::error::ObserveError;

/// What one observation cycle did, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// HTTP requests the cycle made (one per page; client-side retries not counted).
    pub requests: u32,
    /// Bids in the cache after the cycle.
    pub bids: usize,
    /// Instances in the cache after the cycle.
    pub instances: usize,
    /// Bids and reserved instances found changed (a first sync reports none: it emits a single
    /// [`Change::Resync`](super::Change::Resync) instead).
    pub changed: usize,
    /// Whether the cycle listed every instance that can still change (every reserved one, every
    /// bid instance not in a final status) rather than only the unsettled ones.
    pub full_instance_refresh: bool,
    /// Time the cycle took, by the observer's clock.
    pub duration: Duration,
}

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
    /// When the first of the consecutive failures of this kind happened.
    pub since: Timestamp,
    /// Failed cycles of this kind in a row.
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

    /// Records a successful cycle; true when it ends an authentication failure.
    pub(crate) fn succeeded(&mut self, at: Timestamp) -> bool {
        let was_auth = self.is_auth_failure();
        self.synced = true;
        self.last_success = Some(at);
        self.failure = None;
        was_auth
    }

    /// Records a failed cycle; true when it starts or ends an authentication failure (the
    /// transitions controllers turn into a condition). Outages alone wake nobody: the cache
    /// stays usable, and the cycle that recovers reports what changed meanwhile.
    pub(crate) fn failed(&mut self, error: &ObserveError, at: Timestamp) -> bool {
        let kind = if error.is_auth() {
            FailureKind::Unauthorized
        } else {
            FailureKind::Unavailable
        };
        let was = self.failure_kind();
        let (since, consecutive) = match &self.failure {
            Some(previous) if previous.kind == kind => {
                (previous.since, previous.consecutive.saturating_add(1))
            }
            _ => (at, 1),
        };
        self.failure = Some(PollFailure {
            kind,
            message: error.to_string(),
            since,
            consecutive,
        });
        was != Some(kind)
            && (kind == FailureKind::Unauthorized || was == Some(FailureKind::Unauthorized))
    }

    fn failure_kind(&self) -> Option<FailureKind> {
        self.failure.as_ref().map(|failure| failure.kind)
    }
}

/// What a read between cycles did ([`super::MithrilObserver::poll_settling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settling {
    /// Nothing to follow, or too much (a cycle reads it).
    Skipped,
    /// Booting instances read into the cache.
    Read { requests: u32 },
    /// An instance of a bid the cache holds as Open: it was allocated, and only a cycle reads the
    /// bids; nothing was merged.
    CycleDue { requests: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithril_api::MithrilError;
    use mithril_api::endpoint::LIST_BIDS;
    use mithril_api::models::ErrorDetail;

    fn auth() -> ObserveError {
        ObserveError::from(MithrilError::Unauthorized {
            endpoint: LIST_BIDS,
            status: 401,
            detail: ErrorDetail::Message("Invalid API key".into()),
        })
    }

    fn outage() -> ObserveError {
        ObserveError::from(MithrilError::Server {
            endpoint: LIST_BIDS,
            status: 503,
            attempts: 4,
            detail: ErrorDetail::Message("Service Unavailable".into()),
        })
    }

    #[test]
    fn only_auth_transitions_are_announced() {
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2025-01-01T00:01:00Z".parse().unwrap();
        let mut health = ObserverHealth::default();
        assert!(!health.succeeded(t0));
        assert!(!health.failed(&outage(), t1), "an outage wakes nobody");
        assert!(!health.failed(&outage(), t1));
        assert_eq!(health.failure.as_ref().unwrap().consecutive, 2);
        assert!(health.failed(&auth(), t1), "the key got rejected");
        assert_eq!(health.failure.as_ref().unwrap().consecutive, 1);
        assert!(!health.failed(&auth(), t1));
        assert!(
            health.failed(&outage(), t1),
            "the key is no longer rejected"
        );
        assert!(health.failed(&auth(), t1));
        assert!(health.succeeded(t1), "the key works again");
        assert_eq!(health.last_success, Some(t1));
        assert!(!health.is_stale());
    }
}
