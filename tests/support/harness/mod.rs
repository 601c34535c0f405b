//! An operator under test: the Kubernetes API emulator (in process), the Mithril simulator (on
//! loopback, clock driven by the test), and the real controllers with observers that poll only
//! when the test says so. Nothing moves unless the test moves it.
//!
//! With `MITHRIL_TEST_KUBE=real` (see [`real`]) a real API server takes the emulator's place.
#![allow(dead_code)]

pub mod real;
pub mod schedule;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Resource};
use kube_emulator::Emulator;
use mithril_api::{ApiKey, ClientConfig, MithrilClient, RetryPolicy};
use mithril_operator::controller::context::WallClock;
use mithril_operator::controller::{Context, ControllerConfig};
use mithril_operator::crd;
use mithril_operator::observe::{ObserverRegistry, Polling, RegistryConfig};
use mithril_operator::runtime::metrics::Metrics;
use mithril_sim::{Sim, SimConfig, SimServer};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The cluster's name in the bid names of these tests (the controllers' default).
pub const CLUSTER: &str = "local";
/// The operator's own key in these tests.
pub const API_KEY: &str = "fkey_operatortest0000000000000000";
/// How long a test waits for the controller to reach a state it must reach. Generous: the
/// outcome is decided by the test's moves, this only bounds a failure.
pub const CONVERGE: Duration = Duration::from_secs(30);

pub struct Harness {
    pub sim: Sim,
    pub sim_server: SimServer,
    /// The test's client (cluster admin on a real API server).
    pub kube: Client,
    side: KubeSide,
    pub registry: ObserverRegistry,
    pub mithril: MithrilClient,
    pub ctx: Arc<Context>,
    shutdown: CancellationToken,
    controller: Option<tokio::task::JoinHandle<()>>,
}

/// The Kubernetes a harness runs on: the emulator in process (namespace `default`, one client for
/// the test and the operator), or a real API server (a namespace of its own, the operator on its
/// ServiceAccount's token and scoped to that namespace).
pub struct KubeSide {
    emulator: Option<Emulator>,
    real: Option<real::RealCluster>,
    /// What the operator under test connects with.
    operator_kube: Client,
    namespace: String,
}

impl KubeSide {
    /// The emulator with the CRDs installed, or with `MITHRIL_TEST_KUBE=real` a fresh namespace
    /// on the real server; returns the test's client beside.
    pub async fn connect() -> (Client, Self) {
        if let Some(kubeconfig) = real::kubeconfig() {
            let real = real::RealCluster::connect(kubeconfig).await;
            let admin = real.admin.clone();
            let side = Self {
                emulator: None,
                operator_kube: real.operator.clone(),
                namespace: real.namespace.clone(),
                real: Some(real),
            };
            return (admin, side);
        }
        let emulator = Emulator::new();
        let kube = emulator.client();
        let crds: Api<CustomResourceDefinition> = Api::all(kube.clone());
        for definition in crd::crds() {
            crds.create(&PostParams::default(), &definition)
                .await
                .expect("CRD installs");
        }
        let side = Self {
            emulator: Some(emulator),
            real: None,
            operator_kube: kube.clone(),
            namespace: "default".to_owned(),
        };
        (kube, side)
    }

    /// The namespace the controllers watch: all on the emulator (as before), only the test's own
    /// on a shared real server.
    pub fn watch_namespace(&self) -> Option<String> {
        self.real.as_ref().map(|real| real.namespace.clone())
    }

    /// `config` for an operator watching [`KubeSide::watch_namespace`], as `run` sets it from
    /// `--namespace`: other tests' resources on a shared server are no concern of this one.
    pub fn scoped(&self, mut config: ControllerConfig) -> ControllerConfig {
        if config.namespaces.is_empty() {
            config.namespaces = self.watch_namespace().into_iter().collect();
        }
        config
    }
}

/// A Mithril client for `base` with fast retries (tests drive faults deliberately).
pub fn mithril_client(base: &str, key: &ApiKey) -> MithrilClient {
    let mut config = ClientConfig::new(base.parse().expect("simulator URL"), key.clone());
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..config.retry
    };
    MithrilClient::new(config).expect("client")
}

