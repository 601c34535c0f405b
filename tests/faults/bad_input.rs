//! Bad input: malformed SpotBids and InstanceSchedules are refused by the API server (as
//! `kubectl apply` sees it: server-side apply with strict field validation, schema and CEL rules)
//! with a message naming the problem, or, when only Mithril or the cluster can tell (a project
//! that does not exist, an unknown region or time zone, a Secret without the key, a cron
//! expression that does not parse), accepted and then marked by the operator with a False
//! `Synced` condition and a Warning event. Edits of immutable fields are refused with the rule's
//! message. None of them causes a Mithril write (an unknown region is caught by the auctions the
//! operator has read; only before its first read can one create reach Mithril, which refuses it);
//! the valid resources beside them are served.

use crate::support::faults::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use mithril_operator::crd::{
    Condition, ConditionStatus, InstanceSchedule, SYNCED, SpotBid, find_condition,
};
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
            "adopt-missing",
            manifest("adopt-missing", json!({"bidFid": "bid_NoSuchBid0001"}), &[]),
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

fn synced_false(conditions: &[Condition]) -> bool {
    find_condition(conditions, SYNCED)
        .is_some_and(|condition| condition.status == ConditionStatus::False)
}

/// Names of the objects of the namespace that have a Warning event.
async fn warned(rig: &mithril_operator::dev::bench::Rig) -> BTreeSet<String> {
    let events: Api<Event> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    events
        .list(&ListParams::default())
        .await
        .map(|list| list.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|event| event.type_.as_deref() == Some("Warning"))
        .filter_map(|event| event.regarding.and_then(|r| r.name))
        .collect()
}

/// Checks a refusal: a 400 or 422 whose message holds `word`.
fn assert_refused(name: &str, result: Result<impl std::fmt::Debug, kube::Error>, word: &str) {
    match result {
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
        }
        other => panic!("{name} was not refused: {other:?}"),
    }
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
        let result = api.patch(name, &apply_params(), &Patch::Apply(body)).await;
        assert_refused(name, result, word);
        refusals += 1;
    }
    // Immutable fields cannot be edited on a live resource: the API server's transition rules
    // refuse the edit with their message.
    let immutable = [
        (
            "immutable-region",
            "region",
            json!("us-central1-b"),
            "region is immutable",
        ),
        (
            "immutable-quantity",
            "instanceQuantity",
            json!(2),
            "instanceQuantity is immutable",
        ),
        (
            "immutable-project",
            "project",
            json!("other"),
            "project is immutable",
        ),
        (
            "immutable-type",
            "instanceType",
            json!("a100-80gb.sxm.8x"),
            "instanceType is immutable",
        ),
    ];
    for (name, _, _, _) in &immutable {
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
        .chain(immutable.iter().map(|(name, _, _, _)| (*name).to_owned()))
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
    for (name, field, value, word) in &immutable {
        let edit = Patch::Merge(json!({"spec": {*field: value}}));
        let result = api.patch(name, &PatchParams::default(), &edit).await;
        assert_refused(name, result, word);
        refusals += 1;
    }

    let marked = marked();
    for (name, body) in &marked {
        api.patch(name, &apply_params(), &Patch::Apply(body.clone()))
            .await
            .unwrap_or_else(|error| panic!("{name} is valid for the API server: {error}"));
    }
    // An adopted bid's FID can be neither changed nor removed, even while it is not found; and a
    // SpotBid created without one cannot take one later (its own bid would run unmanaged).
    for (resource, edit, what) in [
        (
            "adopt-missing",
            json!({"spec": {"bidFid": "bid_OtherBid0002"}}),
            "changed",
        ),
        (
            "adopt-missing",
            json!({"spec": {"bidFid": null}}),
            "removed",
        ),
        (
            "region-unknown",
            json!({"spec": {"bidFid": "bid_OtherBid0003"}}),
            "added",
        ),
    ] {
        let result = api
            .patch(resource, &PatchParams::default(), &Patch::Merge(edit))
            .await;
        assert_refused(
            &format!("bidFid {what}"),
            result,
            "bidFid can only be set when a SpotBid is created",
        );
        refusals += 1;
    }
    let marked_names: BTreeSet<&str> = marked.iter().map(|(name, _)| *name).collect();
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
                .filter(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| synced_false(&s.conditions))
                })
                .filter_map(|r| r.metadata.name.as_deref())
                .filter(|name| marked_names.contains(name))
                .collect();
            let warned = warned(&rig).await;
            placed == valid
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
    assert!(refusals + marked_names.len() >= 20);
    assert_eq!(
        created,
        valid.len() as u64,
        "only the valid resources got bids"
    );
    // An unknown region is caught before the create once the operator has read the auctions;
    // before that only Mithril can refuse it, and it is asked once: its refusal is final until
    // the spec changes.
    assert!(
        attempted <= created + 1,
        "at most one refused create, never retried: {attempted} creates for {created} bids"
    );
    assert_eq!(changed, 0);
}

/// A valid InstanceSchedule over the project's reserved instances, with `spec_changes` merged
/// into its spec. Its window never closes (a daily run lasting a day), so the instances, running
/// already, need no write: any Mithril write would come from a schedule that should not act.
fn schedule(name: &str, spec_changes: Value) -> Value {
    let mut resource = json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "InstanceSchedule",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": mithril_operator::dev::bench::world::PROJECT,
            "selector": {"filter": {"region": mithril_operator::dev::bench::world::REGION}},
            "timeZone": "Europe/Berlin",
            "windows": [{"cron": "0 0 * * *", "duration": "24h"}],
        },
    });
    if let (Some(spec), Value::Object(changes)) = (resource["spec"].as_object_mut(), spec_changes) {
        spec.extend(changes);
    }
    resource
}

