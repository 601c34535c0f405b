//! SpotBid end to end: the real kube client and controller against the Kubernetes API emulator
//! (or a real API server: `MITHRIL_TEST_KUBE=real`, see tests/support/harness/real.rs)
//! and the Mithril simulator, with the simulator's clock and market moved by the test.

use crate::support::harness::real::skip_on_real_server;
use crate::support::harness::{API_KEY, CLUSTER, Harness};
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use mithril_api::BidStatus;
use mithril_operator::controller::spot_bid::names::bid_name;
use mithril_operator::crd::{
    ConditionStatus, READY, SYNCED, SpotBid, SpotBidPhase, find_condition,
};
use serde_json::json;

fn spot_bid(name: &str, extra: serde_json::Value) -> SpotBid {
    serde_json::from_value(spot_bid_json(name, extra)).unwrap()
}

/// A SpotBid manifest as a user writes it (possibly wrong: nothing here checks it).
fn spot_bid_json(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "project": "demo",
        "region": "us-central1-a",
        "instanceType": "h100-80gb.sxm.8x",
        "instanceQuantity": 1,
        "limitPrice": "$12.50",
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// Creates `resource` in the test's namespace.
async fn create(h: &Harness, resource: &SpotBid) -> SpotBid {
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    let mut resource = resource.clone();
    resource.metadata.namespace = Some(h.ns().to_owned());
    api.create(&PostParams::default(), &resource)
        .await
        .expect("SpotBid is accepted")
}

async fn patch_spec(h: &Harness, name: &str, spec: serde_json::Value) {
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
    .expect("spec patch");
}

fn phase(resource: &SpotBid) -> Option<SpotBidPhase> {
    resource.status.as_ref().and_then(|s| s.phase)
}

fn condition_is(resource: &SpotBid, type_: &str, status: ConditionStatus, reason: &str) -> bool {
    resource
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, type_))
        .is_some_and(|c| c.status == status && c.reason == reason)
}

/// The reasons of the events about `name`, one entry per occurrence (the recorder folds repeats
/// into one Event with a series count).
async fn event_reasons(h: &Harness, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(h.kube.clone(), h.ns());
    let list = events.list(&ListParams::default()).await.expect("events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .flat_map(|e| {
            let count = e.series.as_ref().map_or(1, |series| series.count.max(1));
            std::iter::repeat_n(
                e.reason.unwrap_or_default(),
                usize::try_from(count).unwrap_or(1),
            )
        })
        .collect()
}

