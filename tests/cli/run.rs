//! `mithril-operator run` as deployed: a separate process against the Kubernetes API emulator and
//! the Mithril simulator (both served on loopback by the test, the simulator's clock moved by the
//! test), leader election between replicas, and every start-up failure with its message.

use crate::support::cli::{Cluster, DEADLINE, Process, http_get, sim_bids, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use mithril_operator::crd::SpotBid;
use mithril_sim::{Sim, SimConfig, SimServer};
use serde_json::json;
use std::process::ExitStatus;
use std::time::Duration;

const KEY: &str = "fkey_cli_run_test_key_000000000000";
const NS: &str = "default";

struct World {
    cluster: Cluster,
    sim: Sim,
    sim_server: SimServer,
}

impl World {
    async fn start() -> Self {
        let sim = Sim::new(SimConfig::default());
        let sim_server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Self {
            cluster: Cluster::with_crds().await,
            sim,
            sim_server,
        }
    }

    fn sim_url(&self) -> String {
        self.sim_server.url()
    }

    /// `run` with fast polling and ephemeral ports, plus `extra` flags.
    fn operator(&self, name: &str, extra: &[&str]) -> Process {
        let sim_url = self.sim_url();
        let mut args = vec![
            "run",
            "--mithril-url",
            &sim_url,
            "--metrics-addr",
            "127.0.0.1:0",
            "--mithril-poll-interval",
            "300ms",
            "--log-format",
            "json",
        ];
        args.extend_from_slice(extra);
        let kubeconfig = self.cluster.kubectl.kubeconfig.to_str().unwrap().to_owned();
        Process::spawn(
            self.cluster.dir.path(),
            name,
            &args,
            &[("KUBECONFIG", &kubeconfig), ("MITHRIL_API_KEY", KEY)],
        )
    }

    async fn create_spot_bid(&self, name: &str) {
        let resource: SpotBid = serde_json::from_value(json!({
            "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "project": "demo", "region": "us-central1-a",
                "instanceType": "h100-80gb.sxm.8x", "instanceQuantity": 1,
                "limitPrice": "$12.50",
            },
        }))
        .unwrap();
        Api::<SpotBid>::namespaced(self.cluster.client(), NS)
            .create(&PostParams::default(), &resource)
            .await
            .expect("SpotBid is accepted");
    }

    /// Waits until the operator placed the bid of `name` on the simulator.
    async fn wait_for_bid(&self, name: &str) -> serde_json::Value {
        let url = self.sim_url();
        wait_for(&format!("a Mithril bid for {name}"), DEADLINE, || async {
            sim_bids(&url, KEY, NS, name).await.into_iter().next()
        })
        .await
    }

    async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.cluster.client(), NS)
            .get_opt("mithril-operator")
            .await
            .unwrap()
            .and_then(|lease| lease.spec)
            .and_then(|spec| spec.holder_identity)
    }
}

