//! Randomized money-safety runs: per seed, a random sequence of SpotBid creates, edits, deletes,
//! operator crashes and leader changes, market moves and Mithril faults (5xx, 429, lost answers,
//! writes that land late, lagging and reordered lists), then everything settles and is checked:
//!
//! - no resource is represented by two live bids for longer than the grace allows;
//! - after settling, every live SpotBid has exactly one live bid and no bid this cluster placed
//!   is live without its SpotBid;
//! - no bid is ever placed for a resource that is observe-only, paused for reconcile or invalid.
//!
//! Every third seed also runs the SpotPool controller and creates, scales and deletes SpotPools
//! beside the SpotBids: their SpotBids are held to the same rules, and after settling each pool's
//! SpotBids ask for its replicas.
//!
//! Prints one line, e.g. `seeds=50 ops=1200 duplicates=0 leaked=0 stuck=0 forbidden=0`.
//! Size: `MITHRIL_CHAOS_SEEDS` (default 12), `MITHRIL_CHAOS_OPS` per seed (default 24), first seed
//! `MITHRIL_CHAOS_FIRST_SEED` (default 0), seeds at once `MITHRIL_CHAOS_PARALLEL` (default 4; each
//! has its own simulator, emulator and operator); a failing seed reruns alone with
//! `MITHRIL_CHAOS_FIRST_SEED=N MITHRIL_CHAOS_SEEDS=1`.

use crate::support::harness::{CLUSTER, Harness, test_config};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use mithril_operator::controller::ControllerConfig;
use mithril_operator::controller::spot_bid::names::{parse_bid_name, uid_tag};
use mithril_operator::crd::{POOL_LABEL, SpotBid, SpotPool};
use mithril_sim::{FaultSpec, Sim, SimConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const NS: &str = "default";
const NAMES: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];
const POOLS: [&str; 2] = ["pool-x", "pool-y"];

/// Whether a seed drives SpotPools too: every third one, so a failing seed reruns by number.
fn with_pools(seed: u64) -> bool {
    seed.is_multiple_of(3)
}

fn pool_manifest(name: &str, replicas: i32, block_size: i32, price_cents: u64) -> SpotPool {
    serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas, "blockSize": block_size,
            "template": {
                "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
                "limitPrice": format!("${}.{:02}", price_cents / 100, price_cents % 100),
            },
        },
    }))
    .unwrap()
}
/// How long a resource may show two live bids: a late write must land, show in a lagging list
/// and be cancelled (grace, lag, a poll and a reconcile or two).
const TWIN_ALLOWANCE: Duration = Duration::from_secs(4);
const SETTLE: Duration = Duration::from_secs(60);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn config() -> ControllerConfig {
    ControllerConfig {
        resync: Duration::from_millis(300),
        create_grace: Duration::from_millis(1500),
        orphan_grace: Some(Duration::from_secs(1)),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..test_config()
    }
}

/// What the run found for one seed.
#[derive(Debug, Default)]
struct Findings {
    ops: u64,
    duplicates: Vec<String>,
    leaked: Vec<String>,
    stuck: Vec<String>,
    forbidden: Vec<String>,
}

/// Watches Mithril as it really is (no faults, no lag): how long each resource has had two live
/// bids, and whether a forbidden resource ever got one.
#[derive(Default)]
struct Watch {
    twins_since: BTreeMap<String, Instant>,
    forbidden: BTreeSet<String>,
    findings: Vec<String>,
}

fn live_by_owner(sim: &Sim) -> BTreeMap<String, Vec<String>> {
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (fid, name, live) in sim.bids_as_held() {
        if let Some(parsed) = parse_bid_name(&name).filter(|p| p.cluster == Some(CLUSTER))
            && live
        {
            owners.entry(parsed.uid.to_owned()).or_default().push(fid);
        }
    }
    owners
}

impl Watch {
    fn look(&mut self, sim: &Sim) {
        let now = Instant::now();
        let owners = live_by_owner(sim);
        self.twins_since
            .retain(|owner, _| owners.get(owner).is_some_and(|fids| fids.len() > 1));
        for (owner, fids) in &owners {
            if self.forbidden.contains(owner) {
                let finding = format!("a bid for forbidden resource {owner}: {fids:?}");
                if !self.findings.contains(&finding) {
                    self.findings.push(finding);
                }
            }
            if fids.len() > 1 {
                let since = *self.twins_since.entry(owner.clone()).or_insert(now);
                if now - since > TWIN_ALLOWANCE {
                    let finding = format!("resource {owner} had live bids {fids:?} for too long");
                    if !self.findings.iter().any(|f| f.starts_with(&finding[..20])) {
                        self.findings.push(finding);
                    }
                }
            }
        }
    }
}

/// What kind of SpotBid a create makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    ObserveOnly,
    ReconcilePaused,
    Invalid,
}

