//! `mithril-operator run`: the operator as deployed in a cluster.

use super::error::RunError;
use super::leadership::Replica;
use super::preflight;
use super::settings::{
    ApiKeySource, BidSafety, LeaderElection, SecretName, Settings, watched_namespaces,
};
use crate::controller::OPERATOR_NAME;
use crate::runtime::durations::parse_duration;
use crate::runtime::health::{self, Readiness};
use crate::runtime::metrics::Metrics;
use crate::runtime::shutdown;
use crate::runtime::telemetry::LogFormat;
use mithril_api::{ApiKey, DEFAULT_BASE_URL, RateLimit};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Logging flags (read before anything else runs).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "MITHRIL_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `info,mithril_operator=debug` (default: RUST_LOG, else info).
    #[arg(long, env = "MITHRIL_OPERATOR_LOG_LEVEL")]
    pub log_level: Option<String>,
}

/// Flags of `mithril-operator run`. Every flag can also be set by the environment variable shown.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Mithril API root.
    #[arg(long, env = "MITHRIL_URL", default_value = DEFAULT_BASE_URL)]
    pub mithril_url: Url,
    /// Secret (NAMESPACE/NAME) holding the default Mithril API key under `api-key`; wins over
    /// MITHRIL_API_KEY.
    #[arg(long, env = "MITHRIL_API_KEY_SECRET", value_name = "NAMESPACE/NAME")]
    pub api_key_secret: Option<SecretName>,
    /// The default Mithril API key. Prefer the environment variable or --api-key-secret: command
    /// lines are visible to every user of the machine.
    #[arg(
        long,
        env = "MITHRIL_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<ApiKey>,
    /// Run the SpotBid controller.
    #[arg(long, env = "MITHRIL_OPERATOR_SPOTBID_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub spotbid_controller: bool,
    /// Run the InstanceSchedule controller.
    #[arg(long, env = "MITHRIL_OPERATOR_INSTANCESCHEDULE_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub instanceschedule_controller: bool,
    /// Run the SpotPool controller (its SpotBids need the SpotBid controller).
    #[arg(long, env = "MITHRIL_OPERATOR_SPOTPOOL_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub spotpool_controller: bool,
    /// Namespaces to watch (repeat or separate with commas); all namespaces when absent.
    #[arg(
        long = "namespace",
        env = "MITHRIL_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Namespaces whose resources may act with the operator's own key when they name no
    /// apiKeySecretRef (repeat or separate with commas); all namespaces when absent.
    #[arg(
        long = "default-key-namespaces",
        env = "MITHRIL_OPERATOR_DEFAULT_KEY_NAMESPACES",
        value_delimiter = ','
    )]
    pub default_key_namespaces: Vec<String>,
    /// Reconciles running at once, per controller.
    #[arg(long, env = "MITHRIL_OPERATOR_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Safety-net reconcile of every resource, once per interval and spread over it (Mithril
    /// changes arrive sooner through polling).
    #[arg(long, env = "MITHRIL_OPERATOR_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Time between two observations of each Mithril project (bids, instances, prices).
    #[arg(long, env = "MITHRIL_OPERATOR_MITHRIL_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub mithril_poll_interval: Duration,
    /// Between observations, while a project's instances are booting (at most 100), how often
    /// their list is read, so a resource is Ready within this of its instances running (0s: only
    /// at each observation).
    #[arg(long, env = "MITHRIL_OPERATOR_MITHRIL_SETTLE_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub mithril_settle_interval: Duration,
    /// Sustained Mithril requests per second, per API key.
    #[arg(
        long,
        env = "MITHRIL_OPERATOR_MITHRIL_RATE_LIMIT",
        default_value_t = 10.0
    )]
    pub mithril_rate_limit: f64,
    /// Mithril requests that may go at once after a quiet period, per API key.
    #[arg(long, env = "MITHRIL_OPERATOR_MITHRIL_BURST", default_value_t = 20)]
    pub mithril_burst: u32,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "MITHRIL_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,
    /// Elect a leader among replicas on a Lease; only the leader runs controllers.
    #[arg(long, env = "MITHRIL_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "MITHRIL_OPERATOR_LEADER_ELECTION_ID", default_value = OPERATOR_NAME)]
    pub leader_election_id: String,
    /// Namespace of the leader Lease (default: the pod's, else the kubeconfig context's).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long the Lease holds without renewal: the longest a dead leader delays a takeover.
    #[arg(long, env = "MITHRIL_OPERATOR_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long before the Lease expires the leader renews it.
    #[arg(long, env = "MITHRIL_OPERATOR_LEASE_RENEW_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub lease_renew_grace: Duration,
    /// This replica's name in the Lease and in events (default: host name and a random suffix).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Bound on each start-up check (API server, CRDs, key Secret).
    #[arg(long, env = "MITHRIL_OPERATOR_STARTUP_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub startup_timeout: Duration,
    /// This cluster's name in the bids it places, so clusters sharing a Mithril project tell their
    /// bids apart (default: the first 8 characters of the kube-system namespace's uid).
    #[arg(long, env = "MITHRIL_OPERATOR_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// How long a create whose answer was lost holds placing again, while its bid may still show
    /// up: longer than a request's timeout (30s) plus how far Mithril's lists may lag.
    #[arg(long, env = "MITHRIL_OPERATOR_CREATE_GRACE", default_value = "2m", value_parser = parse_duration)]
    pub create_grace: Duration,
    /// How long Mithril's bid lists may lag behind its writes: a bid this operator just wrote is
    /// not taken back by a list older than that.
    #[arg(long, env = "MITHRIL_OPERATOR_MITHRIL_LIST_LAG", default_value = "1m", value_parser = parse_duration)]
    pub mithril_list_lag: Duration,
    /// Cancel bids this cluster placed whose SpotBid no longer exists.
    #[arg(long, env = "MITHRIL_OPERATOR_ORPHAN_SWEEP", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub orphan_sweep: bool,
    /// How long such a bid must stay without its SpotBid before the sweeper cancels it.
    #[arg(long, env = "MITHRIL_OPERATOR_ORPHAN_GRACE", default_value = "10m", value_parser = parse_duration)]
    pub orphan_grace: Duration,
    #[command(flatten)]
    pub log: LogArgs,
}