/// Creates a SpotBid and waits until its bid is placed; returns the resource and the bid name.
async fn placed(h: &Harness, name: &str, extra: serde_json::Value) -> (SpotBid, String) {
    let created = create(h, &spot_bid(name, extra)).await;
    let expected_name = bid_name(
        CLUSTER,
        h.ns(),
        name,
        created.metadata.uid.as_deref().unwrap(),
    );
    let resource = h
        .wait_for::<SpotBid>(h.ns(), name, "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    (resource, expected_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_bid_is_placed_allocated_and_ready() {
    let h = Harness::start().await;
    let (resource, name) = placed(&h, "train", json!({})).await;

    let bids = h.bids_named(&name).await;
    assert_eq!(bids.len(), 1, "exactly one bid");
    let bid = &bids[0];
    assert_eq!(bid.region.as_deref(), Some("us-central1-a"));
    assert_eq!(bid.instance_quantity, 1);
    assert_eq!(bid.limit_price.to_string(), "$12.50");
    assert!(
        bid.instance_type.starts_with("it_"),
        "the name was resolved to a FID"
    );
    assert!(bid.project.starts_with("proj_"));
    assert_eq!(
        resource.status.as_ref().unwrap().bid_fid.as_deref(),
        Some(bid.fid.as_str())
    );
    assert!(
        resource
            .finalizers()
            .iter()
            .any(|f| f == "mithril.ai/cancel-bid")
    );

    h.advance_minutes(8).await;
    let ready = h
        .wait_for::<SpotBid>(h.ns(), "train", "Ready", |r| {
            condition_is(r, READY, ConditionStatus::True, "Running")
        })
        .await;
    let status = ready.status.unwrap();
    assert_eq!(status.phase, Some(SpotBidPhase::Allocated));
    assert_eq!(status.ready.as_deref(), Some("1/1"));
    assert_eq!(status.instances.len(), 1);
    assert_eq!(status.instances[0].status, "STATUS_RUNNING");
    // Second price: alone in its auction, the bid pays the floor, not its limit.
    assert_eq!(status.current_price.as_deref(), Some("$8.00"));
    assert!(
        find_condition(&status.conditions, SYNCED)
            .unwrap()
            .is_true()
    );
    h.wait_for_event(h.ns(), "train", "BidCreated").await;
}

use kube::ResourceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_pause_and_resume_reach_mithril() {
    let h = Harness::start().await;
    let (_, name) = placed(&h, "tune", json!({})).await;

    patch_spec(&h, "tune", json!({"limitPrice": "$14.25"})).await;
    h.wait_for::<SpotBid>(h.ns(), "tune", "repriced", |r| {
        r.status.as_ref().and_then(|s| s.limit_price.as_deref()) == Some("$14.25")
    })
    .await;
    assert_eq!(
        h.bids_named(&name).await[0].limit_price.to_string(),
        "$14.25"
    );

    patch_spec(&h, "tune", json!({"paused": true})).await;
    h.wait_for::<SpotBid>(h.ns(), "tune", "paused", |r| {
        phase(r) == Some(SpotBidPhase::Paused)
    })
    .await;
    assert_eq!(h.bids_named(&name).await[0].status, BidStatus::Paused);

    patch_spec(&h, "tune", json!({"paused": false})).await;
    h.wait_for::<SpotBid>(h.ns(), "tune", "resumed", |r| {
        phase(r).is_some_and(|p| p != SpotBidPhase::Paused)
    })
    .await;
    assert_ne!(h.bids_named(&name).await[0].status, BidStatus::Paused);
    let reasons = event_reasons(&h, "tune").await;
    assert!(
        reasons.iter().filter(|r| *r == "BidUpdated").count() >= 3,
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_demand_preempts_and_the_bid_returns_to_open() {
    let h = Harness::start().await;
    placed(&h, "victim", json!({})).await;
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(h.ns(), "victim", "Ready", |r| {
        condition_is(r, READY, ConditionStatus::True, "Running")
    })
    .await;

    // A richer bidder wants the whole auction (us-central1-a h100 holds 16).
    h.sim
        .add_demand("us-central1-a", "h100-80gb.sxm.8x", 16, 2_000)
        .unwrap();
    h.advance_minutes(2).await;
    let preempting = h
        .wait_for::<SpotBid>(h.ns(), "victim", "Preempting", |r| {
            phase(r) == Some(SpotBidPhase::Preempting)
        })
        .await;
    let status = preempting.status.unwrap();
    assert_eq!(status.preemption_count, 1);
    assert!(status.last_preemption_time.is_some());
    h.wait_for_event(h.ns(), "victim", "Preempted").await;

    h.advance_minutes(6).await;
    let open = h
        .wait_for::<SpotBid>(h.ns(), "victim", "Open again", |r| {
            phase(r) == Some(SpotBidPhase::Open)
        })
        .await;
    assert_eq!(
        open.status.unwrap().preemption_count,
        1,
        "one preemption counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_bid_is_adopted_by_fid() {
    let h = Harness::start().await;
    let existing = h.bid_by_hand("made-by-hand", "$11.00").await;

    create(
        &h,
        &spot_bid(
            "adopter",
            json!({"bidFid": existing.fid, "limitPrice": "$11.50"}),
        ),
    )
    .await;
    let adopted = h
        .wait_for::<SpotBid>(h.ns(), "adopter", "adopted and repriced", |r| {
            r.status.as_ref().is_some_and(|s| {
                s.bid_fid.as_deref() == Some(existing.fid.as_str())
                    && s.limit_price.as_deref() == Some("$11.50")
            })
        })
        .await;
    assert!(condition_is(
        &adopted,
        SYNCED,
        ConditionStatus::True,
        "Synced"
    ));
    assert_eq!(h.bids_named("made-by-hand").await.len(), 1);
    let operator_named = bid_name(
        CLUSTER,
        h.ns(),
        "adopter",
        adopted.metadata.uid.as_deref().unwrap(),
    );
    assert!(
        h.bids_named(&operator_named).await.is_empty(),
        "adoption places no bid of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_the_bid_and_orphan_keeps_it() {
    let h = Harness::start().await;
    let (_, cancelled_name) = placed(&h, "short-lived", json!({})).await;
    let (_, orphan_name) = placed(&h, "keeper", json!({"deletionPolicy": "Orphan"})).await;
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());

    api.delete("short-lived", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(h.ns(), "short-lived").await;
    let bids = h.bids_named(&cancelled_name).await;
    assert_eq!(bids.len(), 1);
    assert_eq!(bids[0].status, BidStatus::Terminated);
    assert!(bids[0].deactivated_at.is_some());

    api.delete("keeper", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(h.ns(), "keeper").await;
    let kept = h.bids_named(&orphan_name).await;
    assert_eq!(kept.len(), 1);
    assert_ne!(
        kept[0].status,
        BidStatus::Terminated,
        "Orphan leaves the bid running"
    );
}

/// The operator's own key is a shared wallet: with `--default-key-namespaces`, a SpotBid elsewhere
/// that names no key of its own is refused without a single Mithril request, and one that names
/// its own key carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_key_is_only_for_the_namespaces_allowed() {
    let mut h = Harness::start().await;
    h.restart_operator_with(mithril_operator::controller::ControllerConfig {
        default_key_namespaces: Some(["platform".to_owned()].into()),
        ..crate::support::harness::test_config()
    })
    .await;
    let before = h.sim.counters().grand_total();
    create(&h, &spot_bid("freeloader", json!({}))).await;
    let refused = h
        .wait_for::<SpotBid>(h.ns(), "freeloader", "ApiKeyNotAllowed", |r| {
            condition_is(r, SYNCED, ConditionStatus::False, "ApiKeyNotAllowed")
        })
        .await;
    let message = find_condition(&refused.status.unwrap().conditions, SYNCED)
        .unwrap()
        .message
        .clone();
    assert!(message.contains("apiKeySecretRef"), "{message}");
    h.wait_for_warning(h.ns(), "freeloader", "ApiKeyNotAllowed")
        .await;
    assert_eq!(
        h.sim.counters().grand_total(),
        before,
        "no Mithril request with the operator's key"
    );

    h.create_key_secret(h.ns(), "team-key", API_KEY).await;
    placed(
        &h,
        "own-key",
        json!({"apiKeySecretRef": {"name": "team-key"}}),
    )
    .await;
}

/// A key Secret created or fixed after its SpotBids reported it wakes them: with rechecks and
/// the key cache set to an hour here, only the Secret's own change can bring them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_created_or_fixed_later_wakes_the_spot_bids_naming_it() {
    let mut h = Harness::start().await;
    h.restart_operator_with(mithril_operator::controller::ControllerConfig {
        problem_recheck: std::time::Duration::from_secs(3600),
        secret_ttl: std::time::Duration::from_secs(3600),
        ..crate::support::harness::test_config()
    })
    .await;
    create(
        &h,
        &spot_bid(
            "waits-for-key",
            json!({"apiKeySecretRef": {"name": "late-key"}}),
        ),
    )
    .await;
    create(
        &h,
        &spot_bid(
            "wrong-entry",
            json!({"apiKeySecretRef": {"name": "fixed-key"}}),
        ),
    )
    .await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(h.kube.clone(), h.ns());
    let without_key: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "fixed-key"},
        "stringData": {"token": API_KEY},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &without_key)
        .await
        .unwrap();
    for (name, reason) in [
        ("waits-for-key", "ApiKeySecretNotFound"),
        ("wrong-entry", "ApiKeyMissing"),
    ] {
        h.wait_for::<SpotBid>(h.ns(), name, reason, |r| {
            condition_is(r, SYNCED, ConditionStatus::False, reason)
        })
        .await;
    }

    h.create_key_secret(h.ns(), "late-key", API_KEY).await;
    secrets
        .patch(
            "fixed-key",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"api-key": API_KEY}})),
        )
        .await
        .unwrap();
    for name in ["waits-for-key", "wrong-entry"] {
        h.wait_for::<SpotBid>(h.ns(), name, "placed once its Secret is right", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_is_reported_and_other_resources_carry_on() {
    let h = Harness::start_with(mithril_sim::SimConfig {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    })
    .await;
    h.create_key_secret(h.ns(), "wrong-key", "fkey_notthekey00000000000000000000")
        .await;
    create(
        &h,
        &spot_bid(
            "locked-out",
            json!({"apiKeySecretRef": {"name": "wrong-key"}}),
        ),
    )
    .await;
    let failed = h
        .wait_for::<SpotBid>(h.ns(), "locked-out", "InvalidApiKey", |r| {
            condition_is(r, SYNCED, ConditionStatus::False, "InvalidApiKey")
        })
        .await;
    assert_eq!(phase(&failed), Some(SpotBidPhase::Failed));
    h.wait_for_event(h.ns(), "locked-out", "InvalidApiKey")
        .await;

    create(
        &h,
        &spot_bid(
            "missing-secret",
            json!({"apiKeySecretRef": {"name": "no-such-secret"}}),
        ),
    )
    .await;
    h.wait_for::<SpotBid>(h.ns(), "missing-secret", "ApiKeySecretNotFound", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "ApiKeySecretNotFound")
    })
    .await;

    placed(&h, "fine", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_project_and_instance_type_are_reported() {
    let h = Harness::start().await;
    create(
        &h,
        &spot_bid("no-project", json!({"project": "does-not-exist"})),
    )
    .await;
    h.wait_for::<SpotBid>(h.ns(), "no-project", "ProjectNotFound", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "ProjectNotFound")
    })
    .await;
    create(
        &h,
        &spot_bid("no-type", json!({"instanceType": "z900.imaginary"})),
    )
    .await;
    h.wait_for::<SpotBid>(h.ns(), "no-type", "InstanceTypeNotFound", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "InstanceTypeNotFound")
    })
    .await;
    assert_eq!(
        h.requests("POST", "/v2/spot/bids"),
        0,
        "nothing is placed for a bad spec"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_spot_auctions_is_reported_without_a_create() {
    let h = Harness::start().await;
    create(&h, &spot_bid("placed", json!({}))).await;
    h.wait_for::<SpotBid>(h.ns(), "placed", "a bid", |r| {
        r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
    })
    .await;
    // The observer has read the auctions: a region none of them mentions is caught here.
    h.poll().await;
    create(
        &h,
        &spot_bid("nowhere", json!({"regions": ["mars-north1-a"]})),
    )
    .await;
    let resource = h
        .wait_for::<SpotBid>(h.ns(), "nowhere", "RegionNotFound", |r| {
            condition_is(r, SYNCED, ConditionStatus::False, "RegionNotFound")
        })
        .await;
    let message = &find_condition(&resource.status.as_ref().unwrap().conditions, SYNCED)
        .unwrap()
        .message;
    assert!(message.contains("mars-north1-a"), "{message}");
    assert!(message.contains("us-central1-a"), "{message}");
    h.wait_for_event(h.ns(), "nowhere", "RegionNotFound").await;
    assert_eq!(
        h.requests("POST", "/v2/spot/bids"),
        1,
        "only the valid resource was placed; the unknown region was never sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_manifest_is_refused_by_the_schema() {
    let h = Harness::start().await;
    let resource = kube::api::ApiResource::erase::<SpotBid>(&());
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.kube.clone(), h.ns(), &resource);
    for (name, extra, field) in [
        (
            "zero",
            json!({"instanceQuantity": 0}),
            "spec.instanceQuantity",
        ),
        ("cheap", json!({"limitPrice": "12.5"}), "spec.limitPrice"),
        (
            "policy",
            json!({"deletionPolicy": "Keep"}),
            "spec.deletionPolicy",
        ),
        ("unplaced", json!({"region": null}), "spec.region"),
    ] {
        let mut manifest: kube::api::DynamicObject =
            serde_json::from_value(spot_bid_json(name, extra)).unwrap();
        manifest.metadata.namespace = Some(h.ns().to_owned());
        let error = api
            .create(&PostParams::default(), &manifest)
            .await
            .expect_err(name);
        let kube::Error::Api(status) = error else {
            panic!("{name}: {error}")
        };
        assert_eq!(status.code, 422, "{name}");
        assert!(status.message.contains(field), "{name}: {}", status.message);
    }
    assert_eq!(h.requests("POST", "/v2/spot/bids"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_never_blindly_repeated() {
    let h = Harness::start().await;
    // Every answer to a bid POST is lost on the way back: the bid may or may not exist.
    h.sim.faults().set_route(
        "POST",
        "/v2/spot/bids",
        mithril_sim::FaultSpec {
            drop: 1.0,
            ..Default::default()
        },
    );
    create(&h, &spot_bid("unlucky", json!({}))).await;
    h.wait_for::<SpotBid>(h.ns(), "unlucky", "reported", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "MithrilUnavailable")
    })
    .await;
    h.sim.faults().clear();
    let resource = h
        .wait_for::<SpotBid>(h.ns(), "unlucky", "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let name = bid_name(
        CLUSTER,
        h.ns(),
        "unlucky",
        resource.metadata.uid.as_deref().unwrap(),
    );
    assert_eq!(
        h.bids_named(&name).await.len(),
        1,
        "one bid, however many attempts"
    );
    assert!(
        h.requests("GET", "/v2/spot/bids") >= 1,
        "the name was looked up before posting again"
    );
}

/// Mithril places the bid but the answer is lost (a 503 or a broken connection after the fact):
/// the operator looks the name up and adopts what it finds, never posting twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_post_yields_one_bid() {
    use mithril_sim::FaultSpec;
    for (name, fault) in [
        (
            "after-503",
            FaultSpec {
                error_5xx_after: 1.0,
                ..Default::default()
            },
        ),
        (
            "after-drop",
            FaultSpec {
                drop_after: 1.0,
                ..Default::default()
            },
        ),
    ] {
        let h = Harness::start().await;
        h.sim.faults().set_route("POST", "/v2/spot/bids", fault);
        let (resource, bid) = placed(&h, name, json!({})).await;
        let bids = h.bids_named(&bid).await;
        assert_eq!(bids.len(), 1, "{name}: one bid");
        assert_eq!(resource.status.unwrap().bid_fid, Some(bids[0].fid.clone()));
        assert_eq!(
            h.requests("POST", "/v2/spot/bids"),
            1,
            "{name}: never posted again"
        );
    }
}

/// The operator dies between placing the bid and writing status; a new process, with nothing in
/// memory, finds the bid by its name and adopts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_post_and_status_write_yields_one_bid() {
    if skip_on_real_server(
        "a_crash_between_post_and_status_write_yields_one_bid",
        "failing the operator's SpotBid writes is the emulator's fault injection",
    ) {
        return;
    }
    let mut h = Harness::start_stopped(Default::default()).await;
    let mut resource = spot_bid("crashy", json!({}));
    // The finalizer is already there, so the first reconcile goes straight to placing the bid.
    resource.metadata.finalizers = Some(vec!["mithril.ai/cancel-bid".into()]);
    let created = create(&h, &resource).await;
    // From now on nothing the operator writes to SpotBids lands: not its status, not anything.
    h.emulator()
        .faults()
        .fail_writes(100, 500, Some("spotbids"));
    h.start_controller();
    h.wait_until("the bid is posted", || {
        h.requests("POST", "/v2/spot/bids") == 1
    })
    .await;

    h.restart_operator().await;
    h.emulator().faults().clear_writes();
    let resource = h
        .wait_for::<SpotBid>(h.ns(), "crashy", "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let name = bid_name(
        CLUSTER,
        h.ns(),
        "crashy",
        created.metadata.uid.as_deref().unwrap(),
    );
    let bids = h.bids_named(&name).await;
    assert_eq!(bids.len(), 1, "one bid after the crash");
    assert_eq!(resource.status.unwrap().bid_fid, Some(bids[0].fid.clone()));
    assert_eq!(h.requests("POST", "/v2/spot/bids"), 1);
}

