//! Money safety end to end, against Mithril as its spec documents it (names are not unique, lists
//! may lag, answers may be lost): never a second live bid for a resource, never a bid left running
//! without one.

use crate::support::harness::{CLUSTER, Harness, test_config};
use kube::api::{Api, DeleteParams, PostParams};
use mithril_api::{Bid, BidStatus};
use mithril_operator::controller::ControllerConfig;
use mithril_operator::controller::spot_bid::names::{bid_name, legacy_bid_name};
use mithril_operator::crd::{SYNCED, SpotBid, find_condition};
use mithril_sim::FaultSpec;
use serde_json::json;
use std::time::Duration;

const NS: &str = "default";
const POST_BIDS: (&str, &str) = ("POST", "/v2/spot/bids");

async fn create(h: &Harness, name: &str) -> SpotBid {
    create_with(h, name, json!({})).await
}

/// Creates a SpotBid whose spec has `extra` on top of the usual one.
async fn create_with(h: &Harness, name: &str, extra: serde_json::Value) -> SpotBid {
    let mut spec = json!({
        "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
        "instanceQuantity": 1, "limitPrice": "$12.50",
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let resource: SpotBid = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .unwrap();
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .create(&PostParams::default(), &resource)
        .await
        .expect("SpotBid is accepted")
}

/// Creates a SpotBid and waits for its bid; returns the resource and the bid's name.
async fn placed(h: &Harness, name: &str) -> (SpotBid, String) {
    let created = create(h, name).await;
    let resource = h
        .wait_for::<SpotBid>(NS, name, "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let uid = created.metadata.uid.as_deref().unwrap();
    (resource, bid_name(CLUSTER, NS, name, uid))
}

/// The name of the bid the operator places for `created`.
fn created_bid_name(created: &SpotBid) -> String {
    let (name, uid) = (
        created.metadata.name.as_deref(),
        created.metadata.uid.as_deref(),
    );
    bid_name(CLUSTER, NS, name.unwrap(), uid.unwrap())
}

/// Every POST of a bid loses its answer and lands 800 ms later.
fn every_post_lands_late(h: &Harness) {
    h.sim.faults().set_route(
        POST_BIDS.0,
        POST_BIDS.1,
        FaultSpec {
            late_commit: 1.0,
            late_commit_delay: Duration::from_millis(800),
            ..FaultSpec::default()
        },
    );
}

fn synced_reason(resource: &SpotBid) -> Option<String> {
    resource
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, SYNCED))
        .map(|c| c.reason.clone())
}

fn live(bids: &[Bid]) -> Vec<&Bid> {
    bids.iter()
        .filter(|b| b.status != BidStatus::Terminated)
        .collect()
}

async fn bid(h: &Harness, fid: &str) -> Bid {
    h.mithril.get_bid(fid).await.expect("the bid")
}

/// Mithril does not promise unique names: a second live bid under a resource's name (a create
/// answered late, another replica's) is cancelled, and the one in the status is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_bid_under_the_resources_name_is_cancelled() {
    let h = Harness::start().await;
    let (resource, name) = placed(&h, "twin").await;
    let kept = resource.status.unwrap().bid_fid.unwrap();
    let twin = h.bid_by_hand(&name, "$12.50").await;
    h.poll().await;
    h.wait_for_event(NS, "twin", "DuplicateBidCancelled").await;
    assert_eq!(bid(&h, &twin.fid).await.status, BidStatus::Terminated);
    assert_ne!(bid(&h, &kept).await.status, BidStatus::Terminated);
    assert_eq!(live(&h.bids_named(&name).await).len(), 1);
    assert_eq!(h.ctx.metrics.safety_cancels("DuplicateBidCancelled"), 1);
    let after = h
        .wait_for::<SpotBid>(NS, "twin", "still on its bid", |r| {
            r.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(kept.as_str())
        })
        .await;
    assert_eq!(synced_reason(&after).as_deref(), Some("Synced"));
}

