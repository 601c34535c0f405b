//! The leader-elected life of a replica: stand by (ready, idle) until it holds the Lease, then
//! run the operator until shutdown or until the Lease is lost.

use super::error::RunError;
use super::operator::Operator;
use super::settings::{LeaderElection, Settings, whole_seconds};
use super::sync;
use crate::runtime::health::Readiness;
use crate::runtime::leader::{Fence, LeaderConfig, Leadership};
use crate::runtime::metrics::Metrics;
use kube::Client;
use mithril_api::ApiKey;
use tokio_util::sync::CancellationToken;

/// What the operator needs once it runs; shared by the leader-elected and the single-replica paths.
pub struct Replica {
    pub client: Client,
    pub settings: Settings,
    pub default_key: Option<ApiKey>,
    pub metrics: Metrics,
    pub readiness: Readiness,
}

impl Replica {
    /// Joins the election and runs the operator while leading. Returns `Ok` after a requested
    /// stop (the Lease released), an error when the Lease is lost.
    pub async fn lead(
        self,
        election: &LeaderElection,
        stop: &CancellationToken,
    ) -> Result<(), RunError> {
        let namespace = election
            .namespace
            .clone()
            .unwrap_or_else(|| self.client.default_namespace().to_owned());
        let lease = format!("{namespace}/{}", election.lease_name);
        let config = LeaderConfig {
            namespace,
            lease_name: election.lease_name.clone(),
            identity: self.settings.identity.clone(),
            lease_seconds: whole_seconds(election.lease_duration),
            renew_grace_seconds: whole_seconds(election.renew_grace),
        };
        let mut leadership = Leadership::join(self.client.clone(), config).await?;
        self.metrics.set_leader(false);
        // A standby is ready, as kube-controller-manager's standbys are: it serves health and
        // metrics and is ready to take over; marking it unready would only page someone.
        self.readiness.set_ready(true);
        tracing::info!(%lease, identity = %self.settings.identity, "standing by for the leader Lease");
        tokio::select! {
            () = stop.cancelled() => return Ok(leadership.release().await?),
            acquired = leadership.acquired() => acquired?,
        }
        tracing::info!(%lease, "acquired the leader Lease; starting controllers");
        self.metrics.set_leader(true);
        let fence = leadership.fence();
        let outcome = match self
            .serve(stop, Some(fence), async { leadership.lost().await })
            .await
        {
            Ok(Ended::Stopped) => Ok(()),
            Ok(Ended::Lost) => Err(RunError::LeadershipLost {
                lease: lease.clone(),
            }),
            Err(error) => Err(error),
        };
        self.metrics.set_leader(false);
        // Releasing lets a standby take over at once instead of after the Lease expires; after a
        // loss there is nothing to release and the outcome already says why.
        let released = leadership.release().await;
        outcome?;
        released?;
        tracing::info!(%lease, "released the leader Lease");
        Ok(())
    }

    /// Runs the operator alone, without an election.
    pub async fn run_alone(self, stop: &CancellationToken) -> Result<(), RunError> {
        self.metrics.set_leader(true);
        // Without a Lease there is nothing to lose: only a stop or a failure ends this.
        let outcome = self.serve(stop, None, std::future::pending()).await;
        self.metrics.set_leader(false);
        outcome.map(|_| ())
    }

    /// Runs controllers and observers until `stop` or `lost`; ready once the caches are synced.
    async fn serve(
        &self,
        stop: &CancellationToken,
        fence: Option<Fence>,
        lost: impl Future<Output = ()>,
    ) -> Result<Ended, RunError> {
        self.readiness.set_ready(false);
        let mut operator = Operator::start(
            self.client.clone(),
            &self.settings,
            self.default_key.clone(),
            self.metrics.clone(),
            &self.settings.identity,
            fence,
        )?;
        let synced = {
            let (client, settings) = (self.client.clone(), &self.settings);
            let lists = sync::initial_lists(
                client,
                settings.namespaces.clone(),
                settings.spot_bids,
                settings.instance_schedules,
                settings.spot_pools,
            );
            let readiness = self.readiness.clone();
            tokio::spawn(async move {
                lists.await;
                readiness.set_ready(true);
                tracing::info!("caches synced; ready");
            })
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => Ok(Ended::Stopped),
            () = lost => Ok(Ended::Lost),
            kind = operator.stopped_unexpectedly() => Err(RunError::ControllerStopped(kind)),
        };
        synced.abort();
        if !matches!(outcome, Ok(Ended::Stopped)) {
            self.readiness.set_ready(false);
        }
        match outcome {
            // After a loss, in-flight reconciles are dropped, not drained.
            Ok(Ended::Lost) => operator.abort().await,
            _ => operator.stop().await,
        }
        outcome
    }
}

/// How [`Replica::serve`] ended without failing.
enum Ended {
    /// A stop was requested.
    Stopped,
    /// The Lease was lost.
    Lost,
}
