//! One benchmark run at one size: the operator process converging N SpotBids, the floor (the same
//! bids placed directly with the Mithril client), the steady state, and two latencies.

use super::error::BenchError;
use super::figures::{Figures, Latencies, RequestCounts, TriggerCounts};
use super::operator_process::{OperatorProcess, OperatorSpec};
use super::rig::Rig;
use super::workload::{self, NAMESPACE, resource_name};
use super::world::{INSTANCE_TYPE, LIMIT_PRICE, PROJECT, REGION, bench_world};
use crate::crd::SpotBid;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use mithril_api::{
    ApiKey, ClientConfig, CreateBidRequest, InstanceStatus, LaunchSpecification,
    ListInstancesQuery, MithrilClient, Price, RateLimit,
};
use mithril_sim::{ClockMode, Sim, SimConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The operator's key with the simulator (which accepts any `fkey_` key).
pub const BENCH_API_KEY: &str = "fkey_mithril_operator_bench";
/// The simulator's route of bid updates (PATCH) and cancellations (DELETE).
const BID_ROUTE: &str = "/v2/spot/bids/{bid_fid}";

/// Everything a run is parameterised by, besides its size.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub binary: PathBuf,
    /// Ended bids placed in the project before the operator starts.
    pub history: usize,
    pub concurrency: u16,
    pub seed: u64,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    pub poll_interval: Duration,
    /// The operator's `--mithril-settle-interval`.
    pub settle_interval: Duration,
    pub resync_interval: Duration,
    /// Resync intervals the steady-state window lasts; 0: convergence only (no steady window,
    /// no latency samples), for a resync too long to wait several of.
    pub steady_resyncs: u32,
    /// Edits (and Mithril-side changes) timed for the latency figures.
    pub latency_samples: usize,
    pub rate_limit: RateLimit,
    /// Bound on each wait for the operator (a failure, never a measured figure).
    pub timeout: Duration,
}

fn sim_config(settings: &RunSettings, resources: usize) -> SimConfig {
    // Room for every resource plus the bids re-placed after the Mithril-side cancellations, and
    // for the history's bids while they win their instances (they end before the run).
    let capacity = u32::try_from(resources.max(settings.history) + settings.latency_samples)
        .unwrap_or(u32::MAX);
    SimConfig {
        seed: settings.seed,
        world: bench_world(capacity),
        api_key: None,
        clock: ClockMode::Scaled(settings.time_scale),
    }
}

fn mithril_client(url: &url::Url, settings: &RunSettings) -> Result<MithrilClient, BenchError> {
    let key = ApiKey::new(BENCH_API_KEY)
        .map_err(|error| BenchError::InvalidArgs(format!("benchmark key: {error}")))?;
    let mut config = ClientConfig::new(url.clone(), key);
    config.rate_limit = settings.rate_limit;
    Ok(MithrilClient::new(config)?)
}