/// A bid this cluster placed whose resource is gone is cancelled after the grace; bids of other
/// clusters, legacy names, hand-made names and bids with a resource are never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_cancels_only_this_clusters_orphans() {
    let mut h = Harness::start().await;
    h.restart_operator_with(ControllerConfig {
        orphan_grace: Some(Duration::from_millis(400)),
        ..test_config()
    })
    .await;
    let (resource, _) = placed(&h, "owner").await;
    let owned = resource.status.unwrap().bid_fid.unwrap();
    let gone_uid = "0badc0de-0000-4000-8000-000000000000";
    let orphan = h
        .bid_by_hand(&bid_name(CLUSTER, NS, "ghost", gone_uid), "$5.00")
        .await;
    let keep = [
        h.bid_by_hand(&bid_name("another", NS, "ghost", gone_uid), "$5.00")
            .await,
        h.bid_by_hand(&legacy_bid_name(NS, "ghost", gone_uid), "$5.00")
            .await,
        h.bid_by_hand("my-training-run", "$5.00").await,
    ];
    h.poll().await;
    h.wait_until("the orphan is cancelled", || {
        h.ctx.metrics.safety_cancels("OrphanBidCancelled") == 1
    })
    .await;
    assert_eq!(bid(&h, &orphan.fid).await.status, BidStatus::Terminated);
    // Several more sweeps: nothing else goes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for kept in keep.iter().map(|b| b.fid.as_str()).chain([owned.as_str()]) {
        assert_ne!(bid(&h, kept).await.status, BidStatus::Terminated, "{kept}");
    }
    assert_eq!(h.ctx.metrics.safety_cancels("OrphanBidCancelled"), 1);
}

/// A bid Mithril keeps ending is placed again with backoff, not in a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_mithril_keeps_ending_is_placed_again_with_backoff() {
    let mut h = Harness::start().await;
    h.restart_operator_with(ControllerConfig {
        backoff_base: Duration::from_secs(3),
        backoff_max: Duration::from_secs(3),
        ..test_config()
    })
    .await;
    let (resource, _) = placed(&h, "ended").await;
    let mut fid = resource.status.unwrap().bid_fid.unwrap();
    // The first ending is answered at once.
    h.mithril.cancel_bid(&fid).await.unwrap();
    h.poll().await;
    let again = h
        .wait_for::<SpotBid>(NS, "ended", "placed again", |r| {
            r.status.as_ref().and_then(|s| s.bid_fid.as_deref()) != Some(fid.as_str())
        })
        .await;
    fid = again.status.unwrap().bid_fid.unwrap();
    // The second one in a row waits.
    let posts = h.requests(POST_BIDS.0, POST_BIDS.1);
    h.mithril.cancel_bid(&fid).await.unwrap();
    h.poll().await;
    let waiting = h
        .wait_for::<SpotBid>(NS, "ended", "waiting to place again", |r| {
            synced_reason(r).as_deref() == Some("BidEndedByMithril")
        })
        .await;
    assert_eq!(
        waiting.status.unwrap().bid_fid.as_deref(),
        Some(fid.as_str())
    );
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), posts, "no POST yet");
    let placed = h
        .wait_for::<SpotBid>(NS, "ended", "placed after the wait", |r| {
            r.status.as_ref().and_then(|s| s.bid_fid.as_deref()) != Some(fid.as_str())
        })
        .await;
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), posts + 1);
    assert_eq!(synced_reason(&placed).as_deref(), Some("Synced"));
}

/// Deleting a resource cancels its bid by the FID in its status, and releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_cancels_the_known_bid_and_its_twins() {
    let h = Harness::start().await;
    let (resource, name) = placed(&h, "leaving").await;
    let fid = resource.status.unwrap().bid_fid.unwrap();
    let twin = h.bid_by_hand(&name, "$12.50").await;
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .delete("leaving", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(NS, "leaving").await;
    for fid in [fid.as_str(), twin.fid.as_str()] {
        assert_eq!(bid(&h, fid).await.status, BidStatus::Terminated, "{fid}");
    }
}

/// A POST whose answer is lost and which lands later, with lists that lag: the operator waits for
/// it instead of placing a second bid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_that_lands_late_is_waited_for_not_repeated() {
    let h = Harness::start().await;
    let faults = h.sim.faults();
    every_post_lands_late(&h);
    faults.set_route(
        "GET",
        "/v2/spot/bids",
        FaultSpec {
            list_lag: Duration::from_millis(600),
            ..FaultSpec::default()
        },
    );
    let name = created_bid_name(&create(&h, "late").await);
    h.wait_for::<SpotBid>(NS, "late", "in doubt", |r| {
        synced_reason(r).as_deref() == Some("CreateOutcomeUnknown")
    })
    .await;
    let resource = h
        .wait_for::<SpotBid>(NS, "late", "the late bid found", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    // Well past the grace: still the one bid.
    for _ in 0..6 {
        h.poll().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), 1);
    faults.clear();
    let bids = h.bids_named(&name).await;
    assert_eq!(live(&bids).len(), 1, "{bids:?}");
    assert_eq!(
        resource.status.unwrap().bid_fid.as_deref(),
        Some(live(&bids)[0].fid.as_str())
    );
}

