use super::*;
use crate::controller::spot_bid::pricing::PricingPolicy;

fn price(text: &str) -> Price {
    text.parse().unwrap()
}

fn fixed(text: &str) -> PricingPolicy {
    PricingPolicy::fixed(price(text))
}

/// `minute` minutes into the test's market history.
fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + minute * 60).unwrap()
}

/// The `create_request` of `desired` in its only region at its fixed price.
fn create_of(desired: &DesiredBid) -> CreateBidRequest {
    let plan = plan(&present(desired.clone()), None);
    match plan.action {
        Some(Action::Create(request)) => request,
        other => panic!("expected a create, got {other:?}"),
    }
}

fn desired() -> DesiredBid {
    DesiredBid {
        name: "k8s.team-a.train.3f2b8c1e".into(),
        project_fid: "proj_0123456789abcdef".into(),
        instance_type_fid: "it_0123456789abcdef".into(),
        regions: RegionPolicy::single("us-central1-a"),
        instance_quantity: 2,
        pricing: fixed("$12.50"),
        paused: false,
        launch_specification: LaunchSpecification {
            volumes: vec!["vol_a".into(), "vol_b".into()],
            ssh_keys: vec!["sshkey_1".into()],
            startup_script: Some("#!/bin/sh\necho hi".into()),
            kubernetes_cluster: None,
            image_version: None,
            memory_gb: None,
        },
        adopt_fid: None,
        market: MarketView::unobserved(at(0)),
    }
}

/// The bid Mithril would show for `desired()`, in the given status.
fn bid(status: BidStatus) -> Bid {
    let wanted = desired();
    Bid {
        fid: "bid_0123456789abcdef".into(),
        name: wanted.name,
        project: wanted.project_fid,
        created_by: "user_1".into(),
        created_at: "2026-11-23T10:00:00Z".parse().unwrap(),
        deactivated_at: None,
        limit_price: price("$12.50"),
        instance_quantity: wanted.instance_quantity,
        instance_type: wanted.instance_type_fid,
        region: Some("us-central1-a".into()),
        instances: Vec::new(),
        launch_specification: LaunchSpecification {
            // Mithril fills in the image it chose; an unset image in the spec is not drift.
            image_version: Some("imgver_default".into()),
            ..wanted.launch_specification
        },
        status,
    }
}

fn present(desired: DesiredBid) -> Intent {
    Intent::Present(Box::new(desired))
}

fn update_of(plan: &Plan) -> &UpdateBidRequest {
    match &plan.action {
        Some(Action::Update { fid, request }) => {
            assert_eq!(fid, "bid_0123456789abcdef");
            request
        }
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn no_bid_creates_one_with_the_full_body() {
    let plan = plan(&present(desired()), None);
    let Some(Action::Create(request)) = &plan.action else {
        panic!("{plan:?}")
    };
    assert_eq!(request.region, "us-central1-a");
    assert_eq!(request.name, "k8s.team-a.train.3f2b8c1e");
    assert_eq!(request.project, "proj_0123456789abcdef");
    assert_eq!(request.instance_type, "it_0123456789abcdef");
    assert_eq!(request.limit_price, price("$12.50"));
    assert_eq!(request.instance_quantity, 2);
    assert!(plan.drift.is_empty() && plan.blocker.is_none());
}

#[test]
fn a_matching_bid_needs_nothing_in_every_live_status() {
    for status in [BidStatus::Open, BidStatus::Allocated, BidStatus::Preempting] {
        let plan = plan(&present(desired()), Some(&bid(status.clone())));
        assert!(plan.is_in_sync(), "{status:?}: {plan:?}");
    }
    let paused = DesiredBid {
        paused: true,
        ..desired()
    };
    assert!(plan(&present(paused), Some(&bid(BidStatus::Paused))).is_in_sync());
}

#[test]
fn a_new_limit_price_patches_only_the_price() {
    let wanted = DesiredBid {
        pricing: fixed("$14.00"),
        ..desired()
    };
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$14.00"))
    );
    assert!(plan.drift.is_empty());
}

#[test]
fn pause_and_resume_follow_the_spec() {
    let pause = plan(
        &present(DesiredBid {
            paused: true,
            ..desired()
        }),
        Some(&bid(BidStatus::Allocated)),
    );
    assert_eq!(update_of(&pause), &UpdateBidRequest::default().paused(true));

    let resume = plan(&present(desired()), Some(&bid(BidStatus::Paused)));
    assert_eq!(
        update_of(&resume),
        &UpdateBidRequest::default().paused(false)
    );
}

#[test]
fn volumes_compare_as_a_set_and_patch_the_whole_list() {
    let mut reordered = bid(BidStatus::Allocated);
    reordered.launch_specification.volumes.reverse();
    assert!(plan(&present(desired()), Some(&reordered)).is_in_sync());

    let mut wanted = desired();
    wanted.launch_specification.volumes.push("vol_c".into());
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().volumes(vec!["vol_a".into(), "vol_b".into(), "vol_c".into()])
    );
}

