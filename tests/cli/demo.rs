//! `mithril-dev demo` as a user runs it: a separate process, kubectl against the kubeconfig
//! it writes, the simulator's HTTP API to see what happened on "Mithril", SIGTERM to stop it.

use crate::support::cli::{DEADLINE, Kubectl, Process, sim_bids, wait_for};
use serde_json::Value;

/// The key the demo's operator uses; any `fkey_` key reads the simulator's default world.
const READER_KEY: &str = "fkey_test_reader";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_examples_end_to_end_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let mut demo = Process::spawn(
        dir.path(),
        "demo",
        &["demo", "--kubeconfig", kubeconfig.to_str().unwrap()],
        &[],
    );

    // The kubeconfig appears once the CRDs and examples are in; the URLs are printed with it.
    let sim_url = wait_for("the simulator URL on stdout", DEADLINE, || async {
        demo.stdout().lines().find_map(|line| {
            let rest = line.strip_prefix("Mithril API:")?;
            rest.split_whitespace().next().map(str::to_owned)
        })
    })
    .await;
    assert!(
        kubeconfig.exists(),
        "kubeconfig written before the URLs are printed"
    );
    let kubectl = Kubectl {
        kubeconfig: kubeconfig.clone(),
        home: dir.path().to_owned(),
    };
    let printed = demo.stdout();
    for hint in [
        "get spotbids -w",
        "describe spotbid",
        "patch spotbid",
        "delete spotbid",
    ] {
        assert!(printed.contains(hint), "{hint:?} missing from:\n{printed}");
    }

    // The simulator's clock runs 60x: the unpaused examples win their auctions and start.
    let wait = |resource: &'static str, condition: &'static str| {
        let kubectl = kubectl.clone();
        async move {
            kubectl
                .ok(&["wait", condition, resource, "--timeout=90s"])
                .await
        }
    };
    wait("spotbid/h100-training", "--for=condition=Ready").await;
    wait("spotbid/h100-long-lived", "--for=condition=Ready").await;
    let paused = kubectl
        .ok(&[
            "get",
            "spotbid",
            "a100-batch",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .await;
    assert_eq!(paused, "Paused");

    // A new limit price reaches the Mithril bid.
    kubectl
        .ok(&[
            "patch",
            "spotbid",
            "h100-training",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"limitPrice":"$15.00"}}"#,
        ])
        .await;
    wait(
        "spotbid/h100-training",
        "--for=jsonpath={.status.limitPrice}=$15.00",
    )
    .await;
    let bids = sim_bids(&sim_url, READER_KEY, "default", "h100-training").await;
    assert_eq!(bids.len(), 1, "{bids:#?}");
    assert_eq!(bids[0]["limit_price"], "$15.00");

    // Deleting the resource cancels the bid (kubectl delete waits for the finalizer).
    kubectl.ok(&["delete", "spotbid", "h100-training"]).await;
    let bids = sim_bids(&sim_url, READER_KEY, "default", "h100-training").await;
    assert_eq!(bids.len(), 1, "{bids:#?}");
    assert_eq!(bids[0]["status"], "Terminated");
    let kept = sim_bids(&sim_url, READER_KEY, "default", "h100-long-lived").await;
    assert_eq!(kept[0]["status"], "Allocated", "other bids are untouched");

    let status = demo.terminate().await;
    assert!(
        status.success(),
        "demo exits cleanly on SIGTERM: {status:?}\n{}",
        demo.stderr()
    );
    assert!(!kubeconfig.exists(), "the stale kubeconfig is removed");
}

/// The simulator's count of `PATCH /v2/instances` (pauses and resumes) Mithril accepted.
async fn accepted_instance_patches(sim_url: &str) -> u64 {
    let body: Value = reqwest::get(format!("{sim_url}/_sim/counters"))
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON");
    body["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["method"] == "PATCH" && c["route"] == "/v2/instances" && c["status"] == 200)
        .filter_map(|c| c["count"].as_u64())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_schedules_pause_or_resume_reserved_instances_whatever_the_time_of_day() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("schedules.kubeconfig");
    let mut demo = Process::spawn(
        dir.path(),
        "demo",
        &["demo", "--kubeconfig", kubeconfig.to_str().unwrap()],
        &[],
    );
    let sim_url = wait_for("the simulator URL on stdout", DEADLINE, || async {
        demo.stdout().lines().find_map(|line| {
            let rest = line.strip_prefix("Mithril API:")?;
            rest.split_whitespace().next().map(str::to_owned)
        })
    })
    .await;
    let kubectl = Kubectl {
        kubeconfig,
        home: dir.path().to_owned(),
    };
    // The default world holds, for each example schedule, one reserved instance running and one
    // paused: whatever a schedule wants now, it moves one of them, then counts both in state.
    for schedule in ["nightly-batch", "working-hours"] {
        let resource = format!("instanceschedule/{schedule}");
        kubectl
            .ok(&[
                "wait",
                "--for=jsonpath={.status.inState}=2/2",
                &resource,
                "--timeout=90s",
            ])
            .await;
        let total = kubectl
            .ok(&["get", &resource, "-o", "jsonpath={.status.instancesTotal}"])
            .await;
        assert_eq!(total, "2", "{schedule} selects the world's two instances");
    }
    let patches = accepted_instance_patches(&sim_url).await;
    assert!(
        patches >= 2,
        "each schedule paused or resumed an instance on Mithril: {patches} PATCH /v2/instances"
    );
    let listed = kubectl.ok(&["get", "isched"]).await;
    assert_eq!(
        listed.matches("2/2").count(),
        2,
        "kubectl get isched shows the counts:\n{listed}"
    );
    let status = demo.terminate().await;
    assert!(status.success(), "{status:?}\n{}", demo.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_without_examples_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("empty.kubeconfig");
    let mut demo = Process::spawn(
        dir.path(),
        "demo",
        &[
            "demo",
            "--no-examples",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    wait_for("the kubeconfig", DEADLINE, || async {
        demo.stdout().contains("Try:").then_some(())
    })
    .await;
    let kubectl = Kubectl {
        kubeconfig,
        home: dir.path().to_owned(),
    };
    let listed = kubectl
        .ok(&["get", "spotbids,instanceschedules", "-A", "-o", "name"])
        .await;
    assert_eq!(listed.trim(), "");
    // The banner names no example resource: there is none to describe, patch or delete.
    let printed = demo.stdout();
    for example in [
        "h100-training",
        "a100-batch",
        "h100-long-lived",
        "h100-market",
        "nightly-batch",
        "working-hours",
        "Applied:",
    ] {
        assert!(!printed.contains(example), "{example:?} in:\n{printed}");
    }
    assert!(
        printed.contains("get spotbids,spotpools,instanceschedules -A -w"),
        "{printed}"
    );
    let status = demo.terminate().await;
    assert!(status.success(), "{status:?}\n{}", demo.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pointed_at_mithril_needs_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Process::spawn(
        dir.path(),
        "demo",
        &["demo", "--mithril-url", "https://api.mithril.ai"],
        &[],
    );
    let status = demo.exit().await;
    assert!(!status.success());
    assert!(
        demo.stderr()
            .contains("--mithril-url needs an API key: set MITHRIL_API_KEY"),
        "{}",
        demo.stderr()
    );
}