fn manifest(name: &str, kind: Kind, price_cents: u64) -> SpotBid {
    let annotations = match kind {
        Kind::ObserveOnly => json!({"mithril.ai/observe-only": "true"}),
        Kind::ReconcilePaused => json!({"mithril.ai/reconcile-paused": "true"}),
        _ => json!({}),
    };
    let instance_type = if kind == Kind::Invalid {
        "no-such-type"
    } else {
        "h100-80gb.sxm.8x"
    };
    serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": {
            "project": "demo", "region": "us-central1-a", "instanceType": instance_type,
            "instanceQuantity": 1,
            "limitPrice": format!("${}.{:02}", price_cents / 100, price_cents % 100),
        },
    }))
    .expect("a SpotBid")
}

fn faults(rng: &mut StdRng) -> FaultSpec {
    let pick = |rng: &mut StdRng, share: f64| if rng.random_bool(0.5) { share } else { 0.0 };
    FaultSpec {
        error_5xx: pick(rng, 0.1),
        throttle_429: pick(rng, 0.05),
        retry_after: Duration::from_millis(100),
        drop_after: pick(rng, 0.05),
        late_commit: pick(rng, 0.2),
        late_commit_delay: Duration::from_millis(rng.random_range(200..700)),
        list_lag: Duration::from_millis(if rng.random_bool(0.5) { 400 } else { 0 }),
        ..FaultSpec::default()
    }
}