/// InstanceSchedules the API server must refuse, and a word its message must hold.
fn refused_schedules() -> Vec<(&'static str, Value, &'static str)> {
    let bad = |name, changes, word| (name, schedule(name, changes), word);
    let cron = |expression: &str, duration: &str| json!({"windows": [{"cron": expression, "duration": duration}]});
    vec![
        bad(
            "zone-malformed",
            json!({"timeZone": "Not a zone!"}),
            "timeZone",
        ),
        bad(
            "window-hour",
            json!({"windows": [{"start": "25:00", "end": "26:00"}]}),
            "start",
        ),
        bad(
            "window-empty",
            json!({"windows": [{"start": "08:00", "end": "08:00"}]}),
            "start and end must differ",
        ),
        bad(
            "window-mixed",
            json!({"windows": [{"start": "08:00", "end": "19:00", "cron": "0 8 * * *", "duration": "1h"}]}),
            "either start and end",
        ),
        bad(
            "cron-no-duration",
            json!({"windows": [{"cron": "0 8 * * *"}]}),
            "either start and end",
        ),
        bad("duration-words", cron("0 8 * * *", "ten hours"), "duration"),
        bad("duration-zero", cron("0 8 * * *", "0h0m"), "at least 1s"),
        bad(
            "cron-four-fields",
            cron("0 8 * *", "1h"),
            "cron must be five fields",
        ),
        bad(
            "cron-words",
            cron("every day at 8", "1h"),
            "cron must be five fields",
        ),
        bad("windows-none", json!({"windows": []}), "windows"),
        bad(
            "day-unknown",
            json!({"windows": [{"days": ["Funday"], "start": "08:00", "end": "19:00"}]}),
            "days",
        ),
        bad("selector-empty", json!({"selector": {}}), "selector"),
        bad(
            "selector-fid-malformed",
            json!({"selector": {"instanceFids": ["vm-1"]}}),
            "instanceFids",
        ),
        bad(
            "pause-malformed",
            json!({"minimumPause": "forever"}),
            "minimumPause",
        ),
        bad("schedule-project-empty", json!({"project": ""}), "project"),
    ]
}

/// InstanceSchedules only the operator can judge (time zone database, cron values, Mithril's
/// projects): accepted, then marked.
fn marked_schedules() -> Vec<(&'static str, Value)> {
    let cron = |expression: &str, duration: &str| json!({"windows": [{"cron": expression, "duration": duration}]});
    vec![
        (
            "zone-unknown",
            schedule("zone-unknown", json!({"timeZone": "Mars/Olympus_Mons"})),
        ),
        (
            "cron-minute-61",
            schedule("cron-minute-61", cron("61 8 * * *", "1h")),
        ),
        (
            "duration-over-a-week",
            schedule("duration-over-a-week", cron("0 8 * * 1", "200h")),
        ),
        (
            "schedule-project-unknown",
            schedule(
                "schedule-project-unknown",
                json!({"project": "no-such-project"}),
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_instance_schedules_are_refused_or_marked_and_never_reach_mithril() {
    let rig = rig(seed(17), 4).await;
    let _operator = start_operator(&rig, &operator_spec()).await;
    let api: Api<InstanceSchedule> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    api.patch(
        "schedule-valid",
        &apply_params(),
        &Patch::Apply(schedule("schedule-valid", json!({}))),
    )
    .await
    .expect("valid InstanceSchedule");

    let mut refusals = 0;
    for (name, body, word) in refused_schedules() {
        let result = api.patch(name, &apply_params(), &Patch::Apply(body)).await;
        assert_refused(name, result, word);
        refusals += 1;
    }
    let marked = marked_schedules();
    for (name, body) in &marked {
        api.patch(name, &apply_params(), &Patch::Apply(body.clone()))
            .await
            .unwrap_or_else(|error| panic!("{name} is valid for the API server: {error}"));
    }
    let marked_names: BTreeSet<&str> = marked.iter().map(|(name, _)| *name).collect();
    wait_for(
        "the valid schedule served, the invalid marked with a Warning event",
        || async {
            let all = api
                .list(&ListParams::default())
                .await
                .map(|list| list.items)
                .unwrap_or_default();
            let synced_reason = |name: &str| {
                all.iter()
                    .find(|r| r.metadata.name.as_deref() == Some(name))
                    .and_then(|r| r.status.as_ref())
                    .and_then(|s| find_condition(&s.conditions, SYNCED))
                    .map(|c| (c.status == ConditionStatus::False, c.reason.clone()))
            };
            // Served: its instances are found in the wanted state (Synced=True).
            let served = synced_reason("schedule-valid").is_some_and(|(failed, _)| !failed);
            let flagged = marked_names
                .iter()
                .all(|name| synced_reason(name) == Some((true, "InvalidSpec".to_owned())));
            let warned = warned(&rig).await;
            served && flagged && marked_names.iter().all(|name| warned.contains(*name))
        },
    )
    .await;

    let writes = rig.sim.counters().total("PATCH", "/v2/instances");
    println!(
        "refused={refusals} marked={} mithril_writes={writes}",
        marked_names.len()
    );
    assert!(refusals + marked_names.len() >= 15);
    assert_eq!(writes, 0, "no instance was paused or resumed");
}