/// A namespaced resource the harness can wait on.
pub trait Namespaced:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Namespaced for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// The simulator's clock as the operator's wall clock: status times, region-hold periods and
/// schedule windows all run on the time the test moves.
pub fn sim_clock(sim: &Sim) -> WallClock {
    let sim = sim.clone();
    Arc::new(move || sim.now())
}

/// The controller tunables of these tests: quick retries, Secrets read on every reconcile.
pub fn test_config() -> ControllerConfig {
    ControllerConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        // Secrets are read on every reconcile, so a test that rotates a key sees it at once.
        secret_ttl: Duration::ZERO,
        // Longer than the simulator's lost answers take to commit and show in tests.
        create_grace: Duration::from_secs(2),
        ..ControllerConfig::default()
    }
}

/// A fresh operator (observer registry polled by the test, shared context on the simulator's
/// clock) for the simulator at `base`.
fn operator(
    base: &str,
    kube: &Client,
    sim: &Sim,
    config: ControllerConfig,
) -> (ObserverRegistry, Arc<Context>) {
    let connect_base = base.to_owned();
    let registry = ObserverRegistry::new(
        Arc::new(move |key: &ApiKey| Ok(mithril_client(&connect_base, key))),
        RegistryConfig::default(),
        Polling::Manual,
    );
    let key = ApiKey::new(API_KEY).unwrap();
    let ctx = Arc::new(
        Context::new(
            kube.clone(),
            registry.clone(),
            Some(key),
            Metrics::new(),
            config,
        )
        .with_clock(sim_clock(sim)),
    );
    (registry, ctx)
}

impl Harness {
    /// Simulator with the default world, emulator with the CRDs installed, SpotBid controller running.
    pub async fn start() -> Self {
        Self::start_with(SimConfig::default()).await
    }

    pub async fn start_with(sim_config: SimConfig) -> Self {
        let mut harness = Self::start_stopped(sim_config).await;
        harness.start_controller();
        harness
    }

    /// Everything but the controller: the test starts it when it is ready.
    pub async fn start_stopped(sim_config: SimConfig) -> Self {
        let sim = Sim::new(sim_config);
        let sim_server = sim
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator serves");
        let (kube, side) = KubeSide::connect().await;
        let base = format!("http://{}", sim_server.addr);
        let key = ApiKey::new(API_KEY).unwrap();
        let mithril = mithril_client(&base, &key);
        let config = side.scoped(test_config());
        let (registry, ctx) = operator(&base, &side.operator_kube, &sim, config);
        Self {
            sim,
            sim_server,
            kube,
            side,
            registry,
            mithril,
            ctx,
            shutdown: CancellationToken::new(),
            controller: None,
        }
    }

    /// A crash and a restart: the controller dies mid-flight and a new operator starts with empty
    /// caches (no observer synced, no memory of earlier attempts), as a new process would.
    pub async fn restart_operator(&mut self) {
        self.restart_operator_with(test_config()).await;
    }

    /// A restart as [`Harness::restart_operator`], the new operator tuned by `config`.
    pub async fn restart_operator_with(&mut self, config: ControllerConfig) {
        self.kill_controller().await;
        let base = format!("http://{}", self.sim_server.addr);
        let config = self.side.scoped(config);
        (self.registry, self.ctx) = operator(&base, &self.side.operator_kube, &self.sim, config);
        self.start_controller();
    }

    /// The namespace the test's resources live in: `default` on the emulator, a fresh one on a
    /// real API server.
    pub fn ns(&self) -> &str {
        &self.side.namespace
    }

    /// The emulator (for its fault injection); panics on a real API server, where a test that
    /// needs it is skipped ([`real::skip_on_real_server`]).
    pub fn emulator(&self) -> &Emulator {
        self.side
            .emulator
            .as_ref()
            .expect("the emulator: this test runs on a real API server")
    }