#[test]
fn memory_is_enforced_only_when_the_spec_sets_it() {
    let mut with_memory = bid(BidStatus::Allocated);
    with_memory.launch_specification.memory_gb = Some(512);
    assert!(plan(&present(desired()), Some(&with_memory)).is_in_sync());

    let mut wanted = desired();
    wanted.launch_specification.memory_gb = Some(1024);
    let plan = plan(&present(wanted), Some(&with_memory));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().memory_gb(1024)
    );
}

#[test]
fn several_differences_go_in_one_patch() {
    let mut wanted = desired();
    wanted.pricing = fixed("$9.99");
    wanted.paused = true;
    wanted.launch_specification.memory_gb = Some(256);
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Open)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default()
            .limit_price(price("$9.99"))
            .paused(true)
            .memory_gb(256)
    );
}

#[test]
fn immutable_fields_are_reported_not_changed() {
    let mut wanted = desired();
    wanted.regions = RegionPolicy::single("us-central1-b");
    wanted.instance_quantity = 4;
    wanted.launch_specification.ssh_keys = vec!["sshkey_2".into()];
    wanted.launch_specification.startup_script = None;
    wanted.launch_specification.image_version = Some("imgver_other".into());
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        plan.action, None,
        "a live bid is never replaced to change an immutable field"
    );
    let fields: Vec<_> = plan.drift.iter().map(|d| d.field).collect();
    assert_eq!(
        fields,
        [
            "spec.region",
            "spec.instanceQuantity",
            "spec.launchSpecification.sshKeys",
            "spec.launchSpecification.startupScript",
            "spec.launchSpecification.imageVersion",
        ]
    );
    assert_eq!(plan.drift[0].wanted, "us-central1-b");
    assert_eq!(plan.drift[0].actual, "us-central1-a");
    assert!(!plan.is_in_sync());
}

#[test]
fn mutable_changes_still_apply_beside_immutable_drift() {
    let mut wanted = desired();
    wanted.regions = RegionPolicy::single("eu-central1-a");
    wanted.pricing = fixed("$20.00");
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Open)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$20.00"))
    );
    assert_eq!(plan.drift.len(), 1);
}

#[test]
fn a_bid_cancelled_outside_the_operator_is_placed_again() {
    let plan = plan(&present(desired()), Some(&bid(BidStatus::Terminated)));
    assert_eq!(plan.action, Some(Action::Create(create_of(&desired()))));
}

#[test]
fn adoption_manages_the_named_bid() {
    let wanted = DesiredBid {
        adopt_fid: Some("bid_0123456789abcdef".into()),
        pricing: fixed("$13.00"),
        ..desired()
    };
    let adopted = plan(&present(wanted.clone()), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&adopted),
        &UpdateBidRequest::default().limit_price(price("$13.00"))
    );

    let missing = plan(&present(wanted.clone()), None);
    assert_eq!(
        missing.action, None,
        "an adopted bid that is missing is never created"
    );
    assert_eq!(
        missing.blocker,
        Some(Blocker::AdoptedBidNotFound {
            fid: "bid_0123456789abcdef".into()
        })
    );

    let ended = plan(&present(wanted), Some(&bid(BidStatus::Terminated)));
    assert_eq!(ended.action, None);
    assert_eq!(
        ended.blocker,
        Some(Blocker::AdoptedBidTerminated {
            fid: "bid_0123456789abcdef".into()
        })
    );
}

