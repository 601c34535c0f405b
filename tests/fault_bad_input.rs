//! Bad input: malformed SpotBids are refused by the API server (as `kubectl apply` sees it:
//! server-side apply with strict field validation) with a message naming the problem, or, when
//! only Mithril or the cluster can tell (a project that does not exist, an unknown region, a
//! Secret without the key), accepted and then marked by the operator with a False `Synced`
//! condition and a Warning event. None of them causes a Mithril write; the valid resources beside
//! them are served.

mod fault_support;

use fault_support::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use mithril_operator::crd::{ConditionStatus, SYNCED, SpotBid, find_condition};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn manifest(name: &str, spec_changes: Value, removed: &[&str]) -> Value {
    let mut resource = serde_json::to_value(spot_bid(name).unwrap()).unwrap();
    let spec = resource["spec"].as_object_mut().unwrap();
    for field in removed {
        spec.remove(*field);
    }
    if let Value::Object(changes) = spec_changes {
        spec.extend(changes);
    }
    resource
}

/// Manifests the API server must refuse, and a word its message must hold.
fn refused() -> Vec<(&'static str, Value, &'static str)> {
    let bad = |name, changes, word| (name, manifest(name, changes, &[]), word);
    vec![
        bad(
            "quantity-string",
            json!({"instanceQuantity": "two"}),
            "instanceQuantity",
        ),
        bad(
            "quantity-negative",
            json!({"instanceQuantity": -1}),
            "instanceQuantity",
        ),
        bad(
            "quantity-zero",
            json!({"instanceQuantity": 0}),
            "instanceQuantity",
        ),
        bad(
            "quantity-huge",
            json!({"instanceQuantity": 100000}),
            "instanceQuantity",
        ),
        bad(
            "price-no-dollar",
            json!({"limitPrice": "12.50"}),
            "limitPrice",
        ),
        bad(
            "price-negative",
            json!({"limitPrice": "$-1.00"}),
            "limitPrice",
        ),
        bad(
            "price-one-decimal",
            json!({"limitPrice": "$1.5"}),
            "limitPrice",
        ),
        bad("price-number", json!({"limitPrice": 12.5}), "limitPrice"),
        bad("project-empty", json!({"project": ""}), "project"),
        bad("region-number", json!({"region": 42}), "region"),
        bad("unknown-field", json!({"colour": "blue"}), "colour"),
        bad(
            "unknown-launch-field",
            json!({"launchSpecification": {"gpuCount": 8}}),
            "gpuCount",
        ),
        bad(
            "policy-unknown",
            json!({"deletionPolicy": "Sometimes"}),
            "deletionPolicy",
        ),
        bad("paused-string", json!({"paused": "yes"}), "paused"),
        bad(
            "bid-fid-malformed",
            json!({"bidFid": "not-a-bid"}),
            "bidFid",
        ),
        bad(
            "volumes-string",
            json!({"launchSpecification": {"volumes": "vol_1"}}),
            "volumes",
        ),
        bad(
            "memory-zero",
            json!({"launchSpecification": {"memoryGb": 0}}),
            "memoryGb",
        ),
        bad(
            "secret-ref-empty",
            json!({"apiKeySecretRef": {"name": ""}}),
            "apiKeySecretRef",
        ),
        (
            "price-missing",
            manifest("price-missing", json!({}), &["limitPrice"]),
            "limitPrice",
        ),
        (
            "region-missing",
            manifest("region-missing", json!({}), &["region"]),
            "region",
        ),
    ]
}

/// Manifests only Mithril or the cluster can judge: accepted, then marked by the operator.
fn marked() -> Vec<(&'static str, Value)> {
    vec![
        (
            "project-unknown",
            manifest(
                "project-unknown",
                json!({"project": "no-such-project"}),
                &[],
            ),
        ),
        (
            "region-unknown",
            manifest("region-unknown", json!({"region": "mars-north1-a"}), &[]),
        ),
        (
            "type-unknown",
            manifest("type-unknown", json!({"instanceType": "z900.1x"}), &[]),
        ),
        (
            "secret-without-key",
            manifest(
                "secret-without-key",
                json!({"apiKeySecretRef": {"name": "no-key"}}),
                &[],
            ),
        ),
        (
            "secret-missing",
            manifest(
                "secret-missing",
                json!({"apiKeySecretRef": {"name": "absent"}}),
                &[],
            ),
        ),
    ]
}

fn apply_params() -> PatchParams {
    PatchParams::apply("kubectl").validation_strict()
}