    /// (Re)starts the SpotBid controller on the shared context.
    pub fn start_controller(&mut self) {
        let (ctx, token) = (self.ctx.clone(), self.shutdown.child_token());
        let namespace = self.side.watch_namespace();
        self.controller = Some(tokio::spawn(async move {
            mithril_operator::controller::spot_bid::run(ctx, namespace.as_deref(), async move {
                token.cancelled().await
            })
            .await;
        }));
    }

    /// Stops the controller as a crash would: at once, mid-flight.
    pub async fn kill_controller(&mut self) {
        if let Some(task) = self.controller.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// One observation cycle of every observer (what a resync does in production).
    pub async fn poll(&self) {
        for observer in self.registry.observers() {
            let _ = observer.poll_once().await;
        }
    }

    /// Each observer's spend reads (the second half of a cycle in the running operator).
    pub async fn read_spend(&self) {
        for observer in self.registry.observers() {
            let _ = observer.refresh_spend().await;
        }
    }

    /// Moves simulated time by `minutes` in steps of one, observing after each step.
    pub async fn advance_minutes(&self, minutes: u64) {
        for _ in 0..minutes {
            self.sim.advance(Duration::from_secs(60));
            self.poll().await;
        }
    }

    /// Waits until `name` in `namespace` satisfies `condition`; panics with `what` after [`CONVERGE`].
    pub async fn wait_for<K>(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        condition: impl Fn(&K) -> bool,
    ) -> K
    where
        K: Namespaced,
    {
        let api: Api<K> = Api::namespaced(self.kube.clone(), namespace);
        let waited = tokio::time::timeout(
            CONVERGE,
            await_condition(api.clone(), name, |object: Option<&K>| {
                object.is_some_and(&condition)
            }),
        )
        .await;
        match waited {
            Ok(Ok(Some(object))) => object,
            other => {
                let now = api.get_opt(name).await.ok().flatten();
                panic!("{namespace}/{name} never became {what}: {other:?}; last seen: {now:#?}");
            }
        }
    }

    /// Waits until `count` resources of kind `K` in `namespace` satisfy `condition` at once;
    /// panics with `what` after [`CONVERGE`].
    pub async fn wait_for_count<K>(
        &self,
        namespace: &str,
        count: usize,
        what: &str,
        condition: impl Fn(&K) -> bool,
    ) where
        K: Namespaced,
    {
        let api: Api<K> = Api::namespaced(self.kube.clone(), namespace);
        crate::support::wait_for(what, CONVERGE, || async {
            let listed = api.list(&Default::default()).await.ok()?;
            let satisfied = listed.items.iter().filter(|object| condition(object));
            (satisfied.count() == count).then_some(())
        })
        .await;
    }

    /// Waits until `name` no longer exists.
    pub async fn wait_gone<K>(&self, namespace: &str, name: &str)
    where
        K: Namespaced,
    {
        let api: Api<K> = Api::namespaced(self.kube.clone(), namespace);
        let gone = tokio::time::timeout(
            CONVERGE,
            await_condition(api, name, |object: Option<&K>| object.is_none()),
        )
        .await;
        assert!(
            matches!(gone, Ok(Ok(_))),
            "{namespace}/{name} was never deleted"
        );
    }

    /// Waits until an event with `reason` about `name` exists (events follow the status write
    /// they explain, so a test that saw the status watches for the event).
    pub async fn wait_for_event(&self, namespace: &str, name: &str, reason: &str) {
        use kube::runtime::{WatchStreamExt, watcher};
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.kube.clone(), namespace);
        let matching = watcher(events, watcher::Config::default())
            .applied_objects()
            .any(|event| async move {
                event.is_ok_and(|event| {
                    event.reason.as_deref() == Some(reason)
                        && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
            });
        let found = tokio::time::timeout(CONVERGE, matching).await;
        assert_eq!(
            found,
            Ok(true),
            "no {reason} event about {namespace}/{name}"
        );
    }

    /// Waits for a `reason` event about `namespace/name`, and checks every such event is a
    /// Warning.
    pub async fn wait_for_warning(&self, namespace: &str, name: &str, reason: &str) {
        self.wait_for_event(namespace, name, reason).await;
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.kube.clone(), namespace);
        let types: Vec<Option<String>> = events
            .list(&Default::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|event| {
                event.reason.as_deref() == Some(reason)
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .map(|event| event.type_)
            .collect();
        assert!(
            types.iter().all(|t| t.as_deref() == Some("Warning")),
            "{reason} events about {namespace}/{name}: {types:?}"
        );
    }

    /// Creates a Secret holding `key` under `api-key`.
    pub async fn create_key_secret(&self, namespace: &str, name: &str, key: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), namespace);
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"api-key": key},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("Secret");
    }