/// Measures the operator at `resources` SpotBids.
pub async fn run(settings: &RunSettings, resources: usize) -> Result<Figures, BenchError> {
    let floor = floor(settings, resources).await?;
    let rig = Rig::start(sim_config(settings, resources)).await?;
    seed_history(&rig, settings).await?;
    let mut spec = OperatorSpec::new(&settings.binary, BENCH_API_KEY);
    spec.concurrency = settings.concurrency;
    spec.mithril_poll_interval = settings.poll_interval;
    spec.mithril_settle_interval = Some(settings.settle_interval);
    spec.resync_interval = settings.resync_interval;
    spec.rate_limit = settings.rate_limit;
    let mut operator = OperatorProcess::spawn(&rig, &spec)?;
    operator.wait_ready(settings.timeout).await?;

    // Convergence: apply everything, wait until every resource is Ready.
    rig.sim.reset_counters();
    let reconciles_before = reconciles(&operator).await?;
    let triggers_before = triggers(&operator).await?;
    let started = Instant::now();
    workload::apply(&rig.kube, resources, usize::from(settings.concurrency)).await?;
    workload::wait_for_count(
        &rig.kube,
        resources,
        "every SpotBid to be Ready",
        settings.timeout,
        workload::is_ready,
    )
    .await?;
    let ready = started.elapsed();
    let convergence = RequestCounts::from_counters(&rig.sim.counters());
    let reconciles_converged = reconciles(&operator).await?;
    let triggers_converged = triggers(&operator).await?;

    // Steady state: nothing changes for several resyncs.
    rig.sim.reset_counters();
    let cycles_before = cycles(&operator).await?;
    tokio::time::sleep(settings.resync_interval * settings.steady_resyncs).await;
    let steady = RequestCounts::from_counters(&rig.sim.counters());
    let cycles_steady = cycles(&operator).await? - cycles_before;
    let reconciles_steady = reconciles(&operator).await? - reconciles_converged;
    let triggers_steady = triggers(&operator).await?.since(&triggers_converged);

    let measured = settings.steady_resyncs > 0;
    let (edit_to_patch, change_to_status) = if measured {
        (
            edit_to_patch(&rig, settings, resources).await?,
            change_to_status(&rig, settings, resources).await?,
        )
    } else {
        (
            Latencies::from_samples(Vec::new()),
            Latencies::from_samples(Vec::new()),
        )
    };
    let usage = operator.usage()?;
    operator.kill().await?;
    rig.shutdown().await;

    Ok(Figures {
        resources,
        history: settings.history,
        ready,
        floor,
        convergence,
        reconciles_convergence: reconciles_converged - reconciles_before,
        steady,
        steady_resyncs: settings.steady_resyncs,
        cycles_steady,
        poll_interval: settings.poll_interval,
        resync_interval: settings.resync_interval,
        reconciles_steady,
        triggers_convergence: triggers_converged.since(&triggers_before),
        triggers_steady,
        peak_rss_bytes: usage.peak_rss_bytes,
        rss_anon_bytes: usage.rss_anon_bytes,
        rss_file_bytes: usage.rss_file_bytes,
        cpu_seconds: usage.cpu_seconds,
        edit_to_patch,
        change_to_status,
    })
}