/// Steady state costs a few paged lists per resync, not a call per resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_mithril_calls_grow_with_pages_not_resources() {
    const N: usize = 150;
    let h = Harness::start().await;
    placed(&h, "bid-0", json!({})).await;
    h.poll().await; // the observer has synced: from here on, reconciles read memory
    for i in 1..N {
        create(&h, &spot_bid(&format!("bid-{i}"), json!({}))).await;
    }
    for i in 1..N {
        h.wait_for::<SpotBid>(h.ns(), &format!("bid-{i}"), "placed", |r| {
            phase(r) == Some(SpotBidPhase::Open)
        })
        .await;
    }
    h.poll().await;
    h.sim.reset_counters();
    const CYCLES: u64 = 3;
    for _ in 0..CYCLES {
        h.poll().await;
    }
    // Per cycle: the pages of Open bids, one empty page per other live status (Allocated,
    // Preempting, Paused), one list of unsettled instances, one availability read.
    let pages = N.div_ceil(100) as u64 + 3;
    assert_eq!(h.sim.counters().grand_total(), CYCLES * (pages + 2));
    assert_eq!(
        h.requests("GET", "/v2/spot/bids/{bid_fid}"),
        0,
        "no read per resource"
    );
}

/// A bid is held by one SpotBid: adopting one another SpotBid placed (or already adopted) is
/// refused without a Mithril write, and deleting the refused SpotBid leaves the bid alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_is_exclusive() {
    let h = Harness::start().await;
    let (holder, _) = placed(&h, "holder", json!({})).await;
    let fid = holder.status.unwrap().bid_fid.unwrap();
    let existing = h.bid_by_hand("made-by-hand", "$11.00").await;
    create(
        &h,
        &spot_bid("first-adopter", json!({"bidFid": existing.fid})),
    )
    .await;
    h.wait_for::<SpotBid>(h.ns(), "first-adopter", "adopted", |r| {
        r.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(existing.fid.as_str())
    })
    .await;
    let writes = |h: &Harness| -> u64 {
        ["POST", "PATCH", "DELETE"]
            .iter()
            .flat_map(|method| {
                ["/v2/spot/bids", "/v2/spot/bids/{bid_fid}"].map(|route| h.requests(method, route))
            })
            .sum()
    };
    let before = writes(&h);

    for (name, taken, by) in [
        ("placed-elsewhere", &fid, "holder"),
        ("second-adopter", &existing.fid, "first-adopter"),
    ] {
        create(
            &h,
            &spot_bid(name, json!({"bidFid": taken, "limitPrice": "$20.00"})),
        )
        .await;
        let refused = h
            .wait_for::<SpotBid>(h.ns(), name, "AdoptionConflict", |r| {
                condition_is(r, SYNCED, ConditionStatus::False, "AdoptionConflict")
            })
            .await;
        let status = refused.status.unwrap();
        assert_eq!(status.bid_fid, None, "{name} holds nothing");
        let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
        assert!(message.contains(by), "{message}");
        h.wait_for_warning(h.ns(), name, "AdoptionConflict").await;
    }
    assert_eq!(writes(&h), before, "a refused adoption writes nothing");

    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    for name in ["placed-elsewhere", "second-adopter"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
        h.wait_gone::<SpotBid>(h.ns(), name).await;
    }
    assert_eq!(
        writes(&h),
        before,
        "deleting a refused SpotBid cancels nothing"
    );
    for (name, fid) in [("holder", &fid), ("first-adopter", &existing.fid)] {
        let kept = api.get(name).await.unwrap().status.unwrap();
        assert_eq!(kept.bid_fid.as_ref(), Some(fid), "{name} keeps its bid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_only_reports_and_never_writes() {
    let h = Harness::start().await;
    let existing = h.bid_by_hand("watched", "$11.00").await;
    h.sim.reset_counters();

    let mut watched = spot_bid(
        "watcher",
        json!({"bidFid": existing.fid, "limitPrice": "$15.00"}),
    );
    watched.metadata.annotations =
        Some([("mithril.ai/observe-only".to_owned(), "true".to_owned())].into());
    create(&h, &watched).await;
    let observed = h
        .wait_for::<SpotBid>(h.ns(), "watcher", "observed", |r| {
            condition_is(r, SYNCED, ConditionStatus::False, "ObserveOnly")
        })
        .await;
    let status = observed.status.unwrap();
    assert_eq!(status.bid_fid.as_deref(), Some(existing.fid.as_str()));
    assert_eq!(
        status.limit_price.as_deref(),
        Some("$11.00"),
        "Mithril's price, not the spec's"
    );
    let synced = find_condition(&status.conditions, SYNCED).unwrap();
    assert!(
        synced.message.contains("limit price $15.00"),
        "{}",
        synced.message
    );
    assert!(
        observed.metadata.finalizers.unwrap_or_default().is_empty(),
        "no finalizer: deletion is never held"
    );

    let mut fresh = spot_bid("watch-new", json!({}));
    fresh.metadata.annotations =
        Some([("mithril.ai/observe-only".to_owned(), "true".to_owned())].into());
    create(&h, &fresh).await;
    h.wait_for::<SpotBid>(h.ns(), "watch-new", "observed", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "ObserveOnly")
    })
    .await;
    for method in ["POST", "PATCH", "DELETE"] {
        for route in ["/v2/spot/bids", "/v2/spot/bids/{bid_fid}"] {
            assert_eq!(h.requests(method, route), 0, "{method} {route}");
        }
    }
}