#[test]
fn deletion_cancels_a_live_bid_in_any_status() {
    for status in [
        BidStatus::Open,
        BidStatus::Allocated,
        BidStatus::Preempting,
        BidStatus::Paused,
    ] {
        let plan = plan(
            &Intent::Deleting(DeletionPolicy::Delete),
            Some(&bid(status)),
        );
        assert_eq!(
            plan.action,
            Some(Action::Cancel {
                fid: "bid_0123456789abcdef".into()
            })
        );
    }
}

#[test]
fn deletion_of_a_gone_or_ended_bid_is_done() {
    assert!(plan(&Intent::Deleting(DeletionPolicy::Delete), None).is_in_sync());
    assert!(
        plan(
            &Intent::Deleting(DeletionPolicy::Delete),
            Some(&bid(BidStatus::Terminated))
        )
        .is_in_sync()
    );
}

#[test]
fn orphan_deletion_never_writes() {
    for observed in [
        None,
        Some(bid(BidStatus::Allocated)),
        Some(bid(BidStatus::Terminated)),
    ] {
        assert_eq!(
            plan(&Intent::Deleting(DeletionPolicy::Orphan), observed.as_ref()),
            Plan::default()
        );
    }
}

// Market-aware planning: region and price decided here, from the market the reconcile observed
// and what the status remembers.

use crate::controller::spot_bid::pricing::{PriceBase, PriceReason, RaiseMemory};
use crate::controller::spot_bid::regions::{RegionMarket, RegionReason};
use crate::crd::Time;
use crate::crd::spot_bid::{PricingStrategy, RegionCandidate};
use jiff::SignedDuration;

const A: &str = "us-central1-a";
const B: &str = "us-central1-b";

fn auction(region: &str, free_capacity: i64, clearing: &str) -> RegionMarket {
    RegionMarket {
        region: region.into(),
        free_capacity,
        clearing: price(clearing),
        lowest_allocated: None,
    }
}

fn following_market(max: &str) -> PricingPolicy {
    PricingPolicy {
        base: PriceBase::Market {
            strategy: PricingStrategy::ClearingPrice,
            margin_percent: 10,
        },
        max_price: Some(price(max)),
        reprice_step: price("$0.25"),
        preemption_raise: None,
    }
}

fn two_regions() -> RegionPolicy {
    RegionPolicy {
        regions: vec![A.into(), B.into()],
        min_saving_percent: 10,
        sustained_for: SignedDuration::from_mins(30),
    }
}

/// `desired()` following the clearing price in A or B, with the market observed at `minute`.
fn market_desired(auctions: Vec<RegionMarket>, minute: i64) -> DesiredBid {
    DesiredBid {
        regions: two_regions(),
        pricing: following_market("$14.00"),
        market: MarketView {
            observed: true,
            auctions,
            ..MarketView::unobserved(at(minute))
        },
        ..desired()
    }
}

fn with_limit(mut bid: Bid, limit: &str) -> Bid {
    bid.limit_price = price(limit);
    bid
}

#[test]
fn a_market_bid_waits_until_the_market_is_observed() {
    let unobserved = DesiredBid {
        market: MarketView::unobserved(at(0)),
        ..market_desired(Vec::new(), 0)
    };
    let waiting = plan(&present(unobserved), None);
    assert_eq!(waiting.action, None);
    assert_eq!(waiting.blocker, Some(Blocker::MarketNotObserved));
    assert!(!waiting.blocker.as_ref().unwrap().is_terminal());

    // Observed, but no auction for the type anywhere listed: nothing to price the bid with.
    let no_auction = plan(&present(market_desired(Vec::new(), 0)), None);
    assert_eq!(
        no_auction.blocker,
        Some(Blocker::NoAuction { region: A.into() })
    );

    // A fixed price in one region never waits: exactly as before market-aware pricing.
    let fixed = plan(&present(desired()), None);
    assert!(matches!(fixed.action, Some(Action::Create(_))));
}

