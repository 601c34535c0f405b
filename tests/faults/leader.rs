//! High availability: two operator processes elect a leader on a Lease; the leader is killed with
//! SIGKILL; the other replica takes the Lease over and carries on, and no resource gets two bids.
//! The takeover time is printed (bounded by the lease duration), never asserted.
//!
//! Size: `MITHRIL_FAULT_HA_RESOURCES` (default 20).
//!
//! With `MITHRIL_TEST_KUBE=real` (tests/support/harness/real.rs) the replicas run against a real
//! API server as the operator's ServiceAccount, watching namespace `default`, and elect on a real
//! Lease in the operator's own namespace (the only one `deploy/base` grants Leases in). Its
//! SpotBids stay in `default` afterwards (no one removes their finalizers): a fresh server per run.

use crate::support::harness::real;

use crate::support::faults::partition::{MithrilTap, Relay};
use crate::support::faults::*;
use futures::{StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use mithril_operator::crd::SpotBid;
use mithril_operator::dev::bench::{Election, OperatorProcess, OperatorSpec};
use mithril_sim::FaultSpec;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const LEASE: &str = "mithril-operator-ha";
const LEASE_DURATION: Duration = Duration::from_secs(4);

/// Where the replicas elect: (namespace, Lease name).
type LeaseAt = (String, String);

/// One replica named `identity`, electing on `lease`.
fn elected(identity: &str, (namespace, name): &LeaseAt) -> OperatorSpec {
    let mut spec = operator_spec();
    spec.identity = identity.to_owned();
    spec.election = Some(Election {
        lease_name: name.clone(),
        namespace: namespace.clone(),
        lease_duration: LEASE_DURATION,
        renew_grace: Duration::from_secs(1),
    });
    spec
}

async fn holder(
    rig: &mithril_operator::dev::bench::Rig,
    (namespace, name): &LeaseAt,
) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(rig.kube.clone(), namespace);
    leases
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity)
}