/// A resource deleted while its create is in doubt keeps its finalizer until the create resolves;
/// the bid that lands late is cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_deleted_while_its_create_is_in_doubt_cancels_the_late_bid() {
    let h = Harness::start().await;
    every_post_lands_late(&h);
    let name = created_bid_name(&create(&h, "doubt").await);
    h.wait_until("the POST was sent", || {
        h.requests(POST_BIDS.0, POST_BIDS.1) == 1
    })
    .await;
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .delete("doubt", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(NS, "doubt").await;
    h.sim.faults().clear();
    let bids = h.bids_named(&name).await;
    assert_eq!(bids.len(), 1, "the late bid landed: {bids:?}");
    assert!(live(&bids).is_empty(), "and was cancelled: {bids:?}");
}

/// A bid in the status is confirmed by its FID when a list does not show it (a lagging list, a new
/// observer): nothing is placed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_bid_missing_from_a_lagging_list_is_confirmed_not_replaced() {
    let mut h = Harness::start().await;
    let (resource, name) = placed(&h, "known").await;
    let fid = resource.status.unwrap().bid_fid.unwrap();
    h.sim.faults().set_all(FaultSpec {
        list_lag: Duration::from_secs(30),
        ..FaultSpec::default()
    });
    // A new leader: its first list is older than the bid.
    h.restart_operator().await;
    let reconciles = |h: &Harness| h.spot_bid_reconciles();
    h.wait_until("the new leader reconciled", || reconciles(&h) >= 1)
        .await;
    for _ in 0..4 {
        h.poll().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), 1);
    h.sim.faults().clear();
    let bids = h.bids_named(&name).await;
    assert_eq!(live(&bids).len(), 1, "{bids:?}");
    assert_eq!(live(&bids)[0].fid, fid);
}

/// Deletion cancels the bid by the FID in the status even when the project's name no longer
/// resolves (renamed on Mithril).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_cancels_by_fid_when_the_project_no_longer_resolves() {
    let mut h = Harness::start().await;
    let (resource, _) = placed(&h, "renamed").await;
    let fid = resource.status.unwrap().bid_fid.unwrap();
    assert!(h.sim.rename_project("demo", "demo-2026"));
    h.restart_operator().await;
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .delete("renamed", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(NS, "renamed").await;
    assert_eq!(bid(&h, &fid).await.status, BidStatus::Terminated);
}

/// A SpotBid that placed nothing (here: its key Secret is missing) is released at once on
/// deletion, whatever its key: `kubectl delete` and namespace deletion never hang on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_bid_that_placed_nothing_is_deleted_without_its_key() {
    let h = Harness::start().await;
    let held = keyless(&h).await;
    assert!(
        held.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "mithril.ai/cancel-bid"),
        "the finalizer is on before anything could be placed"
    );
    deleted_having_placed_nothing(&h, "keyless").await;
}

/// A SpotBid whose key Secret is missing, once it says so.
async fn keyless(h: &Harness) -> SpotBid {
    let missing = json!({"apiKeySecretRef": {"name": "no-such-secret"}});
    create_with(h, "keyless", missing).await;
    h.wait_for::<SpotBid>(NS, "keyless", "reported", |r| {
        synced_reason(r).as_deref() == Some("ApiKeySecretNotFound")
    })
    .await
}

/// Deletes `name` and waits until it is gone, no bid ever placed.
async fn deleted_having_placed_nothing(h: &Harness, name: &str) {
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotBid>(NS, name).await;
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), 0);
}

/// A SpotBid whose bid is live and whose key is gone keeps its finalizer on deletion (nothing
/// else could cancel the bid), says why and how to let it go, and goes with
/// `deletionPolicy: Orphan`, leaving the bid on Mithril.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placed_spot_bid_without_its_key_is_held_until_orphaned() {
    let h = Harness::start().await;
    h.create_key_secret(NS, "team-key", "fkey_teambteambteambteamb0000000")
        .await;
    create_with(
        &h,
        "keyed",
        json!({"apiKeySecretRef": {"name": "team-key"}}),
    )
    .await;
    let placed = h
        .wait_for::<SpotBid>(NS, "keyed", "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let fid = placed.status.unwrap().bid_fid.unwrap();

    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(h.kube.clone(), NS);
    secrets
        .delete("team-key", &DeleteParams::default())
        .await
        .unwrap();
    let api = Api::<SpotBid>::namespaced(h.kube.clone(), NS);
    api.delete("keyed", &DeleteParams::default()).await.unwrap();
    let held = h
        .wait_for::<SpotBid>(NS, "keyed", "held with a reason", |r| {
            synced_reason(r).as_deref() == Some("ApiKeySecretNotFound")
        })
        .await;
    let message = find_condition(&held.status.unwrap().conditions, SYNCED)
        .unwrap()
        .message
        .clone();
    assert!(message.contains(&fid), "{message}");
    assert!(message.contains("deletionPolicy: Orphan"), "{message}");
    assert_ne!(bid(&h, &fid).await.status, BidStatus::Terminated);

    let orphan = json!({"spec": {"deletionPolicy": "Orphan"}});
    api.patch(
        "keyed",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(orphan),
    )
    .await
    .unwrap();
    h.wait_gone::<SpotBid>(NS, "keyed").await;
    assert_ne!(
        bid(&h, &fid).await.status,
        BidStatus::Terminated,
        "left on Mithril"
    );
}