#[test]
fn a_new_bid_is_placed_in_the_cheapest_region_at_the_strategy_price() {
    let wanted = market_desired(vec![auction(A, 0, "$7.00"), auction(B, 8, "$8.00")], 0);
    let plan = plan(&present(wanted), None);
    let Some(Action::Create(request)) = &plan.action else {
        panic!("{plan:?}")
    };
    assert_eq!(request.region, B, "A has no room for 2");
    assert_eq!(request.limit_price, price("$8.80"));
    let market = plan.market.as_ref().unwrap();
    assert_eq!(market.price.reason, PriceReason::FollowingMarket);
    assert_eq!(
        market.region.reason,
        RegionReason::Cheapest {
            price: price("$8.00")
        }
    );
}

/// A jittery market for two hours, one observation a minute, then a spike: the limit follows
/// only moves beyond the step, never exceeds the ceiling, and the bid is patched a handful of
/// times, not every minute.
#[test]
fn a_market_history_reprices_without_a_patch_storm() {
    let mut bid = with_limit(bid(BidStatus::Allocated), "$8.80");
    let mut patches = Vec::new();
    for minute in 0..150 {
        // $8.00 to $8.20 and back, every minute; from minute 60 a rise to $9.00; from 120, $20.
        let clearing = match minute {
            0..60 => 800 + (minute % 3) * 10,
            60..120 => 900 + (minute % 2) * 5,
            _ => 2000,
        };
        let clearing = Price::from_cents(u64::try_from(clearing).unwrap()).to_string();
        let wanted = DesiredBid {
            regions: RegionPolicy::single(A),
            ..market_desired(vec![auction(A, 14, &clearing)], minute)
        };
        let plan = plan(&present(wanted), Some(&bid));
        if let Some(Action::Update { request, .. }) = &plan.action {
            let limit = request.limit_price.expect("only the price changes");
            assert!(limit <= price("$14.00"), "minute {minute}: {limit}");
            patches.push((minute, limit));
            bid.limit_price = limit;
        }
    }
    assert_eq!(
        patches,
        [(60, price("$9.90")), (120, price("$14.00"))],
        "one PATCH for the rise, one to the ceiling for the spike"
    );
}

#[test]
fn an_open_bid_moves_by_cancelling_then_placing_anew() {
    let remembered = RegionCandidate {
        region: B.into(),
        since: Time::new(at(0)),
    };
    let wanted = |minute| DesiredBid {
        market: MarketView {
            region_candidate: Some(remembered.clone()),
            ..market_desired(vec![auction(A, 0, "$8.00"), auction(B, 8, "$8.00")], minute).market
        },
        ..market_desired(Vec::new(), minute)
    };
    let open = with_limit(bid(BidStatus::Open), "$8.80");

    let early = plan(&present(wanted(29)), Some(&open));
    assert_eq!(early.action, None, "not for the whole period yet");
    assert_eq!(
        early.market.as_ref().unwrap().region.candidate,
        Some(remembered.clone())
    );

    let due = plan(&present(wanted(30)), Some(&open));
    assert_eq!(
        due.action,
        Some(Action::Relocate {
            fid: "bid_0123456789abcdef".into(),
            from: A.into(),
            to: B.into()
        })
    );

    // The next reconcile sees the cancelled bid and places it in B.
    let mut cancelled = open.clone();
    cancelled.status = BidStatus::Terminated;
    let placed = plan(&present(wanted(30)), Some(&cancelled));
    let Some(Action::Create(request)) = &placed.action else {
        panic!("{placed:?}")
    };
    assert_eq!(request.region, B);
    assert_eq!(request.limit_price, price("$8.80"));
}

#[test]
fn allocated_adopted_or_paused_bids_stay_where_they_are() {
    let markets = vec![auction(A, 0, "$12.00"), auction(B, 16, "$8.00")];
    let old_candidate = Some(RegionCandidate {
        region: B.into(),
        since: Time::new(at(0)),
    });
    let wanted = DesiredBid {
        market: MarketView {
            region_candidate: old_candidate,
            ..market_desired(markets, 600).market
        },
        ..market_desired(Vec::new(), 600)
    };
    let allocated = with_limit(bid(BidStatus::Allocated), "$13.20");
    let plan_allocated = plan(&present(wanted.clone()), Some(&allocated));
    assert_eq!(plan_allocated.action, None);
    assert_eq!(
        plan_allocated.market.unwrap().region.reason,
        RegionReason::HoldsInstances
    );

    let adopted = DesiredBid {
        adopt_fid: Some("bid_0123456789abcdef".into()),
        ..wanted.clone()
    };
    let open = with_limit(bid(BidStatus::Open), "$13.20");
    assert!(!matches!(
        plan(&present(adopted), Some(&open)).action,
        Some(Action::Relocate { .. })
    ));
    let paused = DesiredBid {
        paused: true,
        ..wanted
    };
    let mut paused_bid = open.clone();
    paused_bid.status = BidStatus::Paused;
    assert_eq!(plan(&present(paused), Some(&paused_bid)).action, None);
}

