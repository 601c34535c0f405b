//! Secrets: with the operator logging at trace level through Mithril faults, a resource acting
//! with its own key Secret, a Secret without the key, bad input Mithril refuses (unknown region
//! and project) and a bid cancelled behind the operator's back, neither the operator's API key nor the per-resource key appears in any log line, event,
//! status or metric.

use crate::support::faults::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use mithril_operator::crd::SpotBid;
use mithril_operator::dev::bench::BENCH_API_KEY;
use mithril_sim::FaultSpec;
use std::collections::BTreeSet;
use std::time::Duration;

const TEAM_KEY: &str = "fkey_team_secret_0123456789abcdef";

async fn create_secret(
    rig: &mithril_operator::dev::bench::Rig,
    name: &str,
    data: serde_json::Value,
) {
    let secrets: Api<Secret> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": data,
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("Secret");
}

fn with_key_ref(name: &str, secret: &str) -> SpotBid {
    let mut resource = spot_bid(name).unwrap();
    resource.spec.api_key_secret_ref =
        Some(serde_json::from_value(serde_json::json!({"name": secret})).unwrap());
    resource
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_appear_in_no_log_event_status_or_metric() {
    let rig = rig(seed(11), 16).await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut spec = operator_spec();
    spec.log_level = "trace".to_owned();
    spec.log_file = Some(log.path().to_owned());
    let operator = start_operator(&rig, &spec).await;

    create_secret(&rig, "team-key", serde_json::json!({"api-key": TEAM_KEY})).await;
    create_secret(&rig, "no-key", serde_json::json!({"other": "value"})).await;
    rig.sim.faults().set_all(FaultSpec {
        error_5xx: 0.2,
        throttle_429: 0.1,
        retry_after: Duration::from_secs(1),
        ..FaultSpec::default()
    });
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let params = PostParams::default();
    for index in 0..4 {
        api.create(&params, &spot_bid(&resource_name(index)).unwrap())
            .await
            .unwrap();
    }
    api.create(&params, &with_key_ref("team", "team-key"))
        .await
        .unwrap();
    api.create(&params, &with_key_ref("keyless", "no-key"))
        .await
        .unwrap();
    // Bad input Mithril itself refuses, with the team's key: its error answers are logged.
    let mut unknown_region = with_key_ref("unknown-region", "team-key");
    unknown_region.spec.region = "mars-north1-a".to_owned();
    api.create(&params, &unknown_region).await.unwrap();
    let mut unknown_project = with_key_ref("unknown-project", "team-key");
    unknown_project.spec.project = "no-such-project".to_owned();
    api.create(&params, &unknown_project).await.unwrap();
    let placed: BTreeSet<String> = (0..4)
        .map(resource_name)
        .chain(["team".to_owned()])
        .collect();
    wait_for(
        "the valid resources placed, the keyless and unknown ones refused",
        || async {
            let all = spot_bids(&rig).await;
            let with_bid: BTreeSet<String> = all
                .iter()
                .filter(|r| r.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
                .filter_map(|r| r.metadata.name.clone())
                .collect();
            let reported = |name: &str| {
                all.iter().any(|r| {
                    r.metadata.name.as_deref() == Some(name)
                        && r.status.as_ref().is_some_and(|s| !s.conditions.is_empty())
                })
            };
            with_bid == placed
                && ["keyless", "unknown-region", "unknown-project"]
                    .into_iter()
                    .all(reported)
        },
    )
    .await;
    rig.sim.faults().clear();
    // A change behind the operator's back: it must notice and say so.
    let fid = api
        .get(&resource_name(0))
        .await
        .unwrap()
        .status
        .unwrap()
        .bid_fid
        .unwrap();
    mithril(&rig).cancel_bid(&fid).await.unwrap();
    wait_for("the cancelled bid noticed", || async {
        api.get(&resource_name(0))
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.bid_fid.as_deref() != Some(fid.as_str()))
    })
    .await;

    let metrics = operator.metrics().await.unwrap();
    operator.kill().await.unwrap();
    let logs = std::fs::read_to_string(log.path()).unwrap();
    let events: Api<Event> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let events =
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap();
    let statuses = serde_json::to_string(&spot_bids(&rig).await).unwrap();

    let mut leaks = Vec::new();
    for (place, text) in [
        ("logs", &logs),
        ("events", &events),
        ("statuses", &statuses),
        ("metrics", &metrics),
    ] {
        for key in [BENCH_API_KEY, TEAM_KEY] {
            let found = text.lines().filter(|line| line.contains(key)).count();
            if found > 0 {
                leaks.push(format!("{place}: {found} lines hold {key}"));
            }
        }
    }
    println!(
        "log_lines={} event_bytes={} status_bytes={} metric_lines={} leaks={}",
        logs.lines().count(),
        events.len(),
        statuses.len(),
        metrics.lines().count(),
        leaks.len()
    );
    assert!(logs.lines().count() > 100, "trace logging was on");
    assert!(leaks.is_empty(), "{leaks:#?}");
}
