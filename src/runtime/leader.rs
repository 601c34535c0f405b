//! Leader election on a coordination.k8s.io Lease (kube-lease-manager).
//!
//! Only the leader writes to Mithril: two replicas acting on the same SpotBid could each decide
//! the bid is missing and create it. A replica that loses the lease stops its controllers (the
//! process exits and is restarted as a standby), as controller-runtime does: continuing after a
//! lost lease is exactly the split brain the lease exists to prevent.
//!
//! kube-lease-manager reports a loss only when it reads another holder; a leader cut off from the
//! API server never learns it. So the [`Fence`] trusts a renewal only as far as it has seen it in
//! the API server: until the renewal's expiry less half the renew grace. Every Mithril write asks
//! the fence first, and a fence that lapses counts as a lost lease.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use mithril_api::WriteFence;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// Where the lease lives and how long it holds.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per replica (the pod name in a cluster).
    pub identity: String,
    /// How long a lease holds without renewal: the longest a dead leader blocks a takeover.
    pub lease_seconds: u64,
    /// How long before expiry the holder renews.
    pub renew_grace_seconds: u64,
}

/// Why leader election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election on Lease {namespace}/{name}: {source}")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    #[error("leader election stopped unexpectedly")]
    Stopped,
}

impl LeaderConfig {
    /// How long before a renewal's expiry this replica stops writing: covers clock skew and a
    /// write's trip, so the last write is answered before a standby may take over.
    pub fn fence_margin(&self) -> Duration {
        Duration::from_secs(self.renew_grace_seconds) / 2
    }

    /// How often the leader reads its Lease back to extend the fence.
    fn confirm_every(&self) -> Duration {
        (Duration::from_secs(self.renew_grace_seconds) / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(1))
    }
}

/// Until when this replica may write to Mithril. Cheap to clone; clones share the deadline.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    until: Arc<Mutex<Option<Instant>>>,
}

impl Fence {
    /// Extends the deadline (never shortens it: each confirmation was true when read).
    fn confirm(&self, until: Instant) {
        let mut current = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *current = Some(current.map_or(until, |current| current.max(until)));
    }

    /// No write from now on.
    pub fn revoke(&self) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether a write may be sent now.
    pub fn holds(&self) -> bool {
        self.write_deadline().is_some()
    }
}

impl WriteFence for Fence {
    fn write_deadline(&self) -> Option<Instant> {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.filter(|until| *until > Instant::now())
    }
}

/// How much longer `identity` may act on a Lease read at `now`: until its last renewal expires,
/// less `margin`. `None` if it does not hold the Lease or that time has passed.
pub fn lease_holds_for(
    spec: &LeaseSpec,
    identity: &str,
    now: jiff::Timestamp,
    margin: Duration,
) -> Option<Duration> {
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = u64::try_from(spec.lease_duration_seconds?).ok()?;
    let expiry = renewed.checked_add(Duration::from_secs(seconds)).ok()?;
    let left = Duration::try_from(expiry.duration_since(now)).ok()?;
    left.checked_sub(margin).filter(|left| !left.is_zero())
}

/// A running election; drop or [`Leadership::release`] to step down.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    config: LeaderConfig,
    fence: Fence,
    leases: Api<Lease>,
    _confirming: AbortOnDropHandle<()>,
}

impl Leadership {
    /// Joins the election (creating the Lease if needed). Does not wait to lead.
    pub async fn join(client: Client, config: LeaderConfig) -> Result<Self, LeaderError> {
        let manager = LeaseManagerBuilder::new(client.clone(), config.lease_name.clone())
            .with_namespace(config.namespace.clone())
            .with_identity(config.identity.clone())
            .with_duration(config.lease_seconds)
            .with_grace(config.renew_grace_seconds)
            .build()
            .await
            .map_err(|source| lease_error(&config, source))?;
        let (leading, task) = manager.watch().await;
        let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
        let fence = Fence::default();
        let confirming = AbortOnDropHandle::new(tokio::spawn(confirm_continually(
            leases.clone(),
            config.clone(),
            fence.clone(),
        )));
        Ok(Self {
            leading,
            task,
            config,
            fence,
            leases,
            _confirming: confirming,
        })
    }

    /// The fence Mithril writes ask; it holds only while this replica surely leads.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Completes once this replica holds the lease and has seen it so in the API server.
    pub async fn acquired(&mut self) -> Result<(), LeaderError> {
        loop {
            self.leading
                .wait_for(|leading| *leading)
                .await
                .map_err(|_| LeaderError::Stopped)?;
            confirm(&self.leases, &self.config, &self.fence).await;
            if self.fence.holds() {
                return Ok(());
            }
            tokio::time::sleep(self.config.confirm_every()).await;
        }
    }

