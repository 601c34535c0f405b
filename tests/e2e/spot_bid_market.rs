//! Market-aware SpotBids end to end: pricing strategies, the ceiling, raises after preemptions
//! and region choice, against the Kubernetes API emulator and the Mithril simulator, with the
//! simulator's market moved by the test (demand up, capacity down, a region sold out).
//!
//! The controller here re-evaluates every resource every 200 ms (its resync), as production does
//! every few minutes, so that a move of a market the bid is not in is seen without a bid change.
//! Every assertion waits for the state the test's moves must lead to.

use crate::support::harness::{CLUSTER, Harness, test_config};
use kube::api::{Api, PostParams};
use mithril_api::{Bid, BidStatus};
use mithril_operator::controller::ControllerConfig;
use mithril_operator::controller::spot_bid::names::bid_name;
use mithril_operator::crd::spot_bid::RegionCandidate;
use mithril_operator::crd::{ConditionStatus, SYNCED, SpotBid, SpotBidPhase, find_condition};
use serde_json::json;
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

/// The harness with a controller whose resync is short, on the simulator's clock.
async fn harness() -> Harness {
    let mut h = Harness::start().await;
    h.restart_operator_with(ControllerConfig {
        resync: Duration::from_millis(200),
        ..test_config()
    })
    .await;
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
    let name = bid_name(CLUSTER, NS, name, created.metadata.uid.as_deref().unwrap());
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

/// A preemption over before the operator looked (preempted, open again and won back between two
/// polls) is counted from the bid's history and still raises the limit, with one PATCH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preemption_shorter_than_a_poll_still_counts_and_raises_once() {
    let h = harness().await;
    create(
        &h,
        "blink",
        json!({"limitPrice": "$9.00", "pricing": {"maxPrice": "$10.00", "preemptionRaise": "$0.75"}}),
    )
    .await;
    h.wait_for::<SpotBid>(NS, "blink", "placed", |r| limit(r) == Some("$9.00"))
        .await;
    h.advance_minutes(8).await;
    let allocated = h
        .wait_for::<SpotBid>(NS, "blink", "allocated", |r| {
            phase(r) == Some(SpotBidPhase::Allocated) && !status_of(r).instances.is_empty()
        })
        .await;
    let first_instances = status_of(&allocated).instances.clone();

    // Outbid, preempted, open again and won back, all while nobody looks.
    let rival = h.sim.add_demand(A, H100, 16, 950).unwrap();
    h.sim.advance(Duration::from_secs(3 * 60));
    h.sim.advance(Duration::from_secs(6 * 60));
    h.sim.remove_demand(&rival).unwrap();
    h.sim.advance(Duration::from_secs(3 * 60));
    let patches = h.requests(PATCH_BID.0, PATCH_BID.1);
    h.poll().await;
    let raised = h
        .wait_for::<SpotBid>(NS, "blink", "raised", |r| limit(r) == Some("$9.75"))
        .await;
    let status = status_of(&raised);
    assert_eq!(status.preemption_count, 1);
    assert_ne!(
        status.instances, first_instances,
        "won back with new instances"
    );
    h.wait_for_event(NS, "blink", "LimitRaised").await;
    // Many reconciles later, still one PATCH for the one raise.
    for _ in 0..5 {
        h.a_fresh_reconcile().await;
        h.poll().await;
    }
    assert_eq!(h.requests(PATCH_BID.0, PATCH_BID.1), patches + 1);
    assert_eq!(h.event_count(NS, "blink", "LimitRaised").await, 1);
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

fn candidate(resource: &SpotBid) -> Option<&RegionCandidate> {
    resource.status.as_ref()?.region_candidate.as_ref()
}

fn region_reason(resource: &SpotBid) -> &str {
    status_of(resource)
        .region_reason
        .as_deref()
        .unwrap_or_default()
}

const DELETE_BID: (&str, &str) = ("DELETE", "/v2/spot/bids/{bid_fid}");

/// A bid with a fixed $9.00 limit that may run in A (preferred) or B and moves after `30m`,
/// placed in A (the regions tie at the floor); then A gets dearer while keeping room: a 10-instance
/// bidder at $10.00 wins, an 8-instance one at $9.50 no longer fits and sets A's price at $9.50,
/// which the $9.00 bid loses. B stays at the $8.00 floor, 15% cheaper. Returns the resource once it
/// shows B as the candidate, with the bid's name.
async fn open_bid_with_a_cheaper_region(h: &Harness, name: &str) -> (SpotBid, String) {
    let (placed, bid) = placed_after_market(
        h,
        name,
        json!({"limitPrice": "$9.00", "regions": [B],
               "regionChange": {"minSavingPercent": 10, "sustainedFor": "30m"}}),
    )
    .await;
    assert_eq!(status_of(&placed).region.as_deref(), Some(A));
    h.sim.add_demand(A, H100, 10, 1_000).unwrap();
    h.sim.add_demand(A, H100, 8, 950).unwrap();
    h.advance_minutes(2).await;
    let waiting = h
        .wait_for::<SpotBid>(NS, name, "B favoured", |r| {
            candidate(r).is_some_and(|c| c.region == B)
        })
        .await;
    assert_eq!(phase(&waiting), Some(SpotBidPhase::Open));
    (waiting, bid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_bid_moves_once_another_region_has_stayed_cheaper_for_the_whole_period() {
    let h = harness().await;
    let (waiting, name) = open_bid_with_a_cheaper_region(&h, "settler").await;
    let first_fid = status_of(&waiting).bid_fid.clone().unwrap();
    // The status says which region is favoured, since when (simulated time), and when it moves.
    let since = candidate(&waiting).unwrap().since.timestamp();
    assert_eq!(since, h.sim.now(), "first seen cheaper now");
    let due = since + jiff::SignedDuration::from_mins(30);
    assert_eq!(status_of(&waiting).region.as_deref(), Some(A));
    assert!(
        region_reason(&waiting).contains(&format!("moves there at {due}")),
        "{}",
        region_reason(&waiting)
    );

    // 28 minutes on, still short of the period: the bid stays where it is.
    h.advance_minutes(28).await;
    h.a_fresh_reconcile().await;
    let held = Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .get("settler")
        .await
        .unwrap();
    assert_eq!(status_of(&held).region.as_deref(), Some(A));
    assert_eq!(candidate(&held).map(|c| c.since.timestamp()), Some(since));
    assert_eq!(
        status_of(&held).bid_fid.as_deref(),
        Some(first_fid.as_str())
    );
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(A));
    assert_eq!(h.requests(DELETE_BID.0, DELETE_BID.1), 0);

    // Past the period: cancelled in A, placed anew in B, once.
    h.advance_minutes(3).await;
    let moved = h
        .wait_for::<SpotBid>(NS, "settler", "placed in B", |r| {
            r.status.as_ref().is_some_and(|s| {
                s.region.as_deref() == Some(B)
                    && s.bid_fid.as_deref().is_some_and(|fid| fid != first_fid)
            })
        })
        .await;
    assert_eq!(
        candidate(&moved),
        None,
        "the period starts again after a move"
    );
    h.wait_for_event(NS, "settler", "RegionChanged").await;
    let bids = h.bids_named(&name).await;
    assert_eq!(bids.len(), 2, "{bids:#?}");
    let old = bids.iter().find(|b| b.fid == first_fid).unwrap();
    assert_eq!(old.status, BidStatus::Terminated);
    assert_eq!(old.region.as_deref(), Some(A));
    let new = live_bid(&h, &name).await;
    assert_eq!(new.region.as_deref(), Some(B));
    assert_eq!(new.limit_price.to_string(), "$9.00");
    assert_eq!(h.requests(DELETE_BID.0, DELETE_BID.1), 1);
    assert_eq!(h.event_count(NS, "settler", "RegionChanged").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_cheaper_only_for_a_while_never_moves_the_bid() {
    let h = harness().await;
    let (waiting, name) = open_bid_with_a_cheaper_region(&h, "steady").await;
    let first_since = candidate(&waiting).unwrap().since.timestamp();

    // Ten minutes in, B gets busy too (4 held at $10.00, 8 more at $9.40 no longer fit): at $9.40
    // it is no longer 10% cheaper than A, and the clock stops.
    h.advance_minutes(10).await;
    let busy = h.sim.add_demand(B, H100, 8, 940).unwrap();
    h.sim.add_demand(B, H100, 4, 1_000).unwrap();
    h.advance_minutes(2).await;
    let level = h
        .wait_for::<SpotBid>(NS, "steady", "no candidate", |r| candidate(r).is_none())
        .await;
    assert!(
        region_reason(&level).contains("no other listed region is cheaper"),
        "{}",
        region_reason(&level)
    );

    // B drops back to the floor: the period starts again from when it does.
    h.sim.remove_demand(&busy).unwrap();
    h.advance_minutes(2).await;
    let again = h
        .wait_for::<SpotBid>(NS, "steady", "B favoured again", |r| {
            candidate(r).is_some_and(|c| c.region == B)
        })
        .await;
    let second_since = candidate(&again).unwrap().since.timestamp();
    assert_eq!(second_since, h.sim.now());
    assert!(second_since > first_since);

    // Past the end of the first period, within the second: the bid stays.
    h.advance_minutes(20).await;
    assert!(h.sim.now() > first_since + jiff::SignedDuration::from_mins(30));
    h.a_fresh_reconcile().await;
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(A));
    assert_eq!(h.requests(DELETE_BID.0, DELETE_BID.1), 0);
    assert_eq!(h.event_count(NS, "steady", "RegionChanged").await, 0);

    // B has now stayed cheaper for the whole second period: the bid moves.
    h.advance_minutes(11).await;
    h.wait_for::<SpotBid>(NS, "steady", "placed in B", |r| {
        status_of(r).region.as_deref() == Some(B) && phase(r) == Some(SpotBidPhase::Open)
    })
    .await;
    assert_eq!(live_bid(&h, &name).await.region.as_deref(), Some(B));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_holding_instances_never_moves_however_long_another_region_is_cheaper() {
    let h = harness().await;
    let (_, name) = placed_after_market(
        &h,
        "holder",
        json!({"limitPrice": "$9.50", "regions": [B],
               "regionChange": {"minSavingPercent": 10, "sustainedFor": "30m"}}),
    )
    .await;
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "holder", "allocated in A", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;

    // 16 more instances at $9.40 lose to the bid but set A's price: B is 15% cheaper.
    h.sim.add_demand(A, H100, 16, 940).unwrap();
    h.advance_minutes(2).await;
    let holding = h
        .wait_for::<SpotBid>(NS, "holder", "B favoured", |r| {
            candidate(r).is_some_and(|c| c.region == B)
        })
        .await;
    let since = candidate(&holding).unwrap().since.timestamp();
    assert!(
        region_reason(&holding).contains("holds instances"),
        "{}",
        region_reason(&holding)
    );

    // Far past the period, the bid still holds its instance in A, and stays there.
    h.advance_minutes(45).await;
    h.a_fresh_reconcile().await;
    let later = Api::<SpotBid>::namespaced(h.kube.clone(), NS)
        .get("holder")
        .await
        .unwrap();
    let status = status_of(&later);
    assert_eq!(status.phase, Some(SpotBidPhase::Allocated));
    assert_eq!(status.region.as_deref(), Some(A));
    assert_eq!(status.current_price.as_deref(), Some("$9.40"));
    assert_eq!(candidate(&later).map(|c| c.since.timestamp()), Some(since));
    assert_eq!(h.bids_named(&name).await.len(), 1, "never re-placed");
    assert_eq!(h.requests(DELETE_BID.0, DELETE_BID.1), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restating_the_price_drops_the_raises_after_preemptions() {
    let h = harness().await;
    create(
        &h,
        "restated",
        json!({"limitPrice": "$9.00", "pricing": {"maxPrice": "$11.00", "preemptionRaise": "$0.75"}}),
    )
    .await;
    h.wait_for::<SpotBid>(NS, "restated", "placed", |r| limit(r) == Some("$9.00"))
        .await;
    h.advance_minutes(8).await;
    h.wait_for::<SpotBid>(NS, "restated", "allocated", |r| {
        phase(r) == Some(SpotBidPhase::Allocated)
    })
    .await;
    h.sim.add_demand(A, H100, 16, 950).unwrap();
    h.advance_minutes(2).await;
    let raised = h
        .wait_for::<SpotBid>(NS, "restated", "raised", |r| limit(r) == Some("$9.75"))
        .await;
    let pricing = status_of(&raised).pricing.clone().unwrap();
    assert_eq!(pricing.preemption_raise.as_deref(), Some("$0.75"));
    assert_eq!(
        pricing.raised_on.as_deref(),
        Some("Fixed $9.00, raise $0.75")
    );

    // A higher ceiling gives the raises room; it does not restate the price.
    let api = Api::<SpotBid>::namespaced(h.kube.clone(), NS);
    let merge = |spec: serde_json::Value| kube::api::Patch::Merge(json!({ "spec": spec }));
    let params = kube::api::PatchParams::default();
    api.patch(
        "restated",
        &params,
        &merge(json!({"pricing": {"maxPrice": "$12.00"}})),
    )
    .await
    .unwrap();
    h.wait_for::<SpotBid>(NS, "restated", "the new generation seen", |r| {
        status_of(r).observed_generation == r.metadata.generation
    })
    .await;
    h.a_fresh_reconcile().await;
    let kept = api.get("restated").await.unwrap();
    assert_eq!(limit(&kept), Some("$9.75"));
    assert_eq!(h.event_count(NS, "restated", "RaiseReset").await, 0);

    // A new limitPrice is the price the user wants: the raise goes, at once.
    api.patch("restated", &params, &merge(json!({"limitPrice": "$9.20"})))
        .await
        .unwrap();
    let reset = h
        .wait_for::<SpotBid>(NS, "restated", "reset", |r| limit(r) == Some("$9.20"))
        .await;
    let pricing = status_of(&reset).pricing.clone().unwrap();
    assert_eq!(pricing.preemption_raise, None);
    assert_eq!(
        pricing.raised_on.as_deref(),
        Some("Fixed $9.20, raise $0.75")
    );
    assert_eq!(
        pricing.raised_preemptions, 1,
        "the edit is not a preemption"
    );
    assert_eq!(status_of(&reset).preemption_count, 1);
    assert_eq!(
        live_bid(&h, &bid_name_of(&reset))
            .await
            .limit_price
            .to_string(),
        "$9.20"
    );
    h.wait_for_event(NS, "restated", "RaiseReset").await;
    assert_eq!(h.event_count(NS, "restated", "RaiseReset").await, 1);
}

fn bid_name_of(resource: &SpotBid) -> String {
    status_of(resource).bid_name.clone().expect("a bid name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_the_region_and_the_limit_in_force() {
    let h = harness().await;
    placed_after_market(
        &h,
        "follower",
        json!({"regions": [B], "pricing": {"strategy": "ClearingPrice", "maxPrice": "$12.00"}}),
    )
    .await;
    create(&h, "fixed", json!({"limitPrice": "$9.00"})).await;
    h.wait_for::<SpotBid>(NS, "fixed", "placed", |r| limit(r) == Some("$9.00"))
        .await;
    let (columns, rows) = h
        .table("/apis/mithril.ai/v1alpha1/namespaces/default/spotbids")
        .await;
    assert_eq!(
        columns,
        [
            "Name",
            "Phase",
            "Region",
            "Limit",
            "Paying",
            "Instances",
            "Synced",
            "Ready",
            "Bid",
            "Age"
        ]
    );
    let row = |name: &str| {
        rows.iter()
            .find(|row| row[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
            .clone()
    };
    let fixed = row("fixed");
    assert_eq!(fixed[1..5], ["Open", A, "$9.00", ""]);
    assert_eq!(fixed[5], "0/1");
    assert_eq!(
        fixed[6..8],
        ["True", "False"],
        "Synced, not Ready while open"
    );
    assert!(fixed[8].starts_with("bid_"), "{fixed:?}");
    // A strategy bid has no spec.limitPrice: the column shows the limit the strategy set.
    let follower = row("follower");
    assert_eq!(follower[1..4], ["Open", A, "$8.80"]);
}
