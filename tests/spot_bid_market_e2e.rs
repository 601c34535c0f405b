//! Market-aware SpotBids end to end: pricing strategies, the ceiling, raises after preemptions
//! and region choice, against the Kubernetes API emulator and the Mithril simulator, with the
//! simulator's market moved by the test (demand up, capacity down, a region sold out).
//!
//! The controller here re-evaluates every resource every 200 ms (its resync), as production does
//! every few minutes, so that a move of a market the bid is not in is seen without a bid change.
//! Every assertion waits for the state the test's moves must lead to.

mod operator_harness;

use kube::api::{Api, PostParams};
use mithril_operator::controller::spot_bid::names::bid_name;
use mithril_operator::controller::{Context, ControllerConfig};
use mithril_operator::crd::{ConditionStatus, SYNCED, SpotBid, SpotBidPhase, find_condition};
use mithril_operator::mithril::{ApiKey, Bid, BidStatus};
use mithril_operator::runtime::metrics::Metrics;
use operator_harness::{API_KEY, Harness};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const NS: &str = "default";
const H100: &str = "h100-80gb.sxm.8x";
/// Default world: h100 capacity 16 here, floor $8.00.
const A: &str = "us-central1-a";
/// Capacity 8.
const B: &str = "us-central1-b";
/// Capacity 4.
const C: &str = "us-central2-a";
const PATCH_BID: (&str, &str) = ("PATCH", "/v2/spot/bids/{bid_fid}");

/// The harness with a controller whose resync is short.
async fn harness() -> Harness {
    let mut h = Harness::start().await;
    h.kill_controller().await;
    let config = ControllerConfig {
        resync: Duration::from_millis(200),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        ..ControllerConfig::default()
    };
    h.ctx = Arc::new(Context::new(
        h.kube.clone(),
        h.registry.clone(),
        Some(ApiKey::new(API_KEY).unwrap()),
        Metrics::new(),
        config,
    ));
    h.start_controller();
    h
}

async fn create(h: &Harness, name: &str, spec: serde_json::Value) -> SpotBid {
    let mut full = json!({
        "project": "demo",
        "region": A,
        "instanceType": H100,
        "instanceQuantity": 1,
    });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(extra.clone());
    }
    let resource: SpotBid = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": name, "namespace": NS},
        "spec": full,
    }))
    .unwrap();
    Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .create(&PostParams::default(), &resource)
        .await
        .expect("SpotBid is accepted")
}

fn status_of(resource: &SpotBid) -> &mithril_operator::crd::SpotBidStatus {
    resource.status.as_ref().expect("status")
}

fn phase(resource: &SpotBid) -> Option<SpotBidPhase> {
    resource.status.as_ref().and_then(|s| s.phase)
}

fn limit(resource: &SpotBid) -> Option<&str> {
    resource.status.as_ref()?.limit_price.as_deref()
}

fn pricing_reason(resource: &SpotBid) -> Option<&str> {
    Some(resource.status.as_ref()?.pricing.as_ref()?.reason.as_str())
}

fn synced_reason(resource: &SpotBid) -> Option<&str> {
    let status = resource.status.as_ref()?;
    find_condition(&status.conditions, SYNCED).map(|c| c.reason.as_str())
}

/// Creates a market-following SpotBid, which waits for the market; lets the observer read it;
/// returns the resource once its bid is placed, with the bid's name.
async fn placed_after_market(
    h: &Harness,
    name: &str,
    spec: serde_json::Value,
) -> (SpotBid, String) {
    let created = create(h, name, spec).await;
    h.wait_for::<SpotBid>(NS, name, "waiting for the market", |r| {
        synced_reason(r) == Some("WaitingForMarketData")
    })
    .await;
    assert_eq!(
        h.requests("POST", "/v2/spot/bids"),
        0,
        "nothing is placed before the market is known"
    );
    h.poll().await;
    let resource = h
        .wait_for::<SpotBid>(NS, name, "placed", |r| {
            r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
        })
        .await;
    let name = bid_name(NS, name, created.metadata.uid.as_deref().unwrap());
    (resource, name)
}