async fn metrics(process: &Process) -> String {
    let addr = process.metrics_addr().await;
    let (status, body) = http_get(&format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer");
    assert_eq!(status, 200);
    body
}

async fn wait_ready(process: &Process) {
    let addr = process.metrics_addr().await;
    wait_for("/readyz to answer 200", DEADLINE, || async {
        http_get(&format!("http://{addr}/readyz"))
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
}

fn assert_clean_exit(status: ExitStatus, process: &Process) {
    assert!(
        status.success(),
        "expected a clean exit, got {status:?}; stderr:\n{}",
        process.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reconciles_spot_bids_and_stops_cleanly_on_sigterm() {
    let world = World::start().await;
    let kubectl = &world.cluster.kubectl;
    world
        .cluster
        .create_secret(NS, "mithril-key", json!({"api-key": KEY}))
        .await;
    let mut operator = world.operator(
        "operator",
        &[
            "--leader-election=false",
            "--api-key-secret",
            "default/mithril-key",
        ],
    );
    wait_ready(&operator).await;

    world.create_spot_bid("training").await;
    world.wait_for_bid("training").await;
    // Ten simulated minutes: an auction clears and the instance walks to RUNNING.
    for _ in 0..10 {
        world.sim.advance(Duration::from_secs(60));
    }
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "spotbid/training",
            "--timeout=60s",
        ])
        .await;

    kubectl
        .ok(&[
            "patch",
            "spotbid",
            "training",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"limitPrice":"$15.00"}}"#,
        ])
        .await;
    let url = world.sim_url();
    wait_for("the new limit on Mithril", DEADLINE, || async {
        let bids = sim_bids(&url, KEY, NS, "training").await;
        bids.first()
            .filter(|bid| bid["limit_price"] == "$15.00")
            .cloned()
    })
    .await;

    // The observer of the operator's own key: named `default`, never by the key.
    let observed = r#"mithril_operator_mithril_observer_last_success_timestamp_seconds{key="default",project="proj_"#;
    let exported = metrics(&operator).await;
    assert!(
        exported.lines().any(|line| line.starts_with(observed)),
        "observation cycles are recorded:\n{exported}"
    );

    kubectl.ok(&["delete", "spotbid", "training"]).await;
    let bids = sim_bids(&url, KEY, NS, "training").await;
    assert_eq!(bids[0]["status"], "Terminated", "{bids:#?}");

    let exported = metrics(&operator).await;
    assert!(exported.contains("mithril_operator_leader 1"), "{exported}");
    let bid_creations =
        r#"mithril_operator_mithril_requests_total{method="POST",endpoint="/v2/spot/bids","#;
    assert!(
        exported.lines().any(|line| line.starts_with(bid_creations)),
        "Mithril requests are counted:\n{exported}"
    );
    assert!(
        exported.contains("mithril_operator_build_info{version=") && !exported.contains(KEY),
        "{exported}"
    );
    // The SpotBid gone, no resource uses the observer: it stops and its series go.
    wait_for("the stopped observer's series gone", DEADLINE, || async {
        let exported = metrics(&operator).await;
        (!exported.contains(observed)).then_some(())
    })
    .await;
    let status = operator.terminate().await;
    assert_clean_exit(status, &operator);
    let logs = operator.stderr();
    assert!(!logs.contains(KEY), "the API key never reaches a log line");
    assert!(
        logs.lines()
            .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
        "JSON logs:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over() {
    let world = World::start().await;
    let election = |identity: &'static str| {
        [
            "--identity",
            identity,
            "--leader-election-namespace",
            NS,
            "--lease-duration",
            "4s",
            "--lease-renew-grace",
            "2s",
        ]
    };
    let mut first = world.operator("replica-a", &election("replica-a"));
    let mut second = world.operator("replica-b", &election("replica-b"));

    let leader = wait_for("a leader", DEADLINE, || world.lease_holder()).await;
    let (leading, standby) = match leader.as_str() {
        "replica-a" => (&mut first, &mut second),
        "replica-b" => (&mut second, &mut first),
        other => panic!("unexpected holder {other}"),
    };
    // Both are ready (the standby is ready to take over); only the leader leads and writes.
    wait_ready(leading).await;
    wait_ready(standby).await;
    world.create_spot_bid("before-failover").await;
    world.wait_for_bid("before-failover").await;
    let standby_metrics = metrics(standby).await;
    assert!(
        standby_metrics.contains("mithril_operator_leader 0"),
        "{standby_metrics}"
    );
    assert!(
        !standby_metrics.contains("mithril_operator_mithril_requests_total{"),
        "a standby never calls Mithril:\n{standby_metrics}"
    );
    assert!(metrics(leading).await.contains("mithril_operator_leader 1"));

    // The leader dies without releasing the Lease: the standby takes over once it expires.
    leading.kill().await;
    let successor = if leader == "replica-a" {
        "replica-b"
    } else {
        "replica-a"
    };
    wait_for("the standby to take the Lease", DEADLINE, || async {
        (world.lease_holder().await.as_deref() == Some(successor)).then_some(())
    })
    .await;
    world.create_spot_bid("after-failover").await;
    world.wait_for_bid("after-failover").await;
    wait_for("the new leader's gauge", DEADLINE, || async {
        metrics(standby)
            .await
            .contains("mithril_operator_leader 1")
            .then_some(())
    })
    .await;

    // A clean stop releases the Lease so nobody waits for it to expire.
    let status = standby.terminate().await;
    assert_clean_exit(status, standby);
    assert_eq!(world.lease_holder().await, None, "the Lease is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_its_lease_stops_and_exits_non_zero() {
    let world = World::start().await;
    let mut operator = world.operator(
        "operator",
        &[
            "--identity",
            "replica-a",
            "--leader-election-namespace",
            NS,
            "--lease-duration",
            "4s",
            "--lease-renew-grace",
            "2s",
        ],
    );
    wait_for("the lease", DEADLINE, || async {
        (world.lease_holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    // Someone else holds the Lease now (as after a long pause of this process).
    let now = jiff::Timestamp::now().to_string();
    Api::<Lease>::namespaced(world.cluster.client(), NS)
        .patch(
            "mithril-operator",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "holderIdentity": "replica-elsewhere",
                "acquireTime": now, "renewTime": now, "leaseDurationSeconds": 3600,
            }})),
        )
        .await
        .unwrap();
    let status = operator.exit().await;
    assert!(!status.success(), "{status:?}");
    let logs = operator.stderr();
    assert!(
        logs.contains("lost the leader Lease default/mithril-operator"),
        "{logs}"
    );
    assert!(logs.contains("controllers stopped"), "{logs}");
}

/// Runs `run` with `args` and the environment, expects a failed start, returns stderr.
async fn failed_start(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut full = vec![
        "run",
        "--metrics-addr",
        "127.0.0.1:0",
        "--startup-timeout",
        "10s",
    ];
    full.extend_from_slice(args);
    let mut process = Process::spawn(dir, "failed-start", &full, env);
    let status = process.exit().await;
    assert!(!status.success(), "the start must fail: {status:?}");
    process.stderr()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_kube_config_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.kubeconfig");
    let stderr = failed_start(
        dir.path(),
        &[],
        &[("KUBECONFIG", missing.to_str().unwrap())],
    )
    .await;
    assert!(
        stderr.contains("no Kubernetes configuration found: set KUBECONFIG"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let yaml = kube_emulator::Emulator::new().kubeconfig_yaml(addr);
    std::fs::write(&kubeconfig, yaml).unwrap();
    let stderr = failed_start(
        dir.path(),
        &[],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;
    assert!(
        stderr.contains(&format!(
            "cannot reach the Kubernetes API server at http://127.0.0.1:{port}/"
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_name_the_fix() {
    let cluster = Cluster::start().await;
    let kubeconfig = cluster.kubectl.kubeconfig.to_str().unwrap().to_owned();
    let stderr = failed_start(cluster.dir.path(), &[], &[("KUBECONFIG", &kubeconfig)]).await;
    assert!(
        stderr.contains(
            "the SpotBid CustomResourceDefinition (spotbids.mithril.ai) is not installed"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("kubectl apply -f crds/"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_secret_or_key_is_a_clear_failure() {
    let cluster = Cluster::with_crds().await;
    let kubeconfig = cluster.kubectl.kubeconfig.to_str().unwrap().to_owned();
    let env = [("KUBECONFIG", kubeconfig.as_str())];

    let stderr = failed_start(
        cluster.dir.path(),
        &["--api-key-secret", "default/absent"],
        &env,
    )
    .await;
    assert!(
        stderr.contains("the API key Secret default/absent does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kubectl create secret generic absent -n default"),
        "{stderr}"
    );

    cluster
        .create_secret(NS, "wrong-entry", json!({"token": "fkey_x"}))
        .await;
    let stderr = failed_start(
        cluster.dir.path(),
        &["--api-key-secret", "default/wrong-entry"],
        &env,
    )
    .await;
    assert!(
        stderr.contains(
            r#"the API key Secret default/wrong-entry has no "api-key" entry (it has: token)"#
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("fkey_x"), "values are never printed");
}