impl RunArgs {
    /// The settings these flags describe.
    pub fn settings(&self) -> Settings {
        let api_key = match (&self.api_key_secret, &self.api_key) {
            (Some(secret), key) => {
                if key.is_some() {
                    tracing::info!(%secret, "both --api-key-secret and MITHRIL_API_KEY are set: using the Secret");
                }
                ApiKeySource::Secret(secret.clone())
            }
            (None, Some(key)) => ApiKeySource::Key(key.clone()),
            (None, None) => ApiKeySource::None,
        };
        Settings {
            mithril_url: self.mithril_url.clone(),
            api_key,
            spot_bids: self.spotbid_controller,
            instance_schedules: self.instanceschedule_controller,
            spot_pools: self.spotpool_controller,
            namespaces: watched_namespaces(&self.namespaces),
            default_key_namespaces: watched_namespaces(&self.default_key_namespaces),
            concurrency: self.concurrency,
            resync: self.resync_interval,
            mithril_poll_interval: self.mithril_poll_interval,
            mithril_settle_interval: self.mithril_settle_interval,
            rate_limit: RateLimit {
                per_second: self.mithril_rate_limit,
                burst: self.mithril_burst,
            },
            metrics_addr: self.metrics_addr,
            leader_election: self.leader_election.then(|| LeaderElection {
                lease_name: self.leader_election_id.clone(),
                namespace: self.leader_election_namespace.clone(),
                lease_duration: self.lease_duration,
                renew_grace: self.lease_renew_grace,
            }),
            identity: self.identity.clone().unwrap_or_else(default_identity),
            startup_timeout: self.startup_timeout,
            cluster_name: self.cluster_name.clone(),
            bid_safety: BidSafety {
                create_grace: self.create_grace,
                list_lag: self.mithril_list_lag,
                orphan_grace: self.orphan_sweep.then_some(self.orphan_grace),
            },
        }
    }
}