/// A SpotBid deleted while no controller watched (an outage, a restart) is never reported by a
/// watch event: the relist that follows shows it gone, and its key is let go of then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_bid_deleted_unseen_lets_go_of_its_key_at_the_relist() {
    let mut h = Harness::start().await;
    h.create_key_secret(h.ns(), "own-key", "fkey_teambteambteambteamb0000000")
        .await;
    let mut watcher = spot_bid("watcher", json!({"apiKeySecretRef": {"name": "own-key"}}));
    // Observe-only: no finalizer, so nothing holds its deletion while no controller runs.
    watcher.metadata.annotations =
        Some([("mithril.ai/observe-only".to_owned(), "true".to_owned())].into());
    let before = h.registry.observers().len();
    create(&h, &watcher).await;
    h.wait_for::<SpotBid>(h.ns(), "watcher", "observed", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "ObserveOnly")
    })
    .await;
    h.wait_until("the team's key has its observer", || {
        h.registry.observers().len() == before + 1
    })
    .await;

    h.kill_controller().await;
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    api.delete("watcher", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(h.ns(), "watcher").await;
    h.start_controller();
    h.wait_until("the observer of the key nothing uses stopped", || {
        h.registry.observers().len() == before
    })
    .await;
    assert_eq!(h.ctx.usage.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pause_annotation_stops_reconciling_and_says_so() {
    let h = Harness::start().await;
    let mut resource = spot_bid("on-hold", json!({}));
    resource.metadata.annotations =
        Some([("mithril.ai/reconcile-paused".to_owned(), "true".to_owned())].into());
    create(&h, &resource).await;
    h.wait_for::<SpotBid>(h.ns(), "on-hold", "paused", |r| {
        condition_is(r, SYNCED, ConditionStatus::False, "ReconcilePaused")
    })
    .await;
    assert_eq!(h.requests("POST", "/v2/spot/bids"), 0);

    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    let unpause = json!({"metadata": {"annotations": {"mithril.ai/reconcile-paused": null}}});
    api.patch("on-hold", &PatchParams::default(), &Patch::Merge(unpause))
        .await
        .unwrap();
    h.wait_for::<SpotBid>(h.ns(), "on-hold", "placed", |r| {
        r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
    })
    .await;
}

/// A key Mithril rejects never wedges deletion silently: the failure is reported and retried, and
/// `deletionPolicy: Orphan` lets the resource go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_with_a_rejected_key_is_reported_and_orphan_lets_go() {
    let h = Harness::start_with(mithril_sim::SimConfig {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    })
    .await;
    h.create_key_secret(h.ns(), "team-key", API_KEY).await;
    placed(
        &h,
        "stuck",
        json!({"apiKeySecretRef": {"name": "team-key"}}),
    )
    .await;

    // The key is rotated to one Mithril rejects, then the resource is deleted.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(h.kube.clone(), h.ns());
    let wrong = json!({"stringData": {"api-key": "fkey_revoked000000000000000000000"}});
    secrets
        .patch("team-key", &PatchParams::default(), &Patch::Merge(wrong))
        .await
        .unwrap();
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    api.delete("stuck", &DeleteParams::default()).await.unwrap();
    let held = h
        .wait_for::<SpotBid>(h.ns(), "stuck", "reported", |r| {
            condition_is(r, SYNCED, ConditionStatus::False, "InvalidApiKey")
        })
        .await;
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "still there: the bid may be running"
    );
    h.wait_for_event(h.ns(), "stuck", "InvalidApiKey").await;

    patch_spec(&h, "stuck", json!({"deletionPolicy": "Orphan"})).await;
    h.wait_gone::<SpotBid>(h.ns(), "stuck").await;
}

