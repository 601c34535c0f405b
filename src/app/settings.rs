//! What the operator runs with, once flags are parsed: plain values, so `demo` and tests build
//! them directly and `run` converts its flags into them.

use super::error::RunError;
use mithril_api::{ApiKey, RateLimit};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use url::Url;

/// A namespaced object name, written `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName {
    pub namespace: String,
    pub name: String,
}

impl FromStr for SecretName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Self {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!("{text:?} is not NAMESPACE/NAME")),
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where the operator's own Mithril API key comes from: the key used for resources without a
/// `spec.apiKeySecretRef`.
#[derive(Debug, Clone)]
pub enum ApiKeySource {
    /// The `api-key` entry of this Secret, read once at start.
    Secret(SecretName),
    /// A key given directly (`MITHRIL_API_KEY`).
    Key(ApiKey),
    /// No default key: every resource must name its own Secret.
    None,
}

/// Leader election on a coordination.k8s.io Lease.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub lease_name: String,
    /// The Lease's namespace; the client's default namespace (in a cluster: the pod's) when absent.
    pub namespace: Option<String>,
    /// How long a Lease holds without renewal: the longest a dead leader blocks a takeover.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews.
    pub renew_grace: Duration,
}

/// Everything the operator runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mithril API root.
    pub mithril_url: Url,
    pub api_key: ApiKeySource,
    /// Whether the SpotBid controller runs.
    pub spot_bids: bool,
    /// Whether the InstanceSchedule controller runs.
    pub instance_schedules: bool,
    /// Whether the SpotPool controller runs.
    pub spot_pools: bool,
    /// Namespaces watched; empty means all.
    pub namespaces: Vec<String>,
    /// Namespaces whose resources may use the operator's own key; empty means all.
    pub default_key_namespaces: Vec<String>,
    /// Reconciles running at once, per controller and namespace.
    pub concurrency: u16,
    /// Safety-net reconcile of every resource, once per interval.
    pub resync: Duration,
    /// Time between two observations of a Mithril project.
    pub mithril_poll_interval: Duration,
    /// Between observations, how often booting instances are read (zero: never).
    pub mithril_settle_interval: Duration,
    /// Client-side limit on Mithril requests, per API key.
    pub rate_limit: RateLimit,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_addr: SocketAddr,
    /// `None`: this replica acts at once, alone.
    pub leader_election: Option<LeaderElection>,
    /// This replica's name in the Lease and in events (the pod name in a cluster).
    pub identity: String,
    /// Bound on each start-up check (API server, CRDs, key Secret).
    pub startup_timeout: Duration,
    /// This cluster's name in bid names; found at start when not given.
    pub cluster_name: Option<String>,
    pub bid_safety: BidSafety,
}

/// How the operator allows for what Mithril does not promise (see the README's bid guarantees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BidSafety {
    /// How long a create in doubt holds placing again.
    pub create_grace: Duration,
    /// How far Mithril's lists may lag behind its writes.
    pub list_lag: Duration,
    /// How long an orphaned bid lives before it is cancelled; `None`: never.
    pub orphan_grace: Option<Duration>,
}

impl Default for BidSafety {
    fn default() -> Self {
        Self {
            create_grace: Duration::from_secs(120),
            list_lag: Duration::from_secs(60),
            orphan_grace: Some(Duration::from_secs(600)),
        }
    }
}

impl Settings {
    /// Checks what the types cannot: values the libraries would reject or panic on.
    pub fn validate(&self) -> Result<(), RunError> {
        let invalid = |message: String| Err(RunError::InvalidSettings(message));
        if !self.spot_bids && !self.instance_schedules && !self.spot_pools {
            return invalid(
                "every controller is disabled: enable --spotbid-controller, \
                 --instanceschedule-controller or --spotpool-controller"
                    .into(),
            );
        }
        if self.identity.is_empty() {
            return invalid("--identity must not be empty".into());
        }
        if self.concurrency == 0 {
            return invalid("--concurrency must be at least 1".into());
        }
        if !(self.rate_limit.per_second.is_finite() && self.rate_limit.per_second > 0.0) {
            return invalid(format!(
                "--mithril-rate-limit must be a positive number, not {}",
                self.rate_limit.per_second
            ));
        }
        if self.rate_limit.burst == 0 {
            return invalid("--mithril-burst must be at least 1".into());
        }
        if !matches!(self.mithril_url.scheme(), "http" | "https") {
            return invalid(format!(
                "--mithril-url {} must be an http(s) URL",
                self.mithril_url
            ));
        }
        if let Some(cluster) = &self.cluster_name {
            crate::controller::spot_bid::names::validate_cluster_name(cluster).map_err(
                |message| RunError::InvalidSettings(format!("--cluster-name: {message}")),
            )?;
        }
        if let Some(election) = &self.leader_election {
            let (duration, grace) = (
                whole_seconds(election.lease_duration),
                whole_seconds(election.renew_grace),
            );
            if grace >= duration {
                return invalid(format!(
                    "--lease-renew-grace ({grace}s) must be shorter than --lease-duration ({duration}s)"
                ));
            }
            if election.lease_name.is_empty() {
                return invalid("--leader-election-id must not be empty".into());
            }
        }
        Ok(())
    }
}

/// The namespaces to watch, each once, in the order first given: `--namespace a,a` must not
/// start two controllers on one namespace. Blank entries (`--namespace a,`) are dropped.
pub fn watched_namespaces(given: &[String]) -> Vec<String> {
    let mut watched: Vec<String> = Vec::with_capacity(given.len());
    for namespace in given.iter().map(|namespace| namespace.trim()) {
        if !namespace.is_empty() && !watched.iter().any(|seen| seen == namespace) {
            watched.push(namespace.to_owned());
        }
    }
    watched
}

/// A duration in whole seconds, rounded up (leases count in seconds).
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_namespace_slash_name() {
        let parsed: SecretName = "mithril-operator/mithril-api-key".parse().unwrap();
        assert_eq!(parsed.namespace, "mithril-operator");
        assert_eq!(parsed.name, "mithril-api-key");
        assert_eq!(parsed.to_string(), "mithril-operator/mithril-api-key");
        for bad in ["", "name", "/name", "ns/", "a/b/c"] {
            assert!(bad.parse::<SecretName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_namespace_is_watched_once() {
        let given = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(watched_namespaces(&given(&["a", "a"])), ["a"]);
        assert_eq!(
            watched_namespaces(&given(&["b", "a", " b", "", "a", "c"])),
            ["b", "a", "c"]
        );
        assert!(watched_namespaces(&given(&[])).is_empty());
    }

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(15)), 15);
    }
}