    /// Every Mithril bid the operator's key sees, with the given name.
    pub async fn bids_named(&self, name: &str) -> Vec<mithril_api::Bid> {
        let query = mithril_api::ListBidsQuery::default().name(name).limit(100);
        self.mithril
            .bids(query)
            .filter_map(|bid| async move { bid.ok() })
            .collect()
            .await
    }

    /// Waits until `check` holds, looking again whenever the operator may have acted; panics with
    /// `what` after [`CONVERGE`]. For state outside Kubernetes (the simulator's counters).
    pub async fn wait_until(&self, what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + CONVERGE;
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never happened: {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Places a bid directly on Mithril (as a person would, outside the operator).
    pub async fn bid_by_hand(&self, name: &str, limit_price: &str) -> mithril_api::Bid {
        let request = mithril_api::CreateBidRequest {
            project: self.mithril.resolve_project("demo").await.unwrap(),
            region: "us-central1-a".into(),
            instance_type: self
                .mithril
                .resolve_instance_type("h100-80gb.sxm.8x")
                .await
                .unwrap(),
            limit_price: limit_price.parse().unwrap(),
            instance_quantity: 1,
            name: name.into(),
            launch_specification: Default::default(),
            notification_email: None,
        };
        self.mithril
            .create_bid(&request, name)
            .await
            .expect("bid placed by hand")
    }

    /// Reconciles the SpotBid controller has finished, failed ones included.
    pub fn spot_bid_reconciles(&self) -> u64 {
        let exported = self.ctx.metrics.encode();
        exported
            .lines()
            .find_map(|line| {
                line.strip_prefix(r#"mithril_operator_reconciles_total{kind="spotbid"} "#)
            })
            .map_or(0, |count| count.trim().parse().expect("a counter"))
    }

    /// Waits until the SpotBid controller has finished a whole reconcile that started after this
    /// call, so that it has acted on the simulated time and market as they are now. For a test with
    /// one SpotBid: kube-runtime never reconciles one object twice at once, so of the next two
    /// reconciles to finish, the second started after this call.
    pub async fn a_fresh_reconcile(&self) {
        let target = self.spot_bid_reconciles() + 2;
        self.wait_until("a reconcile that started after now", || {
            self.spot_bid_reconciles() >= target
        })
        .await;
    }

    /// Occurrences of events with `reason` about `name` (a repeated event counts each time).
    pub async fn event_count(&self, namespace: &str, name: &str, reason: &str) -> usize {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.kube.clone(), namespace);
        let list = events
            .list(&kube::api::ListParams::default())
            .await
            .expect("events");
        list.items
            .iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                let count = e.series.as_ref().map_or(1, |series| series.count.max(1));
                usize::try_from(count).unwrap_or(1)
            })
            .sum()
    }

    /// What `kubectl get` shows for `path` (e.g. `/apis/mithril.ai/v1alpha1/namespaces/default/spotbids`):
    /// the column names and each row's cells, as text.
    pub async fn table(&self, path: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let request = http::Request::get(path)
            .header(
                http::header::ACCEPT,
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .expect("a request");
        let table: serde_json::Value = self.kube.request(request).await.expect("a Table");
        let columns = table["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|column| column["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        let rows = table["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                row["cells"]
                    .as_array()
                    .expect("cells")
                    .iter()
                    .map(|cell| match cell {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        (columns, rows)
    }

    /// Requests the simulator counted for (method, route template).
    pub fn requests(&self, method: &str, route: &str) -> u64 {
        self.sim.counters().total(method, route)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.controller.take() {
            task.abort();
        }
    }
}