/// A bid cancelled on Mithril behind the operator's back is placed again: the spec still asks for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_cancelled_outside_the_operator_is_placed_again() {
    let h = Harness::start().await;
    let (resource, name) = placed(&h, "resilient", json!({})).await;
    let first = resource.status.unwrap().bid_fid.unwrap();
    h.mithril.cancel_bid(&first).await.unwrap();
    h.poll().await;
    let again = h
        .wait_for::<SpotBid>(h.ns(), "resilient", "placed again", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.bid_fid.as_deref())
                .is_some_and(|fid| fid != first)
        })
        .await;
    let bids = h.bids_named(&name).await;
    let live: Vec<_> = bids
        .iter()
        .filter(|b| b.status != BidStatus::Terminated)
        .collect();
    assert_eq!(live.len(), 1, "one live bid: {bids:?}");
    assert_eq!(
        again.status.unwrap().bid_fid.as_deref(),
        Some(live[0].fid.as_str())
    );
}

/// On a real API server the operator under test holds only what `deploy/base` grants it: what
/// the RBAC leaves out is a real 403 (so a permission the operator needs and lacks fails the
/// suites above the same way). The emulator has no authorization: nothing to check there.
#[tokio::test]
async fn the_operators_identity_is_refused_what_deploy_does_not_grant() {
    use crate::support::harness::real;
    use k8s_openapi::api::core::v1::{Pod, Secret};
    use mithril_operator::crd::InstanceSchedule;
    let Some(kubeconfig) = real::kubeconfig() else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped on the emulator: the_operators_identity_is_refused_what_deploy_does_not_grant: \
             it has no authorization"
        );
        return;
    };
    let cluster = real::RealCluster::connect(kubeconfig).await;
    let namespace = cluster.namespace.as_str();
    // What it is granted answers.
    Api::<SpotBid>::namespaced(cluster.operator.clone(), namespace)
        .list(&ListParams::default())
        .await
        .expect("the operator lists SpotBids");
    let forbidden = |result: Result<_, kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{what}: {status:?}"),
        other => panic!("{what}: expected a 403, got {:?}", other.map(|_| ())),
    };
    forbidden(
        Api::<Pod>::namespaced(cluster.operator.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map(|_| ()),
        "list pods",
    );
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "planted"}, "stringData": {"token": "x"},
    }))
    .unwrap();
    forbidden(
        Api::<Secret>::namespaced(cluster.operator.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .map(|_| ()),
        "create a secret",
    );
    forbidden(
        Api::<InstanceSchedule>::namespaced(cluster.operator.clone(), namespace)
            .delete("any", &DeleteParams::default())
            .await
            .map(|_| ()),
        "delete an InstanceSchedule",
    );
}