/// Even just after a restart, when a create of the previous leader could still show up: with no
/// key nothing could be seen or cancelled anyway, and no FID says anything was placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_bid_that_placed_nothing_is_deleted_without_its_key_just_after_a_restart() {
    let mut h = Harness::start().await;
    keyless(&h).await;
    // The new leader's grace for its predecessor's creates outlasts the test.
    h.restart_operator_with(ControllerConfig {
        create_grace: Duration::from_secs(600),
        ..test_config()
    })
    .await;
    deleted_having_placed_nothing(&h, "keyless").await;
}

/// `spec.bidFid` set while the SpotBid's own create is in doubt, on an API server without CEL (the
/// CRD's transition rule removed): refused, so the bid that lands late stays this resource's and is
/// cancelled with it; the bid named in `spec.bidFid` is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_fid_set_while_the_create_is_in_doubt_is_refused_without_cel() {
    if crate::support::harness::real::skip_on_real_server(
        "a_bid_fid_set_while_the_create_is_in_doubt_is_refused_without_cel",
        "replaces the shared SpotBid CRD",
    ) {
        return;
    }
    let h = Harness::start().await;
    drop_transition_rules(&h).await;
    let theirs = h.bid_by_hand("theirs", "$11.00").await;
    h.sim.reset_counters();
    h.sim.faults().set_route(
        POST_BIDS.0,
        POST_BIDS.1,
        FaultSpec {
            late_commit: 1.0,
            late_commit_delay: Duration::from_millis(1500),
            ..FaultSpec::default()
        },
    );
    let name = created_bid_name(&create(&h, "doubt").await);
    h.wait_for::<SpotBid>(NS, "doubt", "in doubt", |r| {
        synced_reason(r).as_deref() == Some("CreateOutcomeUnknown")
    })
    .await;
    let api = Api::<SpotBid>::namespaced(h.kube.clone(), NS);
    api.patch(
        "doubt",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"bidFid": theirs.fid}})),
    )
    .await
    .expect("no CEL: the edit goes through");
    h.wait_for::<SpotBid>(NS, "doubt", "refused", |r| {
        synced_reason(r).as_deref() == Some("AdoptionRefused")
    })
    .await;
    h.wait_until("the late bid landed", || {
        h.sim
            .bids_as_held()
            .iter()
            .any(|(_, held, _)| *held == name)
    })
    .await;
    // Past the grace: still refused, never the other bid.
    for _ in 0..6 {
        h.poll().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let refused = api.get("doubt").await.unwrap();
    assert_eq!(
        synced_reason(&refused).as_deref(),
        Some("AdoptionRefused"),
        "{refused:#?}"
    );
    assert_ne!(
        refused.status.unwrap().bid_fid.as_deref(),
        Some(theirs.fid.as_str())
    );
    assert_eq!(h.requests(POST_BIDS.0, POST_BIDS.1), 1);
    h.sim.faults().clear();
    let ours = h.bids_named(&name).await;
    assert_eq!(live(&ours).len(), 1, "{ours:?}");

    api.delete("doubt", &DeleteParams::default()).await.unwrap();
    h.wait_gone::<SpotBid>(NS, "doubt").await;
    let ours = h.bids_named(&name).await;
    assert!(
        live(&ours).is_empty(),
        "the late bid is cancelled: {ours:?}"
    );
    let kept = bid(&h, &theirs.fid).await;
    assert_ne!(kept.status, BidStatus::Terminated, "theirs is left alone");
    assert_eq!(kept.limit_price, theirs.limit_price, "and never changed");
}

/// Replaces the SpotBid CRD with one without its transition rules (`oldSelf`), as an API server
/// without CEL would leave them unchecked.
async fn drop_transition_rules(h: &Harness) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds = Api::<CustomResourceDefinition>::all(h.kube.clone());
    let crd = crds.get("spotbids.mithril.ai").await.unwrap();
    let mut value = serde_json::to_value(&crd).unwrap();
    for version in value["spec"]["versions"].as_array_mut().unwrap() {
        let rules = &mut version["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"];
        if let Some(rules) = rules.as_array_mut() {
            rules.retain(|rule| {
                !rule["rule"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("oldSelf")
            });
        }
    }
    let stripped: CustomResourceDefinition = serde_json::from_value(value).unwrap();
    crds.replace("spotbids.mithril.ai", &PostParams::default(), &stripped)
        .await
        .unwrap();
}