async fn create(rig: &mithril_operator::dev::bench::Rig, indices: std::ops::Range<usize>) {
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
        let mut spec = elected(identity, &lease);
        if cluster.is_some() {
            spec.namespace = Some(NAMESPACE.to_owned());
        }
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

/// Writes `rig`'s kubeconfig again with its server moved to `relay` (JSON is YAML).
fn kubeconfig_through(
    rig: &mithril_operator::dev::bench::Rig,
    relay: &Relay,
) -> std::path::PathBuf {
    let mut config = kube::config::Kubeconfig::read_from(rig.kubeconfig()).expect("kubeconfig");
    for named in &mut config.clusters {
        if let Some(cluster) = named.cluster.as_mut() {
            cluster.server = Some(format!("http://{}", relay.addr));
        }
    }
    let path = std::env::temp_dir().join(format!(
        "mithril-partitioned-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).expect("write kubeconfig");
    path
}

/// The leader is cut off from the API server with placements still queued (Mithril answers
/// slowly). It can no longer renew its Lease and is never told it lost it; the standby takes
/// over once the Lease expires. The old leader must send no Mithril write from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_writes_nothing_after_the_standby_takes_over() {
    if real::skip_on_real_server(
        "a_partitioned_leader_writes_nothing_after_the_standby_takes_over",
        "the relay cuts an emulator connection",
    ) {
        return;
    }
    the_old_leader_writes_nothing_after_the_takeover(Isolation::Partition, seed(4)).await;
}

/// How the leader is kept from renewing its Lease.
#[derive(Clone, Copy, Debug)]
enum Isolation {
    /// Its connections to the API server are cut (a relay in between).
    Partition,
    /// It stops dead (a long GC pause, a frozen VM: SIGSTOP) and resumes after the takeover.
    Pause,
}

/// The leader is isolated with placements queued; the standby takes the Lease over once it
/// expires. From then on the old leader sends no Mithril write, and it steps down.
async fn the_old_leader_writes_nothing_after_the_takeover(isolation: Isolation, seed: u64) {
    let resources = env_size("MITHRIL_FAULT_HA_RESOURCES", 20) * 2;
    let rig = rig(seed, u32::try_from(resources * 2).unwrap()).await;
    let lease: LeaseAt = (
        NAMESPACE.to_owned(),
        format!("{LEASE}-{isolation:?}").to_lowercase(),
    );
    throttle_placements(&rig);
    let relay = Relay::start(kube_addr(&rig)).await;
    let tap = MithrilTap::start(rig.mithril_url.clone()).await;
    let replica = |identity: &str| OperatorSpec {
        concurrency: 4,
        ..elected(identity, &lease)
    };
    let mut old_leader = {
        let mut spec = replica("replica-a");
        if let Isolation::Partition = isolation {
            spec.kubeconfig = Some(kubeconfig_through(&rig, &relay));
        }
        spec.mithril_url = Some(tap.url.clone());
        start_operator(&rig, &spec).await
    };
    wait_for("replica-a leads", || async {
        holder(&rig, &lease).await.as_deref() == Some("replica-a")
    })
    .await;
    let standby = OperatorProcess::spawn(&rig, &replica("replica-b")).expect("replica-b starts");

    create(&rig, 0..resources).await;
    wait_placing(&tap).await;
    match isolation {
        Isolation::Partition => relay.cut(),
        Isolation::Pause => signal(old_leader.pid(), "-STOP"),
    }
    let isolated_at = jiff::Timestamp::now();
    wait_for("replica-b takes the Lease over", || async {
        holder(&rig, &lease).await.as_deref() == Some("replica-b")
    })
    .await;
    let taken_over = acquired_at(&rig, &lease).await;
    if let Isolation::Pause = isolation {
        signal(old_leader.pid(), "-CONT");
    }
    wait_for("replica-a steps down and exits", || {
        let exited = old_leader.exited().is_some();
        async move { exited }
    })
    .await;

    rig.sim.faults().clear();
    let all: BTreeSet<String> = (0..resources).map(resource_name).collect();
    wait_converged(&rig, &all).await;
    let writes = tap.writes();
    let late: Vec<_> = writes
        .iter()
        .filter(|write| write.at >= taken_over)
        .collect();
    let before = writes
        .iter()
        .filter(|write| write.at < isolated_at && write.method == "POST")
        .count();
    println!(
        "{isolation:?}: writes by replica-a: {before} before, {} in all; takeover {} after",
        writes.len(),
        taken_over.duration_since(isolated_at)
    );
    assert!(late.is_empty(), "writes after the takeover: {late:#?}");
    assert!(
        before < resources,
        "the leader's queue was not left unfinished: the test proves nothing"
    );
    let audit = audit(&rig).await;
    assert_eq!(audit.duplicates, 0, "{audit:?}");
    assert_eq!(audit.missing, 0, "{audit:?}");
    assert_eq!(audit.live_bids, resources, "{audit:?}");
    drop(standby);
}

/// Most placements are answered 429 with a 3 s Retry-After: at any moment the leader has POSTs
/// waiting to be sent again, which need nothing from the API server.
fn throttle_placements(rig: &mithril_operator::dev::bench::Rig) {
    rig.sim.faults().set_route(
        "POST",
        "/v2/spot/bids",
        FaultSpec {
            latency: Duration::from_millis(200),
            throttle_429: 0.6,
            retry_after: Duration::from_secs(3),
            ..FaultSpec::default()
        },
    );
}

/// Waits until the replica behind `tap` has placed a few bids: the rest are still to come.
async fn wait_placing(tap: &MithrilTap) {
    wait_for("the leader is placing bids", || async {
        tap.writes()
            .iter()
            .filter(|write| write.method == "POST")
            .count()
            >= 4
    })
    .await;
}

/// The leader stops dead with placements queued, past its Lease's expiry; the standby takes
/// over. When the old leader resumes, its queued reconciles must not write: it cannot know it
/// lost the Lease before it tries to renew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_resuming_after_a_pause_writes_nothing_after_the_takeover() {
    if real::skip_on_real_server(
        "a_leader_resuming_after_a_pause_writes_nothing_after_the_takeover",
        "the scenarios share namespace default there, and the takeover on a real Lease is \
         the_standby_takes_over_when_the_leader_is_killed",
    ) {
        return;
    }
    the_old_leader_writes_nothing_after_the_takeover(Isolation::Pause, seed(5)).await;
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// When the Lease's current holder acquired it (its clock: this host's).
async fn acquired_at(
    rig: &mithril_operator::dev::bench::Rig,
    (namespace, name): &LeaseAt,
) -> jiff::Timestamp {
    let leases: Api<Lease> = Api::namespaced(rig.kube.clone(), namespace);
    leases
        .get(name)
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.acquire_time)
        .expect("the new holder's acquire time")
        .0
}

/// The emulator's address, from the rig's kubeconfig.
fn kube_addr(rig: &mithril_operator::dev::bench::Rig) -> std::net::SocketAddr {
    let config = kube::config::Kubeconfig::read_from(rig.kubeconfig()).expect("kubeconfig");
    let server = config.clusters[0]
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.server.clone())
        .expect("a server URL");
    let url: url::Url = server.parse().unwrap();
    std::net::SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap(),
    )
}
