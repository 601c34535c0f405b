//! What every reconcile shares: clients, observers, keys, events, metrics and backoff.

use super::api_keys::ApiKeys;
use super::backoff::Backoffs;
use super::machinery::events::Recorder;
use super::usage::{Unused, Usage, User};
use crate::observe::ObserverRegistry;
use crate::runtime::metrics::Metrics;
use kube::Client;
use kube::runtime::events::Reporter;
use mithril_api::ApiKey;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The operator's wall clock: schedule windows, SpotBid region holds and status times are all
/// read from it. The system clock in production, the simulator's clock in tests.
pub type WallClock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// The operator's name in events, field managers and the lease.
pub const OPERATOR_NAME: &str = "mithril-operator";

/// Tunables shared by the controllers.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Safety-net revisit of every resource, once per interval (paced: [`super::machinery::resync`]);
    /// Mithril changes arrive sooner through the observers.
    pub resync: Duration,
    /// How soon a resource with a problem only the user can fix (bad key, unknown project) is
    /// looked at again, so a fixed Secret is noticed without a spec edit.
    pub problem_recheck: Duration,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
    /// First and longest wait after a failed reconcile (per resource, doubling in between).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a Secret's API key is trusted before it is read again.
    pub secret_ttl: Duration,
    /// This replica's name in events (the pod name in a cluster).
    pub instance: String,
    /// This cluster's name in bid names (see `spot_bid::names`), so that clusters sharing a
    /// Mithril project tell their bids apart.
    pub cluster: String,
    /// How long a create whose answer was lost (or that a previous leader may have had in flight)
    /// holds further placement while its bid may still show up: longer than a POST's timeout plus
    /// how far Mithril's lists may lag.
    pub create_grace: Duration,
    /// How long a live bid named by this cluster must stay without its resource before the sweeper
    /// cancels it; `None` turns the sweeper off.
    pub orphan_grace: Option<Duration>,
    /// Namespaces whose resources may act with the operator's own key when they name none;
    /// `None`: every namespace.
    pub default_key_namespaces: Option<BTreeSet<String>>,
    /// The namespaces this operator watches (empty: all): where the other SpotBids claiming a
    /// bid are looked for.
    pub namespaces: Vec<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(300),
            problem_recheck: Duration::from_secs(300),
            concurrency: 16,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            secret_ttl: Duration::from_secs(60),
            instance: OPERATOR_NAME.to_owned(),
            cluster: "local".to_owned(),
            create_grace: Duration::from_secs(120),
            orphan_grace: Some(Duration::from_secs(600)),
            default_key_namespaces: None,
            namespaces: Vec::new(),
        }
    }
}

/// Shared by every reconcile of every controller.
pub struct Context {
    pub kube: Client,
    pub registry: ObserverRegistry,
    pub keys: ApiKeys,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoffs,
    pub config: ControllerConfig,
    /// "Now" for time windows ([`Context::with_clock`] replaces the system clock).
    pub clock: WallClock,
    /// The key and project each resource acts with (see [`Context::uses`]).
    pub usage: Usage,
}

impl Context {
    pub fn new(
        kube: Client,
        registry: ObserverRegistry,
        default_key: Option<mithril_api::ApiKey>,
        metrics: Metrics,
        config: ControllerConfig,
    ) -> Self {
        let reporter = Reporter {
            controller: OPERATOR_NAME.into(),
            instance: Some(config.instance.clone()),
        };
        Self {
            recorder: Recorder::new(kube.clone(), reporter),
            keys: ApiKeys::new(
                kube.clone(),
                default_key,
                config.secret_ttl,
                metrics.key_labels(),
            )
            .default_key_only_in(config.default_key_namespaces.clone()),
            backoff: Backoffs::new(config.backoff_base, config.backoff_max),
            kube,
            registry,
            metrics,
            config,
            clock: Arc::new(jiff::Timestamp::now),
            usage: Usage::default(),
        }
    }

    /// Notes that `user` acts with `key` on `project_fid`, before it asks the registry for their
    /// observer. Whatever it used before and no resource uses any more is stopped.
    pub fn uses(&self, user: &User, key: &ApiKey, project_fid: &str) {
        self.let_go(self.usage.record(user, key, project_fid));
    }

    /// Notes that `user` uses no key any more (deleted, or its key or project does not
    /// resolve); what no resource uses any more is stopped.
    pub fn released(&self, user: &User) {
        self.keys.unnamed_by(user);
        self.let_go(self.usage.forget(user));
    }

    /// The resources of `kind` in `namespace` (all: `None`) that act with a key or name a key
    /// Secret.
    pub fn users_of(&self, kind: &str, namespace: Option<&str>) -> BTreeSet<User> {
        let mut users: BTreeSet<User> = self.usage.users_of(kind).into_iter().collect();
        users.extend(self.keys.naming(kind));
        users.retain(|user| namespace.is_none_or(|ns| user.namespace == ns));
        users
    }

    fn let_go(&self, unused: Unused) {
        if let Some(key) = &unused.key {
            // Its observers, client and cached names all go with it.
            if self.registry.forget_key(key) {
                tracing::info!("stopped the observers and client of an API key no resource uses");
            }
        } else if let Some((key, project)) = &unused.observer
            && self.registry.stop_observer(key, project)
        {
            tracing::info!(%project, "stopped a Mithril observer no resource uses");
        }
    }

    /// The same context evaluating time windows against `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }
}
