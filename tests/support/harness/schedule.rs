//! The operator with the InstanceSchedule controller beside the SpotBid one, evaluating windows
//! against the simulator's clock. The test moves that clock; each move is observed (one polling
//! cycle) and announced to the controller, which reconciles exactly the schedules that are due.

use super::{API_KEY, Harness, KubeSide, mithril_client};
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use mithril_api::{ApiKey, HistoryQuery, Instance, InstanceStatus, ListInstancesQuery};
use mithril_operator::controller::{Context, ControllerConfig};
use mithril_operator::crd::{InstanceSchedule, InstanceScheduleStatus};
use mithril_operator::observe::{ObserverRegistry, Polling, RegistryConfig};
use mithril_operator::runtime::metrics::Metrics;
use mithril_sim::{Sim, SimConfig, WorldSpec};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

/// A [`Harness`] whose operator also runs the InstanceSchedule controller on simulated time.
pub struct ScheduleHarness {
    pub h: Harness,
    /// The FID of project `demo`.
    pub project: String,
    clock_moved: mpsc::UnboundedSender<()>,
    schedules: Option<tokio::task::JoinHandle<()>>,
}

impl Deref for ScheduleHarness {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Drop for ScheduleHarness {
    fn drop(&mut self) {
        if let Some(task) = self.schedules.take() {
            task.abort();
        }
    }
}

impl ScheduleHarness {
    /// The default world with only its reservation `demo-reserved` (two RUNNING a100s in
    /// us-central1-a), its simulated time starting at `start` (default 2025-01-01T00:00:00Z).
    pub async fn start(start: Option<jiff::Timestamp>) -> Self {
        Self::start_with(start, ControllerConfig::default()).await
    }

    /// As [`Self::start`], with the operator's settings from `config` (its backoff kept short).
    pub async fn start_with(start: Option<jiff::Timestamp>, config: ControllerConfig) -> Self {
        let mut world = WorldSpec {
            start_time: start,
            ..WorldSpec::default()
        };
        world
            .reservations
            .retain(|reservation| reservation.name == "demo-reserved");
        // A second project every key sees, for schedules of the same account elsewhere.
        world.projects.push(mithril_sim::world_spec::ProjectSpec {
            name: "research".into(),
            fid: None,
        });
        world.any_key_projects.push("research".into());
        let sim = Sim::new(SimConfig {
            world,
            ..SimConfig::default()
        });
        let sim_server = sim
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator serves");
        let base = format!("http://{}", sim_server.addr);
        let (kube, side) = KubeSide::connect().await;
        let connect_base = base.clone();
        let registry = ObserverRegistry::new(
            Arc::new(move |key: &ApiKey| Ok(mithril_client(&connect_base, key))),
            RegistryConfig::default(),
            Polling::Manual,
        );
        let key = ApiKey::new(API_KEY).unwrap();
        let mithril = mithril_client(&base, &key);
        // The observer of `demo` exists and has listed once before any schedule is reconciled,
        // as it has in production a resync after start.
        let project = registry
            .resolve_project(&key, "demo")
            .await
            .expect("project demo");
        registry
            .observer(&key, &project)
            .expect("observer")
            .poll_once()
            .await
            .expect("first listing");
        let config = side.scoped(ControllerConfig {
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            ..config
        });
        let clock = {
            let sim = sim.clone();
            Arc::new(move || sim.now())
        };
        let ctx = Arc::new(
            Context::new(
                side.operator_kube.clone(),
                registry.clone(),
                Some(key),
                Metrics::new(),
                config,
            )
            .with_clock(clock),
        );
        let mut h = Harness {
            sim,
            sim_server,
            kube,
            side,
            registry,
            mithril,
            ctx,
            shutdown: CancellationToken::new(),
            controller: None,
        };
        h.start_controller();
        let (clock_moved, moves) = mpsc::unbounded_channel();
        let (ctx, token) = (h.ctx.clone(), h.shutdown.child_token());
        let namespace = h.side.watch_namespace();
        let schedules = tokio::spawn(async move {
            mithril_operator::controller::instance_schedule::run_with_clock_moves(
                ctx,
                namespace.as_deref(),
                async move { token.cancelled().await },
                UnboundedReceiverStream::new(moves),
            )
            .await;
        });
        Self {
            h,
            project,
            clock_moved,
            schedules: Some(schedules),
        }
    }

