//! Mithril faults: 20 % of requests answered 503, 10 % answered 429 with `Retry-After`, and 500 ms
//! added to every request, on every route. Everything still converges (every SpotBid Ready), no
//! resource gets two bids, and the operator sends at most three times the requests of the same
//! work without faults.
//!
//! Size: `MITHRIL_FAULT_MITHRIL_RESOURCES` (default 20; full: 200), seed `MITHRIL_FAULT_SEED`.

use crate::support::faults::*;
use futures::{StreamExt, stream};
use kube::api::{Api, PostParams};
use mithril_operator::crd::SpotBid;
use mithril_operator::dev::bench::workload::is_ready;
use mithril_sim::FaultSpec;
use std::collections::BTreeSet;
use std::time::Duration;

/// Applies `resources` SpotBids to a fresh operator and waits until all are Ready; returns the
/// Mithril requests the operator made until then and the audit.
async fn converge(resources: usize, seed: u64, faults: Option<FaultSpec>) -> (u64, Audit) {
    let rig = rig(seed, u32::try_from(resources).unwrap()).await;
    let _operator = start_operator(&rig, &operator_spec()).await;
    if let Some(spec) = faults {
        rig.sim.faults().set_all(spec);
    }
    rig.sim.reset_counters();
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    stream::iter(0..resources)
        .for_each_concurrent(16, |index| {
            let api = api.clone();
            async move {
                let resource = spot_bid(&resource_name(index)).unwrap();
                api.create(&PostParams::default(), &resource)
                    .await
                    .expect("create");
            }
        })
        .await;
    let live: BTreeSet<String> = (0..resources).map(resource_name).collect();
    wait_converged(&rig, &live).await;
    wait_for("every SpotBid Ready", || async {
        let all = spot_bids(&rig).await;
        all.len() == resources && all.iter().all(is_ready)
    })
    .await;
    let requests = rig.sim.counters().grand_total();
    // The audit reads Mithril itself: without faults, so it sees the truth.
    rig.sim.faults().clear();
    (requests, audit(&rig).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_without_duplicates_under_5xx_429_and_latency() {
    let resources = env_size("MITHRIL_FAULT_MITHRIL_RESOURCES", 20);
    let seed = seed(5);
    let (fault_free, clean) = converge(resources, seed, None).await;
    assert_eq!(clean.duplicates, 0, "{clean:?}");

    let faults = FaultSpec {
        error_5xx: 0.2,
        throttle_429: 0.1,
        retry_after: Duration::from_secs(1),
        latency: Duration::from_millis(500),
        ..FaultSpec::default()
    };
    let (faulted, audit) = converge(resources, seed, Some(faults)).await;
    println!(
        "resources={resources} requests_fault_free={fault_free} requests_faulted={faulted} ratio={:.2} bids={} duplicates={} leaked={} missing={}",
        faulted as f64 / fault_free as f64,
        audit.live_bids,
        audit.duplicates,
        audit.leaked,
        audit.missing
    );
    assert_eq!(audit.live_bids, resources, "{audit:?}");
    assert_eq!(audit.duplicates, 0, "{audit:?}");
    assert_eq!(audit.missing, 0, "{audit:?}");
    assert!(
        faulted <= 3 * fault_free,
        "{faulted} requests under faults, more than 3 x {fault_free} without"
    );
}
