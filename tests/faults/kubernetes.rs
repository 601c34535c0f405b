//! Kubernetes faults: watches dropped and expired (410 Gone) again and again, and a share of
//! SpotBid writes refused with 409 Conflict and 500. No change is missed (every resource gets its
//! bid and every later edit reaches Mithril) and nothing loops hot (reconciles and Kubernetes
//! requests stay bounded per resource).
//!
//! Size: `MITHRIL_FAULT_KUBE_RESOURCES` (default 20; full: 200).

use crate::support::faults::*;
use futures::{StreamExt, stream};
use kube::api::{Api, Patch, PatchParams, PostParams};
use mithril_api::BidStatus;
use mithril_operator::crd::SpotBid;
use mithril_operator::dev::bench::sum_metric;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Reconciles bounded per resource: a create, a few status updates, the edit, the retries after
/// injected failures; a hot loop runs to thousands.
const RECONCILES_PER_RESOURCE: f64 = 40.0;
const KUBE_WRITES_PER_RESOURCE: usize = 40;

/// Writes the operator made (the test's own creates and edits are taken off by the caller).
fn writes(rig: &mithril_operator::dev::bench::Rig, from: usize) -> usize {
    rig.emulator.request_log()[from..]
        .iter()
        .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete"))
        .count()
}

/// The test's own writes meet the injected failures too: it retries them as a client would,
/// counting its attempts so they are not charged to the operator.
async fn persist<T, F, Fut>(attempts: &AtomicUsize, write: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    loop {
        attempts.fetch_add(1, Ordering::SeqCst);
        match write().await {
            Ok(written) => return written,
            Err(kube::Error::Api(status)) if status.reason != "AlreadyExists" => {
                assert!(
                    matches!(status.code, 409 | 500),
                    "only injected failures are expected: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("test write: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_expired_watches_and_failed_writes_miss_nothing() {
    let resources = env_size("MITHRIL_FAULT_KUBE_RESOURCES", 20);
    let rig = rig(seed(9), u32::try_from(resources).unwrap()).await;
    let operator = start_operator(&rig, &operator_spec()).await;
    let requests_before = rig.emulator.request_log().len();

    rig.emulator.faults().fail_writes(20, 409, Some("spotbids"));
    rig.emulator.faults().fail_writes(10, 500, Some("spotbids"));
    let chaos_on = Arc::new(AtomicBool::new(true));
    let chaos = tokio::spawn({
        let (faults_of, on) = (rig.emulator.clone(), chaos_on.clone());
        async move {
            let mut round = 0u64;
            while on.load(Ordering::SeqCst) {
                if round.is_multiple_of(2) {
                    faults_of.faults().drop_all_watches();
                } else {
                    faults_of.faults().expire_next_watch();
                    faults_of.faults().drop_all_watches();
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            round
        }
    });

    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let test_writes = AtomicUsize::new(0);
    stream::iter(0..resources)
        .for_each_concurrent(8, |index| {
            let (api, test_writes) = (api.clone(), &test_writes);
            async move {
                let (resource, params) = (
                    spot_bid(&resource_name(index)).unwrap(),
                    PostParams::default(),
                );
                persist(test_writes, || api.create(&params, &resource)).await;
            }
        })
        .await;
    let live: BTreeSet<String> = (0..resources).map(resource_name).collect();
    wait_converged(&rig, &live).await;
    // Edits made while the watches keep breaking: each must reach Mithril.
    for index in 0..resources {
        let edit = Patch::Merge(serde_json::json!({"spec": {"limitPrice": "$2.50"}}));
        let (name, params) = (resource_name(index), PatchParams::default());
        persist(&test_writes, || api.patch(&name, &params, &edit)).await;
    }
    wait_for("every edit applied on Mithril", || async {
        let bids = all_bids(&rig).await;
        let live_bids: Vec<_> = bids
            .iter()
            .filter(|bid| bid.status != BidStatus::Terminated)
            .collect();
        live_bids.len() == resources
            && live_bids
                .iter()
                .all(|bid| bid.limit_price.to_string() == "$2.50")
    })
    .await;
    chaos_on.store(false, Ordering::SeqCst);
    let rounds = chaos.await.unwrap();
    rig.emulator.faults().clear_writes();

    let reconciles = sum_metric(&operator.metrics().await.unwrap(), "reconciles_total");
    let kube_writes = writes(&rig, requests_before) - test_writes.load(Ordering::SeqCst);
    let audit = audit(&rig).await;
    println!(
        "resources={resources} watch_faults={rounds} reconciles={reconciles} kube_writes={kube_writes} bids={} duplicates={} missing={}",
        audit.live_bids, audit.duplicates, audit.missing
    );
    assert_eq!(audit.duplicates, 0, "{audit:?}");
    assert_eq!(audit.missing, 0, "{audit:?}");
    assert!(
        reconciles <= RECONCILES_PER_RESOURCE * resources as f64,
        "hot loop: {reconciles} reconciles for {resources} resources"
    );
    assert!(
        kube_writes <= KUBE_WRITES_PER_RESOURCE * resources,
        "hot loop: {kube_writes} Kubernetes writes for {resources} resources"
    );
}