fn synced_false(resource: &SpotBid) -> bool {
    resource
        .status
        .as_ref()
        .and_then(|status| find_condition(&status.conditions, SYNCED))
        .is_some_and(|condition| condition.status == ConditionStatus::False)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_spot_bids_are_refused_or_marked_and_never_reach_mithril() {
    let rig = rig(seed(13), 16).await;
    let _operator = start_operator(&rig, &operator_spec()).await;
    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "no-key", "namespace": NAMESPACE},
        "stringData": {"other": "value"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let valid: BTreeSet<String> = (0..3).map(resource_name).collect();
    for name in &valid {
        api.patch(
            name,
            &apply_params(),
            &Patch::Apply(manifest(name, json!({}), &[])),
        )
        .await
        .expect("valid SpotBid");
    }

    let mut refusals = 0;
    for (name, body, word) in refused() {
        match api.patch(name, &apply_params(), &Patch::Apply(body)).await {
            Err(kube::Error::Api(status)) => {
                assert!(
                    matches!(status.code, 400 | 422),
                    "{name}: refused with {}",
                    status.code
                );
                assert!(
                    status.message.contains(word),
                    "{name}: the message names {word:?}: {}",
                    status.message
                );
                refusals += 1;
            }
            other => panic!("{name} was not refused: {other:?}"),
        }
    }
    // Immutable fields cannot be edited on a live resource: the API server refuses the edit
    // (transition rules), or, where it does not enforce them, the operator marks the drift.
    let immutable = [
        ("immutable-region", "region", json!("us-central1-b")),
        ("immutable-quantity", "instanceQuantity", json!(2)),
        ("immutable-project", "project", json!("other")),
    ];
    for (name, _, _) in &immutable {
        api.patch(
            name,
            &apply_params(),
            &Patch::Apply(manifest(name, json!({}), &[])),
        )
        .await
        .expect("valid SpotBid");
    }
    let valid: BTreeSet<String> = valid
        .into_iter()
        .chain(immutable.iter().map(|(name, _, _)| (*name).to_owned()))
        .collect();
    wait_for("the valid resources placed", || async {
        spot_bids(&rig)
            .await
            .iter()
            .filter(|r| r.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
            .count()
            == valid.len()
    })
    .await;
    let untouched: BTreeSet<String> = (0..3).map(resource_name).collect();
    let mut accepted_edits = Vec::new();
    for (name, field, value) in &immutable {
        let edit = Patch::Merge(json!({"spec": {*field: value}}));
        match api.patch(name, &PatchParams::default(), &edit).await {
            Err(kube::Error::Api(status)) => {
                assert!(
                    status.message.contains("immutable"),
                    "{field}: {}",
                    status.message
                );
                refusals += 1;
            }
            Ok(_) => accepted_edits.push(*name),
            Err(error) => panic!("editing {field}: {error}"),
        }
    }

    let marked = marked();
    for (name, body) in &marked {
        api.patch(name, &apply_params(), &Patch::Apply(body.clone()))
            .await
            .unwrap_or_else(|error| panic!("{name} is valid for the API server: {error}"));
    }
    let marked_names: BTreeSet<&str> = marked
        .iter()
        .map(|(name, _)| *name)
        .chain(accepted_edits.iter().copied())
        .collect();
    wait_for(
        "the valid placed, the invalid marked with a Warning event",
        || async {
            let all = spot_bids(&rig).await;
            let placed: BTreeSet<String> = all
                .iter()
                .filter(|r| r.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
                .filter_map(|r| r.metadata.name.clone())
                .collect();
            let flagged: BTreeSet<&str> = all
                .iter()
                .filter(|r| synced_false(r))
                .filter_map(|r| r.metadata.name.as_deref())
                .filter(|name| marked_names.contains(name))
                .collect();
            let events: Api<Event> = Api::namespaced(rig.kube.clone(), NAMESPACE);
            let warned: BTreeSet<String> = events
                .list(&ListParams::default())
                .await
                .map(|list| list.items)
                .unwrap_or_default()
                .into_iter()
                .filter(|event| event.type_.as_deref() == Some("Warning"))
                .filter_map(|event| event.regarding.and_then(|r| r.name))
                .collect();
            // An edited resource may lose its bid from the status (a project it cannot see).
            placed.is_superset(&untouched)
                && flagged == marked_names
                && marked_names.iter().all(|name| warned.contains(*name))
        },
    )
    .await;

    let counters = rig.sim.counters();
    let created =
        counters.count("POST", "/v2/spot/bids", 201) + counters.count("POST", "/v2/spot/bids", 200);
    let attempted = counters.total("POST", "/v2/spot/bids");
    let changed = counters.total("PATCH", "/v2/spot/bids/{bid_fid}")
        + counters.total("DELETE", "/v2/spot/bids/{bid_fid}");
    println!(
        "refused={refusals} marked={} valid_placed={} bids_created={created} create_attempts={attempted} other_writes={changed}",
        marked_names.len(),
        valid.len()
    );
    println!(
        "immutable edits the API server let through (marked by the operator): {accepted_edits:?}"
    );
    assert!(refusals + marked_names.len() >= 20);
    assert_eq!(
        created,
        valid.len() as u64,
        "only the valid resources got bids"
    );
    assert_eq!(changed, 0);
}