    /// Completes when this replica, having led, loses the lease, cannot confirm it in time, or
    /// the election stops. The fence is revoked first.
    pub async fn lost(&mut self) {
        let every = self.config.confirm_every();
        loop {
            if !*self.leading.borrow_and_update() {
                tracing::warn!("the leader Lease is held by another replica");
                break;
            }
            if !self.fence.holds() {
                tracing::error!(
                    lease = %self.config.lease_name,
                    "the leader Lease could not be confirmed before its renewal expired; stepping down"
                );
                break;
            }
            tokio::select! {
                changed = self.leading.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(every) => {}
            }
        }
        self.fence.revoke();
    }

    /// Steps down: releases the lease so a standby takes over at once rather than after expiry.
    pub async fn release(self) -> Result<(), LeaderError> {
        self.fence.revoke();
        let Self {
            leading,
            task,
            config,
            ..
        } = self;
        // Closing the channel makes the manager's task release the lease and return.
        drop(leading);
        match task.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(lease_error(&config, source)),
            Err(_) => Err(LeaderError::Stopped),
        }
    }
}

/// Reads the Lease back and extends the fence as far as the renewal it shows allows; revokes it
/// when another replica holds the Lease. A failed read changes nothing: the fence lapses alone.
async fn confirm(leases: &Api<Lease>, config: &LeaderConfig, fence: &Fence) {
    let lease = match leases.get_opt(&config.lease_name).await {
        Ok(lease) => lease,
        Err(error) => {
            tracing::debug!(%error, "reading the leader Lease back failed");
            return;
        }
    };
    let spec = lease.and_then(|lease| lease.spec).unwrap_or_default();
    let read_at = Instant::now();
    match lease_holds_for(
        &spec,
        &config.identity,
        jiff::Timestamp::now(),
        config.fence_margin(),
    ) {
        Some(left) => fence.confirm(read_at + left),
        None if spec.holder_identity.as_deref() != Some(config.identity.as_str()) => fence.revoke(),
        None => {}
    }
}

async fn confirm_continually(leases: Api<Lease>, config: LeaderConfig, fence: Fence) {
    loop {
        tokio::time::sleep(config.confirm_every()).await;
        confirm(&leases, &config, &fence).await;
    }
}

fn lease_error(config: &LeaderConfig, source: LeaseManagerError) -> LeaderError {
    LeaderError::Lease {
        namespace: config.namespace.clone(),
        name: config.lease_name.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: &str, renewed: &str, seconds: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            lease_duration_seconds: Some(seconds),
            ..LeaseSpec::default()
        }
    }

    fn at(time: &str) -> jiff::Timestamp {
        time.parse().unwrap()
    }

    #[test]
    fn a_renewal_holds_until_its_expiry_less_the_margin() {
        let spec = lease("a", "2026-01-01T00:00:00Z", 15);
        let margin = Duration::from_millis(2500);
        assert_eq!(
            lease_holds_for(&spec, "a", at("2026-01-01T00:00:10Z"), margin),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            lease_holds_for(&spec, "a", at("2026-01-01T00:00:12.5Z"), margin),
            None,
            "no write in the margin before a standby may take over"
        );
        assert_eq!(
            lease_holds_for(&spec, "a", at("2026-01-01T00:00:20Z"), margin),
            None
        );
    }

    #[test]
    fn another_holder_or_no_renewal_holds_nothing() {
        let spec = lease("b", "2026-01-01T00:00:00Z", 15);
        assert_eq!(
            lease_holds_for(&spec, "a", at("2026-01-01T00:00:01Z"), Duration::ZERO),
            None
        );
        let unrenewed = LeaseSpec {
            holder_identity: Some("a".to_owned()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        assert_eq!(
            lease_holds_for(&unrenewed, "a", at("2026-01-01T00:00:01Z"), Duration::ZERO),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fence_lapses_by_itself_and_never_shrinks_on_confirmation() {
        let fence = Fence::default();
        assert!(!fence.holds(), "a new fence grants nothing");
        let start = Instant::now();
        fence.confirm(start + Duration::from_secs(10));
        fence.confirm(start + Duration::from_secs(5));
        assert_eq!(
            fence.write_deadline(),
            Some(start + Duration::from_secs(10))
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!fence.holds(), "an unconfirmed fence lapses");
        fence.confirm(Instant::now() + Duration::from_secs(10));
        fence.revoke();
        assert!(!fence.holds());
    }
}
