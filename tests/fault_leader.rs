//! High availability: two operator processes elect a leader on a Lease; the leader is killed with
//! SIGKILL; the other replica takes the Lease over and carries on, and no resource gets two bids.
//! The takeover time is printed (bounded by the lease duration), never asserted.
//!
//! Size: `MITHRIL_FAULT_HA_RESOURCES` (default 20).
//!
//! With `MITHRIL_TEST_KUBE=real` (tests/operator_harness/real.rs) the replicas run against a real
//! API server as the operator's ServiceAccount, watching namespace `default`, and elect on a real
//! Lease in the operator's own namespace (the only one `deploy/base` grants Leases in). Its
//! SpotBids stay in `default` afterwards (no one removes their finalizers): a fresh server per run.

mod fault_support;
#[path = "operator_harness/real.rs"]
mod real;

use fault_support::*;
use futures::{StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use mithril_operator::bench::{Election, OperatorProcess};
use mithril_operator::crd::SpotBid;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const LEASE: &str = "mithril-operator-ha";
const LEASE_DURATION: Duration = Duration::from_secs(4);

/// Where the replicas elect: (namespace, Lease name).
type LeaseAt = (String, String);

async fn holder(rig: &mithril_operator::bench::Rig, (namespace, name): &LeaseAt) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(rig.kube.clone(), namespace);
    leases
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity)
}

async fn create(rig: &mithril_operator::bench::Rig, indices: std::ops::Range<usize>) {
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    stream::iter(indices)
        .for_each_concurrent(8, |index| {
            let api = api.clone();
            async move {
                let resource = spot_bid(&resource_name(index)).unwrap();
                api.create(&PostParams::default(), &resource)
                    .await
                    .expect("create");
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_leader_is_killed() {
    let resources = env_size("MITHRIL_FAULT_HA_RESOURCES", 20);
    let capacity = u32::try_from(resources * 2).unwrap();
    // On a real server: the rig's client is the admin, the replicas run on the ServiceAccount's
    // token, and the Lease (one per run) lives where deploy/base grants Leases.
    let cluster = match real::kubeconfig() {
        Some(kubeconfig) => Some(real::RealCluster::connect(kubeconfig).await),
        None => None,
    };
    let (rig, lease) = match &cluster {
        Some(cluster) => {
            let kubeconfig = cluster.operator_kubeconfig_yaml();
            let rig = rig_on_cluster(seed(3), capacity, cluster.admin.clone(), &kubeconfig).await;
            let name = format!("{LEASE}-{}", cluster.namespace);
            (rig, (real::OPERATOR_NAMESPACE.to_owned(), name))
        }
        None => (
            rig(seed(3), capacity).await,
            (NAMESPACE.to_owned(), LEASE.to_owned()),
        ),
    };
    let replica = |identity: &str| {
        let mut spec = operator_spec();
        spec.identity = identity.to_owned();
        if cluster.is_some() {
            spec.namespace = Some(NAMESPACE.to_owned());
        }
        spec.election = Some(Election {
            lease_name: lease.1.clone(),
            namespace: lease.0.clone(),
            lease_duration: LEASE_DURATION,
            renew_grace: Duration::from_secs(1),
        });
        spec
    };
    let first = start_operator(&rig, &replica("replica-a")).await;
    wait_for("replica-a leads", || async {
        holder(&rig, &lease).await.as_deref() == Some("replica-a")
    })
    .await;
    let second = OperatorProcess::spawn(&rig, &replica("replica-b")).expect("replica-b starts");

    create(&rig, 0..resources).await;
    let half: BTreeSet<String> = (0..resources).map(resource_name).collect();
    wait_converged(&rig, &half).await;

    let killed = Instant::now();
    first.kill().await.expect("kill -9 the leader");
    wait_for("replica-b takes the Lease over", || async {
        holder(&rig, &lease).await.as_deref() == Some("replica-b")
    })
    .await;
    let takeover = killed.elapsed();

    create(&rig, resources..2 * resources).await;
    let all: BTreeSet<String> = (0..2 * resources).map(resource_name).collect();
    wait_converged(&rig, &all).await;
    let audit = audit(&rig).await;
    println!(
        "takeover_ms={} lease_duration_ms={} bids={} duplicates={} leaked={} missing={}",
        takeover.as_millis(),
        LEASE_DURATION.as_millis(),
        audit.live_bids,
        audit.duplicates,
        audit.leaked,
        audit.missing
    );
    assert_eq!(audit.live_bids, 2 * resources, "{audit:?}");
    assert_eq!(audit.duplicates, 0, "{audit:?}");
    assert_eq!(audit.missing, 0, "{audit:?}");
    drop(second);
}
