//! What the fault scenarios share: the rig (emulator and simulator in this process), the operator
//! as a separate process, sizes from the environment, waits on observable state with deadlines,
//! and the audit of Mithril's bids against the SpotBids.
#![allow(dead_code)]

pub mod partition;

use futures::TryStreamExt;
use kube::api::{Api, ListParams};
use mithril_api::{
    ApiKey, Bid, BidStatus, ClientConfig, ListBidsQuery, MithrilClient, RateLimit, RetryPolicy,
};
use mithril_operator::controller::spot_bid::names::{parse_bid_name, uid_tag};
use mithril_operator::crd::SpotBid;
use mithril_operator::dev::bench::{BENCH_API_KEY, OperatorProcess, OperatorSpec, Rig};
use mithril_sim::{ClockMode, SimConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

// For the fault tests; the other test binaries compile the support without using it.
#[allow(unused_imports)]
pub use mithril_operator::dev::bench::workload::{NAMESPACE, resource_name, spot_bid};

/// Bound on each wait for a state the operator must reach: generous, it only bounds a failure.
pub const CONVERGE: Duration = Duration::from_secs(120);

/// A size from the environment (the full sizes of the scenarios), else the CI default.
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The seed of a scenario's randomness: `MITHRIL_FAULT_SEED`, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("MITHRIL_FAULT_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The benchmark world (room for every bid) on a scaled clock, so bids are allocated and run.
pub async fn rig(seed: u64, capacity: u32) -> Rig {
    Rig::start(rig_config(seed, capacity))
        .await
        .expect("emulator and simulator start")
}

/// [`rig`]'s simulator beside an existing cluster (a real API server): `kube` for the test, the
/// operator processes on `operator_kubeconfig` (YAML).
pub async fn rig_on_cluster(
    seed: u64,
    capacity: u32,
    kube: kube::Client,
    operator_kubeconfig: &str,
) -> Rig {
    Rig::start_on_cluster(rig_config(seed, capacity), kube, operator_kubeconfig)
        .await
        .expect("simulator starts")
}

fn rig_config(seed: u64, capacity: u32) -> SimConfig {
    SimConfig {
        seed,
        world: mithril_operator::dev::bench::world::bench_world(capacity),
        api_key: None,
        clock: ClockMode::Scaled(10.0),
    }
}

/// One operator replica of the built binary, polling Mithril often.
pub fn operator_spec() -> OperatorSpec {
    let mut spec = OperatorSpec::new(env!("CARGO_BIN_EXE_mithril-operator"), BENCH_API_KEY);
    spec.mithril_poll_interval = Duration::from_millis(300);
    spec.resync_interval = Duration::from_secs(5);
    // The simulator commits every write before answering (or not at all) here: a lost answer
    // shows within one list.
    spec.create_grace = Duration::from_secs(3);
    spec
}

pub async fn start_operator(rig: &Rig, spec: &OperatorSpec) -> OperatorProcess {
    let mut operator = OperatorProcess::spawn(rig, spec).expect("operator starts");
    operator
        .wait_ready(CONVERGE)
        .await
        .expect("operator becomes ready");
    operator
}

/// A Mithril client with the operator's key (it sees the same project), for audits and for
/// changes made behind the operator's back.
pub fn mithril(rig: &Rig) -> MithrilClient {
    let mut config =
        ClientConfig::new(rig.mithril_url.clone(), ApiKey::new(BENCH_API_KEY).unwrap());
    config.rate_limit = RateLimit {
        per_second: 1_000.0,
        burst: 100,
    };
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..config.retry
    };
    MithrilClient::new(config).unwrap()
}

/// Waits until `check` holds; panics with `what` after [`CONVERGE`].
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    super::wait_for(what, CONVERGE, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Every SpotBid of the namespace.
pub async fn spot_bids(rig: &Rig) -> Vec<SpotBid> {
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    api.list(&ListParams::default()).await.expect("list").items
}

/// Every bid on Mithril the operator's key sees, all statuses.
pub async fn all_bids(rig: &Rig) -> Vec<Bid> {
    let client = mithril(rig);
    client
        .bids(ListBidsQuery::default().limit(100))
        .try_collect()
        .await
        .expect("bids list")
}

/// Waits until exactly the SpotBids named in `live` exist and each reports its bid placed.
pub async fn wait_converged(rig: &Rig, live: &BTreeSet<String>) {
    wait_for(
        "every live SpotBid placed and every deleted one gone",
        || async {
            let resources = spot_bids(rig).await;
            let names: BTreeSet<String> = resources
                .iter()
                .filter_map(|r| r.metadata.name.clone())
                .collect();
            &names == live
                && resources
                    .iter()
                    .all(|r| r.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
        },
    )
    .await;
}

/// How Mithril's bids compare with the SpotBids.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Live (not Terminated) bids.
    pub live_bids: usize,
    /// Bids ever placed beyond the first for one resource (any status).
    pub duplicates: usize,
    /// Live bids whose resource no longer exists.
    pub leaked: usize,
    /// Live resources without a live bid.
    pub missing: usize,
}

/// Compares Mithril's bids with the live SpotBids, by the resource uid each bid's name carries.
pub async fn audit(rig: &Rig) -> Audit {
    let resources = spot_bids(rig).await;
    let expected: BTreeSet<String> = resources
        .iter()
        .map(|r| uid_tag(r.metadata.uid.as_deref().unwrap()))
        .collect();
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut live_bids = 0;
    for bid in all_bids(rig).await {
        let Some(owner) = parse_bid_name(&bid.name).map(|parsed| parsed.uid.to_owned()) else {
            continue;
        };
        *placed.entry(owner.clone()).or_insert(0) += 1;
        if bid.status != BidStatus::Terminated {
            live_bids += 1;
            live.insert(owner);
        }
    }
    Audit {
        live_bids,
        duplicates: placed.values().map(|count| count - 1).sum(),
        leaked: live.difference(&expected).count(),
        missing: expected.difference(&live).count(),
    }
}