/// Adoption is exclusive across namespaces: a bid another team's SpotBid placed is refused here,
/// and deleting the refused SpotBid, even one whose status shows that bid (restored from a
/// backup, written by hand), cancels nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_is_exclusive_across_namespaces_and_deletion_cancels_only_what_it_holds() {
    if skip_on_real_server(
        "adoption_is_exclusive_across_namespaces_and_deletion_cancels_only_what_it_holds",
        "needs a second namespace the operator watches",
    ) {
        return;
    }
    let h = Harness::start().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(h.kube.clone());
    let team_b = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"},
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &team_b)
        .await
        .expect("namespace");
    let theirs: Api<SpotBid> = Api::namespaced(h.kube.clone(), "team-b");
    theirs
        .create(&PostParams::default(), &spot_bid("holder", json!({})))
        .await
        .expect("SpotBid is accepted");
    let holder = h
        .wait_for::<SpotBid>("team-b", "holder", "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let fid = holder.status.unwrap().bid_fid.unwrap();

    for name in ["adopter", "restored"] {
        create(&h, &spot_bid(name, json!({"bidFid": fid}))).await;
        let refused = h
            .wait_for::<SpotBid>(h.ns(), name, "AdoptionConflict", |r| {
                condition_is(r, SYNCED, ConditionStatus::False, "AdoptionConflict")
            })
            .await;
        let status = refused.status.unwrap();
        let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
        assert!(message.contains("team-b/holder"), "{message}");
    }
    // A status showing the bid, as a restore from a backup would write it.
    let api: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    api.patch_status(
        "restored",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"bidFid": fid}})),
    )
    .await
    .expect("status patch");
    h.wait_for::<SpotBid>(h.ns(), "restored", "still refused", |r| {
        r.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(fid.as_str())
            && condition_is(r, SYNCED, ConditionStatus::False, "AdoptionConflict")
    })
    .await;
    h.sim.reset_counters();
    for name in ["adopter", "restored"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
        h.wait_gone::<SpotBid>(h.ns(), name).await;
    }
    assert_eq!(
        h.requests("DELETE", "/v2/spot/bids/{bid_fid}"),
        0,
        "nothing cancelled"
    );
    let kept = h.mithril.get_bid(&fid).await.unwrap();
    assert_ne!(kept.status, BidStatus::Terminated, "team-b keeps its bid");
}

