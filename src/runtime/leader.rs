//! Leader election on a coordination.k8s.io Lease (kube-lease-manager).
//!
//! Only the leader writes to Mithril: two replicas acting on the same SpotBid could each decide
//! the bid is missing and create it. A replica that loses the lease stops its controllers (the
//! process exits and is restarted as a standby), as controller-runtime does: continuing after a
//! lost lease is exactly the split brain the lease exists to prevent.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// A running election; drop or [`Leadership::release`] to step down.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    config: LeaderConfig,
}

impl Leadership {
    /// Joins the election (creating the Lease if needed). Does not wait to lead.
    pub async fn join(client: Client, config: LeaderConfig) -> Result<Self, LeaderError> {
        let manager = LeaseManagerBuilder::new(client, config.lease_name.clone())
            .with_namespace(config.namespace.clone())
            .with_identity(config.identity.clone())
            .with_duration(config.lease_seconds)
            .with_grace(config.renew_grace_seconds)
            .build()
            .await
            .map_err(|source| lease_error(&config, source))?;
        let (leading, task) = manager.watch().await;
        Ok(Self {
            leading,
            task,
            config,
        })
    }

    /// Completes once this replica holds the lease.
    pub async fn acquired(&mut self) -> Result<(), LeaderError> {
        self.leading
            .wait_for(|leading| *leading)
            .await
            .map(|_| ())
            .map_err(|_| LeaderError::Stopped)
    }

    /// Completes when this replica, having led, loses the lease (or the election stops).
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }

    /// Steps down: releases the lease so a standby takes over at once rather than after expiry.
    pub async fn release(self) -> Result<(), LeaderError> {
        let Self {
            leading,
            task,
            config,
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

fn lease_error(config: &LeaderConfig, source: LeaseManagerError) -> LeaderError {
    LeaderError::Lease {
        namespace: config.namespace.clone(),
        name: config.lease_name.clone(),
        source,
    }
}