    /// Moves simulated time to `instant` (running every lifecycle step due on the way), observes,
    /// and tells the controller the clock moved.
    pub async fn advance_to(&self, instant: jiff::Timestamp) {
        let step = self.sim.now().duration_until(instant);
        let step = Duration::try_from(step).expect("time only moves forward");
        self.advance(step).await;
    }

    /// Moves simulated time by `step`, observes, and tells the controller the clock moved.
    pub async fn advance(&self, step: Duration) {
        self.sim.advance(step);
        self.poll().await;
        self.clock_moved.send(()).expect("controller running");
    }

    /// Moves simulated time without observing or telling the controller: what Mithril does
    /// between two observations.
    pub fn advance_unobserved(&self, step: Duration) {
        self.sim.advance(step);
    }

    /// Tells the controller the clock moved, without observing first: its cache still shows
    /// Mithril as last observed.
    pub fn announce_clock_moved(&self) {
        self.clock_moved.send(()).expect("controller running");
    }

    /// Creates a schedule in `namespace`.
    pub async fn create(&self, namespace: &str, manifest: serde_json::Value) -> InstanceSchedule {
        let mut schedule: InstanceSchedule =
            serde_json::from_value(manifest).expect("an InstanceSchedule manifest");
        schedule.metadata.namespace = Some(namespace.to_owned());
        let api: Api<InstanceSchedule> = Api::namespaced(self.kube.clone(), namespace);
        api.create(&PostParams::default(), &schedule)
            .await
            .expect("InstanceSchedule is accepted")
    }

    /// Waits until the schedule's status satisfies `condition`.
    pub async fn wait_status(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        condition: impl Fn(&InstanceScheduleStatus) -> bool,
    ) -> InstanceScheduleStatus {
        let schedule = self
            .wait_for::<InstanceSchedule>(namespace, name, what, |schedule| {
                schedule.status.as_ref().is_some_and(&condition)
            })
            .await;
        schedule.status.expect("a status")
    }

    /// The reserved instances of `demo`, sorted by FID, as Mithril shows them now.
    pub async fn reserved(&self) -> Vec<Instance> {
        let query = ListInstancesQuery::for_project(&self.project).limit(100);
        let mut instances: Vec<Instance> = self
            .mithril
            .instances(query)
            .filter_map(|instance| async move { instance.ok() })
            .filter(|instance| std::future::ready(instance.reservation.is_some()))
            .collect()
            .await;
        instances.sort_by(|a, b| a.fid.cmp(&b.fid));
        instances
    }

    /// Each reserved instance's status on Mithril now, by FID order.
    pub async fn reserved_statuses(&self) -> Vec<InstanceStatus> {
        self.reserved()
            .await
            .into_iter()
            .map(|instance| instance.status)
            .collect()
    }

    /// Every status an instance went through on Mithril, with when.
    pub async fn history(&self, fid: &str) -> Vec<(jiff::Timestamp, InstanceStatus)> {
        let query = HistoryQuery::for_project(&self.project).instance(fid);
        let page = self
            .mithril
            .instance_status_history(&query)
            .await
            .expect("status history");
        page.items
            .into_iter()
            .flat_map(|history| history.events)
            .map(|event| (event.timestamp, event.status))
            .collect()
    }

    /// `PATCH /v2/instances` requests Mithril received.
    pub fn patches(&self) -> u64 {
        self.requests("PATCH", "/v2/instances")
    }

    /// The events about `name`: (reason, note), one entry per occurrence.
    pub async fn events_about(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        let events: Api<Event> = Api::namespaced(self.kube.clone(), namespace);
        let list = events.list(&ListParams::default()).await.expect("events");
        let mut found: Vec<(String, String)> = list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .flat_map(|e| {
                let count = e.series.as_ref().map_or(1, |series| series.count.max(1));
                let entry = (e.reason.unwrap_or_default(), e.note.unwrap_or_default());
                std::iter::repeat_n(entry, usize::try_from(count).unwrap_or(1))
            })
            .collect();
        found.sort();
        found
    }
}