/// Places `settings.history` bids in the project, lets them win their instances, and cancels
/// them: the ended bids (and instances) a long-lived project keeps on Mithril.
async fn seed_history(rig: &Rig, settings: &RunSettings) -> Result<(), BenchError> {
    if settings.history == 0 {
        return Ok(());
    }
    let client = mithril_client(&rig.mithril_url, settings)?;
    let request = bid_request(&client).await?;
    let concurrency = usize::from(settings.concurrency).max(1);
    let placed: Vec<String> = stream::iter(0..settings.history)
        .map(|index| {
            let (client, mut request) = (&client, request.clone());
            request.name = format!("history-{index:05}");
            async move {
                let key = request.name.clone();
                client.create_bid(&request, &key).await.map(|bid| bid.fid)
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    // Two clearings of the bench world (10 simulated seconds each): every one has won.
    tokio::time::sleep(Duration::from_secs_f64(20.0 / settings.time_scale)).await;
    stream::iter(placed)
        .map(|fid| {
            let client = &client;
            async move { client.cancel_bid(&fid).await }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// A one-instance bid in the bench auction at the bench limit (named by the caller).
async fn bid_request(client: &MithrilClient) -> Result<CreateBidRequest, BenchError> {
    Ok(CreateBidRequest {
        project: client.resolve_project(PROJECT).await?,
        region: REGION.to_owned(),
        instance_type: client.resolve_instance_type(INSTANCE_TYPE).await?,
        limit_price: LIMIT_PRICE
            .parse()
            .map_err(|error| BenchError::InvalidArgs(format!("limit price: {error}")))?,
        instance_quantity: 1,
        name: String::new(),
        launch_specification: LaunchSpecification::default(),
        notification_email: None,
    })
}

/// The floor: the same bids placed directly with the Mithril client at the same concurrency, on
/// a fresh simulator of the same world, then polled at the operator's interval until every
/// instance runs.
async fn floor(settings: &RunSettings, resources: usize) -> Result<Duration, BenchError> {
    let sim = Sim::try_new(sim_config(settings, resources))?;
    let server = sim.serve((std::net::Ipv4Addr::LOCALHOST, 0).into()).await?;
    let client = mithril_client(&url::Url::parse(&server.url())?, settings)?;
    let project = client.resolve_project(PROJECT).await?;
    let instance_type = client.resolve_instance_type(INSTANCE_TYPE).await?;
    let limit_price: Price = LIMIT_PRICE
        .parse()
        .map_err(|error| BenchError::InvalidArgs(format!("limit price: {error}")))?;

    let started = Instant::now();
    stream::iter(0..resources)
        .map(|index| {
            let request = CreateBidRequest {
                project: project.clone(),
                region: REGION.to_owned(),
                instance_type: instance_type.clone(),
                limit_price,
                instance_quantity: 1,
                name: format!("floor-{index:05}"),
                launch_specification: LaunchSpecification::default(),
                notification_email: None,
            };
            let client = &client;
            async move {
                client
                    .create_bid(&request, &format!("floor-{index}"))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(usize::from(settings.concurrency).max(1))
        .try_collect::<()>()
        .await?;
    let deadline = started + settings.timeout;
    loop {
        let running = client
            .instances(
                ListInstancesQuery::for_project(project.clone())
                    .status_in([InstanceStatus::Running]),
            )
            .try_fold(0usize, |count, _| async move { Ok(count + 1) })
            .await?;
        if running >= resources {
            break;
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: "the floor's instances to run".into(),
                after: settings.timeout,
            });
        }
        tokio::time::sleep(settings.poll_interval).await;
    }
    let elapsed = started.elapsed();
    server.shutdown().await;
    Ok(elapsed)
}

/// Time from a limit-price edit of a resource to the PATCH of its bid on Mithril, one edit at a
/// time.
async fn edit_to_patch(
    rig: &Rig,
    settings: &RunSettings,
    resources: usize,
) -> Result<Latencies, BenchError> {
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let mut samples = Vec::new();
    for index in 0..settings.latency_samples.min(resources) {
        let before = rig.sim.counters().total("PATCH", BID_ROUTE);
        let started = Instant::now();
        api.patch(
            &resource_name(index),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"limitPrice": "$2.50"}})),
        )
        .await?;
        wait_until(settings.timeout, "the bid's PATCH on Mithril", || {
            rig.sim.counters().total("PATCH", BID_ROUTE) > before
        })
        .await?;
        samples.push(started.elapsed());
    }
    Ok(Latencies::from_samples(samples))
}

/// Time from a change made on Mithril behind the operator's back (the bid is cancelled) to the
/// resource's status showing it (a new bid FID, or phase Terminated).
async fn change_to_status(
    rig: &Rig,
    settings: &RunSettings,
    resources: usize,
) -> Result<Latencies, BenchError> {
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let client = mithril_client(&rig.mithril_url, settings)?;
    let first = settings.latency_samples.min(resources / 2);
    let mut samples = Vec::new();
    for index in first..(first + settings.latency_samples).min(resources) {
        let name = resource_name(index);
        let resource = api.get(&name).await?;
        let Some(old_fid) = resource.status.and_then(|status| status.bid_fid) else {
            continue;
        };
        let started = Instant::now();
        client.cancel_bid(&old_fid).await?;
        let shown = await_condition(api.clone(), &name, |resource: Option<&SpotBid>| {
            resource
                .and_then(|r| r.status.as_ref())
                .is_some_and(|status| {
                    status.bid_fid.as_deref() != Some(old_fid.as_str())
                        || status.phase == Some(crate::crd::SpotBidPhase::Terminated)
                })
        });
        tokio::time::timeout(settings.timeout, shown)
            .await
            .map_err(|_| BenchError::Timeout {
                what: format!("{name}'s status to show its cancelled bid"),
                after: settings.timeout,
            })?
            .map_err(|error| BenchError::Operator(format!("watching {name}: {error}")))?;
        samples.push(started.elapsed());
    }
    Ok(Latencies::from_samples(samples))
}

/// Looks at state outside Kubernetes (the simulator's counters) every millisecond until `check`
/// holds: the resolution of the latency figures.
async fn wait_until(
    within: Duration,
    what: &str,
    check: impl Fn() -> bool,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + within;
    while !check() {
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: what.to_owned(),
                after: within,
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Reconciles the operator ran so far, summed over controllers, from its `/metrics`.
async fn triggers(operator: &OperatorProcess) -> Result<TriggerCounts, BenchError> {
    Ok(TriggerCounts::from_exposition(&operator.metrics().await?))
}

/// Observation cycles the operator's observers completed so far, from its `/metrics`.
async fn cycles(operator: &OperatorProcess) -> Result<u64, BenchError> {
    let exposition = operator.metrics().await?;
    Ok(super::figures::sum_metric(&exposition, "observer_cycle_duration_seconds_count") as u64)
}

async fn reconciles(operator: &OperatorProcess) -> Result<u64, BenchError> {
    Ok(super::figures::sum_metric(&operator.metrics().await?, "reconciles_total") as u64)
}