/// The one bid of `name` that is not terminated.
async fn live_bid(h: &Harness, name: &str) -> Bid {
    let live: Vec<Bid> = h
        .bids_named(name)
        .await
        .into_iter()
        .filter(|bid| bid.status != BidStatus::Terminated)
        .collect();
    assert_eq!(live.len(), 1, "{live:#?}");
    live.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clearing_price_strategy_follows_the_market_in_steps() {
    let h = harness().await;
    let (resource, name) = placed_after_market(
        &h,
        "follower",
        json!({"pricing": {
            "strategy": "ClearingPrice", "marginPercent": 10,
            "maxPrice": "$12.00", "repriceStep": "$0.25",
        }}),
    )
    .await;
    // Alone in the auction: the clearing price is the $8.00 floor, plus 10%.
    assert_eq!(limit(&resource), Some("$8.80"));
    let pricing = status_of(&resource).pricing.clone().unwrap();
    assert_eq!(pricing.basis, "ClearingPrice");
    assert_eq!(pricing.market_price.as_deref(), Some("$8.00"));
    assert_eq!(live_bid(&h, &name).await.limit_price.to_string(), "$8.80");
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "follower", "allocated", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;

    // Demand up: 16 instances wanted at $8.50 lose to the bid but set the clearing price.
    let demand = h.sim.add_demand(A, H100, 16, 850).unwrap();
    h.advance_minutes(2).await;
    h.wait_for::<SpotBid>(NS, "follower", "repriced", |r| limit(r) == Some("$9.35"))
        .await;
    assert_eq!(live_bid(&h, &name).await.limit_price.to_string(), "$9.35");
    let patches = h.requests(PATCH_BID.0, PATCH_BID.1);

    // A small move ($8.50 -> $8.55: target $9.41) is within the step: no PATCH.
    h.sim.remove_demand(&demand).unwrap();
    h.sim.add_demand(A, H100, 16, 855).unwrap();
    h.advance_minutes(2).await;
    let steady = h
        .wait_for::<SpotBid>(NS, "follower", "within the step", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.pricing.as_ref())
                .is_some_and(|p| p.market_price.as_deref() == Some("$8.55"))
        })
        .await;
    assert_eq!(pricing_reason(&steady), Some("WithinStep"));
    assert_eq!(
        status_of(&steady)
            .pricing
            .as_ref()
            .unwrap()
            .target_price
            .as_deref(),
        Some("$9.41")
    );
    assert_eq!(limit(&steady), Some("$9.35"));
    assert_eq!(
        h.requests(PATCH_BID.0, PATCH_BID.1),
        patches,
        "no PATCH storm"
    );
    assert_eq!(phase(&steady), Some(SpotBidPhase::Allocated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demand_spike_is_followed_only_up_to_max_price() {
    let h = harness().await;
    let (_, name) = placed_after_market(
        &h,
        "ceiling",
        json!({"pricing": {"strategy": "LowestAllocatedPrice", "maxPrice": "$12.00"}}),
    )
    .await;
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "ceiling", "allocated", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;

    // A bidder at $20.00 takes the whole auction: the weakest winner is now at $20.00.
    h.sim.add_demand(A, H100, 16, 2_000).unwrap();
    h.advance_minutes(2).await;
    let capped = h
        .wait_for::<SpotBid>(NS, "ceiling", "capped", |r| limit(r) == Some("$12.00"))
        .await;
    assert_eq!(pricing_reason(&capped), Some("CappedAtMaxPrice"));
    assert_eq!(live_bid(&h, &name).await.limit_price.to_string(), "$12.00");
    h.advance_minutes(10).await;
    let later = h
        .wait_for::<SpotBid>(NS, "ceiling", "open again", |r| {
            phase(r) == Some(SpotBidPhase::Open)
        })
        .await;
    assert_eq!(limit(&later), Some("$12.00"), "never above maxPrice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preempted_bid_raises_its_limit_and_wins_again_within_max_price() {
    let h = harness().await;
    create(
        &h,
        "raiser",
        json!({"limitPrice": "$9.00", "pricing": {"maxPrice": "$10.00", "preemptionRaise": "$0.75"}}),
    )
    .await;
    h.wait_for::<SpotBid>(NS, "raiser", "placed", |r| limit(r) == Some("$9.00"))
        .await;
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "raiser", "allocated", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;

    // Outbid for the whole auction: preempted, the limit goes up by one step.
    h.sim.add_demand(A, H100, 16, 950).unwrap();
    h.advance_minutes(2).await;
    let raised = h
        .wait_for::<SpotBid>(NS, "raiser", "raised", |r| limit(r) == Some("$9.75"))
        .await;
    assert_eq!(status_of(&raised).preemption_count, 1);
    h.wait_for_event(NS, "raiser", "LimitRaised").await;

    // After the notice the bid is open again and, above the $9.50 bidder now, wins again.
    h.advance_minutes(8).await;
    let won = h
        .wait_for::<SpotBid>(NS, "raiser", "allocated again", |r| {
            phase(r) == Some(SpotBidPhase::Allocated)
        })
        .await;
    assert_eq!(limit(&won), Some("$9.75"));

    // Outbid again: the next raise stops at maxPrice.
    h.sim.add_demand(A, H100, 16, 1_100).unwrap();
    h.advance_minutes(2).await;
    let capped = h
        .wait_for::<SpotBid>(NS, "raiser", "raised to the ceiling", |r| {
            limit(r) == Some("$10.00")
        })
        .await;
    let status = status_of(&capped);
    assert_eq!(status.preemption_count, 2);
    let pricing = status.pricing.as_ref().unwrap();
    assert_eq!(pricing.preemption_raise.as_deref(), Some("$1.00"));
    assert_eq!(pricing.raised_preemptions, 2);
    h.advance_minutes(8).await;
    let open = h
        .wait_for::<SpotBid>(NS, "raiser", "open", |r| {
            phase(r) == Some(SpotBidPhase::Open)
        })
        .await;
    assert_eq!(limit(&open), Some("$10.00"), "never above maxPrice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bid_goes_to_the_cheapest_region_with_room() {
    let h = harness().await;
    // A sold out; B busy (4 held at $10.00, a losing $8.50 bidder sets its price); C at the floor.
    h.sim.set_capacity(A, H100, 0).unwrap();
    h.sim.add_demand(B, H100, 4, 1_000).unwrap();
    h.sim.add_demand(B, H100, 5, 850).unwrap();
    h.advance_minutes(2).await;

    let (resource, name) = placed_after_market(
        &h,
        "wanderer",
        json!({"limitPrice": "$9.00", "regions": [B, C]}),
    )
    .await;
    let status = status_of(&resource);
    assert_eq!(status.region.as_deref(), Some(C));
    assert!(
        status
            .region_reason
            .as_deref()
            .unwrap()
            .contains("cheapest"),
        "{status:?}"
    );
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_bid_waits_out_the_period_before_moving() {
    let h = harness().await;
    let (resource, name) = placed_after_market(
        &h,
        "patient",
        json!({"limitPrice": "$9.00", "regions": [B], "regionChange": {"sustainedFor": "1h"}}),
    )
    .await;
    assert_eq!(
        status_of(&resource).region.as_deref(),
        Some(A),
        "a tie goes to spec.region"
    );

    // A sells out before the bid wins anything: B is better, but not yet for an hour.
    h.sim.set_capacity(A, H100, 0).unwrap();
    h.poll().await;
    let waiting = h
        .wait_for::<SpotBid>(NS, "patient", "a candidate", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.region_candidate.as_ref())
                .is_some_and(|c| c.region == B)
        })
        .await;
    let status = status_of(&waiting);
    assert_eq!(status.region.as_deref(), Some(A));
    assert!(
        status
            .region_reason
            .as_deref()
            .unwrap()
            .contains("moves there at"),
        "{status:?}"
    );
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(A));
    assert_eq!(h.requests("DELETE", "/v2/spot/bids/{bid_fid}"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_leaves_a_sold_out_region_and_then_stays_with_its_instances() {
    let h = harness().await;
    let (first, name) = placed_after_market(
        &h,
        "mover",
        json!({"limitPrice": "$9.00", "regions": [B],
               "regionChange": {"minSavingPercent": 10, "sustainedFor": "0s"}}),
    )
    .await;
    let first_fid = status_of(&first).bid_fid.clone().unwrap();
    assert_eq!(status_of(&first).region.as_deref(), Some(A));

    // A sells out while the bid is still open: it moves to B (cancel, then place anew).
    h.sim.set_capacity(A, H100, 0).unwrap();
    h.poll().await;
    let moved = h
        .wait_for::<SpotBid>(NS, "mover", "placed in B", |r| {
            r.status.as_ref().is_some_and(|s| {
                s.region.as_deref() == Some(B)
                    && s.bid_fid.as_deref().is_some_and(|fid| fid != first_fid)
            })
        })
        .await;
    h.wait_for_event(NS, "mover", "RegionChanged").await;
    let bids = h.bids_named(&name).await;
    assert_eq!(bids.len(), 2, "{bids:#?}");
    let old = bids.iter().find(|b| b.fid == first_fid).unwrap();
    assert_eq!(old.status, BidStatus::Terminated);
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(B));
    assert_eq!(
        live_bid(&h, &name).await.fid,
        status_of(&moved).bid_fid.clone().unwrap()
    );

    // Allocated in B. Then A has room again and B gets dearer than A by more than the margin:
    // the bid holds instances, so it stays.
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "mover", "allocated in B", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;
    h.sim.set_capacity(A, H100, 16).unwrap();
    h.sim.add_demand(B, H100, 8, 895).unwrap();
    h.advance_minutes(2).await;
    let holding = h
        .wait_for::<SpotBid>(NS, "mover", "A is cheaper", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.region_candidate.as_ref())
                .is_some_and(|c| c.region == A)
        })
        .await;
    let status = status_of(&holding);
    assert_eq!(status.region.as_deref(), Some(B));
    assert_eq!(status.phase, Some(SpotBidPhase::Allocated));
    assert!(
        status
            .region_reason
            .as_deref()
            .unwrap()
            .contains("holds instances"),
        "{status:?}"
    );
    assert_eq!(h.bids_named(&name).await.len(), 2, "no move back");
    assert!(
        find_condition(&status.conditions, SYNCED)
            .is_some_and(|c| c.status == ConditionStatus::True)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pricing_the_schema_admits_but_cannot_work_is_reported_and_nothing_is_placed() {
    let h = harness().await;
    // No price at all: the CRD's CEL rule refuses it, naming the field.
    let priceless: SpotBid = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": "priceless", "namespace": NS},
        "spec": {"project": "demo", "region": A, "instanceType": H100, "instanceQuantity": 1,
                 "pricing": {"maxPrice": "$10.00"}},
    }))
    .unwrap();
    let refused = Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .create(&PostParams::default(), &priceless)
        .await
        .expect_err("no price");
    assert!(refused.to_string().contains("limitPrice"), "{refused}");
    // A fixed limit above the ceiling passes the schema; only the operator can compare prices.
    create(
        &h,
        "priceless",
        json!({"limitPrice": "$12.00", "pricing": {"maxPrice": "$10.00"}}),
    )
    .await;
    let failed = h
        .wait_for::<SpotBid>(NS, "priceless", "InvalidPricing", |r| {
            synced_reason(r) == Some("InvalidPricing")
        })
        .await;
    assert_eq!(phase(&failed), Some(SpotBidPhase::Failed));
    let message = &find_condition(&status_of(&failed).conditions, SYNCED)
        .unwrap()
        .message;
    assert!(message.contains("spec.limitPrice"), "{message}");
    h.wait_for_event(NS, "priceless", "InvalidPricing").await;
    assert_eq!(h.requests("POST", "/v2/spot/bids"), 0);
}