/// `mithril-operator run`: the usual kube configuration, stopped by SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let kube_config = preflight::infer_kube_config().await?;
    run_with(args.settings(), kube_config, shutdown::signal(), |_| {}).await
}

/// The operator with explicit settings and Kubernetes configuration, until `shutdown` completes
/// (in-flight reconciles finish, the Lease is released). `serving` receives the address of the
/// health and metrics endpoints once they listen.
pub async fn run_with(
    settings: Settings,
    kube_config: kube::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    serving: impl FnOnce(SocketAddr),
) -> Result<(), RunError> {
    settings.validate()?;
    let stop = CancellationToken::new();
    let _signals = StopOn::spawn(shutdown, stop.clone());

    let client = preflight::connect(kube_config, settings.startup_timeout).await?;
    preflight::check_crds(&client, &settings, settings.startup_timeout).await?;
    let default_key =
        preflight::default_api_key(&client, &settings.api_key, settings.startup_timeout).await?;
    let mut settings = settings;
    let cluster = preflight::cluster_name(&client, &settings, settings.startup_timeout).await?;
    settings.cluster_name = Some(cluster);

    let (metrics, readiness) = (Metrics::new(), Readiness::default());
    let stop_serving = CancellationToken::new();
    let (addr, server) = health::serve(
        settings.metrics_addr,
        metrics.clone(),
        readiness.clone(),
        stop_serving.clone().cancelled_owned(),
    )
    .await
    .map_err(|source| RunError::MetricsBind {
        addr: settings.metrics_addr,
        source,
    })?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    serving(addr);

    let election = settings.leader_election.clone();
    let replica = Replica {
        client,
        settings,
        default_key,
        metrics,
        readiness,
    };
    let outcome = match &election {
        Some(election) => replica.lead(election, &stop).await,
        None => replica.run_alone(&stop).await,
    };
    stop_serving.cancel();
    if let Ok(Err(error)) = server.await {
        tracing::warn!(%error, "health and metrics server");
    }
    match &outcome {
        Ok(()) => tracing::info!("stopped"),
        Err(error) => tracing::error!(%error, "stopped"),
    }
    outcome
}

/// Cancels a token when a future completes; stops watching when dropped.
struct StopOn(JoinHandle<()>);

impl StopOn {
    fn spawn(signal: impl Future<Output = ()> + Send + 'static, stop: CancellationToken) -> Self {
        Self(tokio::spawn(async move {
            signal.await;
            stop.cancel();
        }))
    }
}

impl Drop for StopOn {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The host name (the pod name in a cluster) and a random suffix, so two replicas on one host
/// never share an identity.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| OPERATOR_NAME.to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn a_namespace_given_twice_is_watched_once() {
        let flags = Flags::try_parse_from([
            "mithril-operator",
            "--namespace",
            "a,a",
            "--namespace",
            "b,a",
        ])
        .expect("valid flags");
        assert_eq!(flags.run.settings().namespaces, ["a", "b"]);
    }

    #[test]
    fn the_chart_renders_the_default_key_policy_as_a_flag_this_binary_takes() {
        let flags =
            Flags::try_parse_from(["mithril-operator", "--default-key-namespaces=ml,research"])
                .expect("valid flags");
        assert_eq!(
            flags.run.settings().default_key_namespaces,
            ["ml", "research"]
        );
        let none = Flags::try_parse_from(["mithril-operator"]).expect("valid flags");
        assert!(none.run.settings().default_key_namespaces.is_empty());
    }
}