#[test]
fn a_preemption_raises_the_limit_at_once() {
    let policy = PricingPolicy {
        max_price: Some(price("$14.00")),
        preemption_raise: Some(price("$0.50")),
        ..fixed("$12.50")
    };
    let wanted = DesiredBid {
        pricing: policy,
        market: MarketView {
            preemptions: 1,
            ..MarketView::unobserved(at(0))
        },
        ..desired()
    };
    let preempting = bid(BidStatus::Preempting);
    let plan = plan(&present(wanted.clone()), Some(&preempting));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$13.00"))
    );
    let price_decision = &plan.market.as_ref().unwrap().price;
    assert_eq!(price_decision.reason, PriceReason::RaisedAfterPreemption);
    assert_eq!(
        price_decision.memory,
        RaiseMemory {
            total: price("$0.50"),
            raised_preemptions: 1
        }
    );

    // Remembered: the next reconcile keeps the raised limit and raises nothing more.
    let remembered = DesiredBid {
        market: MarketView {
            preemptions: 1,
            raises: price_decision.memory,
            ..MarketView::unobserved(at(1))
        },
        ..wanted
    };
    let raised = with_limit(bid(BidStatus::Open), "$13.00");
    let next = super::plan(&present(remembered), Some(&raised));
    assert!(next.is_in_sync(), "{next:?}");
    assert_eq!(next.market.unwrap().price.raised_by, None);
}

#[test]
fn restating_the_price_drops_the_raises_at_once() {
    let raised_under = PricingPolicy {
        max_price: Some(price("$14.00")),
        preemption_raise: Some(price("$0.50")),
        ..fixed("$12.50")
    };
    let remembered = MarketView {
        preemptions: 2,
        raises: RaiseMemory {
            total: price("$1.00"),
            raised_preemptions: 2,
        },
        raised_on: Some(raised_under.raise_basis()),
        ..MarketView::unobserved(at(0))
    };
    let raised = with_limit(bid(BidStatus::Open), "$13.50");

    // The ceiling moves: the raises stay.
    let roomier = DesiredBid {
        pricing: PricingPolicy {
            max_price: Some(price("$16.00")),
            ..raised_under
        },
        market: remembered.clone(),
        ..desired()
    };
    let kept = plan(&present(roomier), Some(&raised));
    assert!(kept.is_in_sync(), "{kept:?}");

    // The fixed price is restated: the raises go, and the limit is the new price.
    let restated = DesiredBid {
        pricing: PricingPolicy {
            max_price: Some(price("$14.00")),
            preemption_raise: Some(price("$0.50")),
            ..fixed("$12.75")
        },
        market: remembered,
        ..desired()
    };
    let plan = plan(&present(restated), Some(&raised));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$12.75"))
    );
    let decision = &plan.market.as_ref().unwrap().price;
    assert_eq!(decision.dropped_raise, Some(price("$1.00")));
    assert_eq!(
        decision.memory,
        RaiseMemory {
            total: Price::ZERO,
            raised_preemptions: 2
        }
    );
    assert_eq!(decision.raised_on, "Fixed $12.75, raise $0.50");
}

#[test]
fn a_bid_in_an_unlisted_region_is_drift_of_the_region_list() {
    let wanted = market_desired(vec![auction(A, 8, "$8.00"), auction(B, 8, "$8.00")], 0);
    let mut elsewhere = with_limit(bid(BidStatus::Open), "$8.80");
    elsewhere.region = Some("eu-central1-a".into());
    let plan = plan(&present(wanted), Some(&elsewhere));
    assert_eq!(
        plan.drift,
        [ImmutableDrift {
            field: "spec.regions",
            wanted: format!("{A},{B}"),
            actual: "eu-central1-a".into()
        }]
    );
    assert_eq!(plan.action, None);
}