/// Resources that exist when the operator starts are all reconciled at once, not at their turn of
/// the resync: more than one page of the watch's first list (500), so the cache is filled only
/// at the list's end, after the first pages' resources were queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_listed_at_start_is_reconciled_without_waiting_for_the_resync() {
    const RESOURCES: usize = 600;
    let mut h = Harness::start_stopped(Default::default()).await;
    // Each names a missing key Secret: its reconcile reports that, with no Mithril request.
    futures::stream::iter(0..RESOURCES)
        .for_each_concurrent(16, |index| {
            let h = &h;
            async move {
                let name = format!("listed-{index:03}");
                create(
                    h,
                    &spot_bid(&name, json!({"apiKeySecretRef": {"name": "absent"}})),
                )
                .await;
            }
        })
        .await;
    // Neither the resync nor a recheck of the problem comes within the test.
    h.restart_operator_with(mithril_operator::controller::ControllerConfig {
        resync: std::time::Duration::from_secs(3600),
        problem_recheck: std::time::Duration::from_secs(3600),
        ..crate::support::harness::test_config()
    })
    .await;
    h.wait_for_count(
        h.ns(),
        RESOURCES,
        "every listed SpotBid reports its missing Secret",
        |r: &SpotBid| condition_is(r, SYNCED, ConditionStatus::False, "ApiKeySecretNotFound"),
    )
    .await;
}