async fn run_seed(seed: u64, ops: u64) -> Findings {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = Harness::start_with(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await;
    h.restart_operator_with(config()).await;
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), NS);
    let watch = Arc::new(Mutex::new(Watch::default()));
    let watcher = {
        let (watch, sim) = (watch.clone(), h.sim.clone());
        tokio::spawn(async move {
            loop {
                watch.lock().unwrap().look(&sim);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let pools_api: Api<SpotPool> = Api::namespaced(h.kube.clone(), NS);
    let stop_pools = tokio_util::sync::CancellationToken::new();
    let pool_controller = with_pools(seed).then(|| {
        let (ctx, token) = (h.ctx.clone(), stop_pools.clone());
        tokio::spawn(async move {
            mithril_operator::controller::spot_pool::run(ctx, Some(NS), async move {
                token.cancelled().await
            })
            .await;
        })
    });
    // Pools by name: replicas of those the test created and has not deleted.
    let mut pools: BTreeMap<&str, i32> = BTreeMap::new();
    h.sim.faults().set_all(faults(&mut rng));
    // Resources by name: uid and kind of those the test created and has not deleted.
    let mut resources: BTreeMap<&str, (String, Kind)> = BTreeMap::new();
    let mut findings = Findings::default();
    for _ in 0..ops {
        findings.ops += 1;
        let name = NAMES[rng.random_range(0..NAMES.len())];
        match rng.random_range(0..100) {
            0..35 if !resources.contains_key(name) => {
                let kind = match rng.random_range(0..10) {
                    0 => Kind::ObserveOnly,
                    1 => Kind::ReconcilePaused,
                    2 => Kind::Invalid,
                    _ => Kind::Normal,
                };
                let price = rng.random_range(900..1400);
                if let Ok(created) = api
                    .create(&PostParams::default(), &manifest(name, kind, price))
                    .await
                {
                    let uid = uid_tag(created.metadata.uid.as_deref().unwrap_or_default());
                    if kind != Kind::Normal {
                        watch.lock().unwrap().forbidden.insert(uid.clone());
                    }
                    resources.insert(name, (uid, kind));
                }
            }
            35..50 if resources.contains_key(name) => {
                let price = rng.random_range(900..1400);
                let spec =
                    json!({"spec": {"limitPrice": format!("${}.{:02}", price / 100, price % 100)}});
                let _ = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(spec))
                    .await;
            }
            50..58 if resources.contains_key(name) => {
                let spec = json!({"spec": {"paused": rng.random_bool(0.5)}});
                let _ = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(spec))
                    .await;
            }
            58..72 if resources.contains_key(name) => {
                let deleted = api.delete(name, &DeleteParams::default()).await;
                if deleted.is_ok() {
                    resources.remove(name);
                }
            }
            72..80 => h.restart_operator_with(config()).await,
            80..88 => h
                .sim
                .advance(Duration::from_secs(60 * rng.random_range(1..4))),
            88..92 => {
                let _ = h.sim.add_demand(
                    "us-central1-a",
                    "h100-80gb.sxm.8x",
                    rng.random_range(1..16),
                    rng.random_range(900..1500),
                );
            }
            92..100 if with_pools(seed) => {
                let pool = POOLS[rng.random_range(0..POOLS.len())];
                let replicas = rng.random_range(0..5);
                match (pools.contains_key(pool), rng.random_range(0..3)) {
                    (false, _) => {
                        let manifest = pool_manifest(pool, replicas, rng.random_range(1..3), 1200);
                        if pools_api
                            .create(&PostParams::default(), &manifest)
                            .await
                            .is_ok()
                        {
                            pools.insert(pool, replicas);
                        }
                    }
                    (true, 0) => {
                        if pools_api
                            .delete(pool, &DeleteParams::default())
                            .await
                            .is_ok()
                        {
                            pools.remove(pool);
                        }
                    }
                    (true, _) => {
                        let scale = json!({"spec": {"replicas": replicas}});
                        if pools_api
                            .patch_scale(pool, &PatchParams::default(), &Patch::Merge(scale))
                            .await
                            .is_ok()
                        {
                            pools.insert(pool, replicas);
                        }
                    }
                }
            }
            _ => {}
        }
        if rng.random_bool(0.5) {
            h.poll().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..200))).await;
    }

    // Settle: no more faults; everything must converge.
    h.sim.faults().clear();
    let deadline = Instant::now() + SETTLE;
    let (mut leaked, mut stuck) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        h.poll().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let owners = live_by_owner(&h.sim);
        let present = api.list(&Default::default()).await.map(|l| l.items);
        let Ok(present) = present else { continue };
        let mut expected: BTreeMap<String, Kind> = resources.values().cloned().collect();
        // A live pool's SpotBids are expected like the test's own; a deleted pool's must go.
        let mut asked: BTreeMap<String, i32> = BTreeMap::new();
        for child in &present {
            let pool = child.labels().get(POOL_LABEL).cloned().unwrap_or_default();
            if pools.contains_key(pool.as_str()) && child.metadata.deletion_timestamp.is_none() {
                let uid = uid_tag(child.metadata.uid.as_deref().unwrap_or_default());
                expected.insert(uid, Kind::Normal);
                *asked.entry(pool).or_default() += child.spec.instance_quantity;
            }
        }
        let pools_off: Vec<String> = pools
            .iter()
            .filter(|(pool, replicas)| asked.get(**pool).copied().unwrap_or(0) != **replicas)
            .map(|(pool, replicas)| format!("pool {pool}: {asked:?} asked for, {replicas} wanted"))
            .collect();
        stuck = present
            .iter()
            .filter(|r| {
                let uid = uid_tag(r.metadata.uid.as_deref().unwrap_or_default());
                match expected.get(&uid) {
                    // Deleted by the test: must be gone.
                    None => true,
                    Some(Kind::Normal) => owners.get(&uid).is_none_or(|fids| fids.len() != 1),
                    Some(_) => false,
                }
            })
            .map(|r| r.metadata.name.clone().unwrap_or_default())
            .chain(pools_off)
            .collect();
        leaked = owners
            .iter()
            .filter(|(owner, _)| expected.get(*owner) != Some(&Kind::Normal))
            .map(|(owner, fids)| format!("{owner}: {fids:?}"))
            .collect();
        if stuck.is_empty() && leaked.is_empty() {
            break;
        }
    }
    watcher.abort();
    stop_pools.cancel();
    if let Some(task) = pool_controller {
        task.abort();
    }
    let watch = watch.lock().unwrap();
    let (forbidden, twins): (Vec<String>, Vec<String>) = watch
        .findings
        .iter()
        .cloned()
        .partition(|f| f.starts_with("a bid for forbidden"));
    findings.duplicates = twins;
    findings.forbidden = forbidden;
    findings.leaked = leaked;
    findings.stuck = stuck;
    findings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_runs_never_duplicate_or_leak_a_bid() {
    let seeds = env_number("MITHRIL_CHAOS_SEEDS", 12);
    let first = env_number("MITHRIL_CHAOS_FIRST_SEED", 0);
    let ops = env_number("MITHRIL_CHAOS_OPS", 24);
    let parallel = env_number("MITHRIL_CHAOS_PARALLEL", 4).max(1);
    let runs: Vec<(u64, Findings)> = futures::stream::iter(first..first + seeds)
        .map(|seed| async move { (seed, run_seed(seed, ops).await) })
        .buffer_unordered(usize::try_from(parallel).unwrap_or(1))
        .collect()
        .await;
    let (mut total_ops, mut failures) = (0, Vec::new());
    let mut counts = [0usize; 4];
    for (seed, findings) in runs {
        total_ops += findings.ops;
        let kinds = [
            &findings.duplicates,
            &findings.leaked,
            &findings.stuck,
            &findings.forbidden,
        ];
        for (count, found) in counts.iter_mut().zip(kinds) {
            *count += found.len();
        }
        if kinds.iter().any(|found| !found.is_empty()) {
            failures.push(format!("seed {seed}: {findings:?}"));
        }
    }
    // Straight to stderr, past the test runner's capture: the run's figure belongs in CI's log.
    let _ = writeln!(
        std::io::stderr(),
        "seeds={seeds} ops={total_ops} duplicates={} leaked={} stuck={} forbidden={}",
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    assert!(
        failures.is_empty(),
        "rerun one with MITHRIL_CHAOS_FIRST_SEED=N MITHRIL_CHAOS_SEEDS=1:\n{}",
        failures.join("\n")
    );
}
