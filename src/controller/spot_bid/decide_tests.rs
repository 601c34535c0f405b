use super::*;
use crate::controller::test_support::{bid_at, minute, spec};
use crate::crd::spot_bid::PricingStatus;
use crate::crd::{Condition, ConditionStatus, Time};
use mithril_api::endpoint::{CREATE_BID, UPDATE_BID};
use mithril_api::{ErrorDetail, Price};

fn rejected() -> MithrilError {
    MithrilError::Validation {
        endpoint: CREATE_BID,
        detail: ErrorDetail::Empty,
    }
}

fn unavailable() -> MithrilError {
    MithrilError::Server {
        endpoint: UPDATE_BID,
        status: 503,
        attempts: 3,
        detail: ErrorDetail::Empty,
    }
}

fn tracking(bid: Option<Bid>, hold: bool) -> Tracking {
    Tracking {
        bid,
        duplicates: Vec::new(),
        hold,
    }
}

fn synced(reason: Reason) -> SpotBidStatus {
    let now = Time::new(minute(0));
    SpotBidStatus {
        conditions: vec![Condition::new(
            SYNCED,
            ConditionStatus::False,
            reason,
            "why",
            Some(1),
            now,
        )],
        ..SpotBidStatus::default()
    }
}

#[test]
fn a_refused_first_create_is_final_and_a_refused_replacement_is_retried() {
    assert!(matches!(
        create_failure(rejected(), false),
        Failure::Problem(Problem {
            reason: Reason::BidRejected,
            ..
        })
    ));
    assert!(matches!(
        create_failure(rejected(), true),
        Failure::Retry(Problem {
            reason: Reason::BidRejected,
            ..
        })
    ));
    assert!(matches!(
        refusal_or_failure(unavailable(), Reason::UpdateRejected),
        Failure::Failed(_)
    ));
}

#[test]
fn a_refused_update_names_what_it_changed() {
    let price = UpdateBidRequest {
        limit_price: Some(Price::from_cents(900)),
        ..UpdateBidRequest::default()
    };
    let error = || MithrilError::Validation {
        endpoint: UPDATE_BID,
        detail: ErrorDetail::Empty,
    };
    assert!(matches!(
        update_failure(error(), &price),
        Failure::Problem(Problem {
            reason: Reason::PriceRejected,
            ..
        })
    ));
    let pause = UpdateBidRequest {
        paused: Some(true),
        ..UpdateBidRequest::default()
    };
    assert!(matches!(
        update_failure(error(), &pause),
        Failure::Problem(Problem {
            reason: Reason::UpdateRejected,
            ..
        })
    ));
    assert_eq!(describe(&price), "limit price $9.00");
    assert_eq!(
        summary(&Action::Update {
            fid: "bid_1".into(),
            request: pause
        }),
        "update bid bid_1: paused"
    );
}

#[test]
fn a_create_in_doubt_holds_placement_briefly() {
    let placements = Placements {
        uncertain_left: Some(Duration::from_secs(30)),
        ..Placements::default()
    };
    let (sync, wait) = placement_wait(&tracking(None, true), &placements).expect("a wait");
    assert_eq!(sync.reason, Reason::CreateOutcomeUnknown);
    assert!(sync.message.contains("within 30s"), "{}", sync.message);
    assert_eq!(wait, Duration::from_secs(5));
}

#[test]
fn bids_ended_again_and_again_wait_before_the_next() {
    let ended = bid_at("bid_ended", BidStatus::Terminated, 0);
    let placements = Placements {
        endings: 1,
        since_last_placed: Some(Duration::from_secs(1)),
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(300),
        ..Placements::default()
    };
    let (sync, wait) =
        placement_wait(&tracking(Some(ended.clone()), false), &placements).expect("a wait");
    assert_eq!(sync.reason, Reason::BidEndedByMithril);
    assert!(sync.message.contains("(2 in a row)"), "{}", sync.message);
    assert!(!wait.is_zero());

    // A bid the operator cancelled to move it is no reason to wait.
    let moved = Placements {
        relocated: Some("bid_ended".into()),
        ..placements.clone()
    };
    assert!(placement_wait(&tracking(Some(ended.clone()), false), &moved).is_none());
    // Nothing placed by this replica yet: nothing to wait for.
    let fresh = Placements {
        since_last_placed: None,
        ..placements
    };
    assert!(placement_wait(&tracking(Some(ended), false), &fresh).is_none());
}

#[test]
fn a_problem_is_said_once() {
    let problem = Problem::new(Reason::InvalidApiKey, "rejected");
    let said = problem_event(None, &problem).expect("an event");
    assert_eq!(
        (said.reason.as_str(), said.type_),
        ("InvalidApiKey", EventType::Warning)
    );
    let status = synced(Reason::InvalidApiKey);
    assert_eq!(synced_reason(Some(&status)), Some(Reason::InvalidApiKey));
    assert!(problem_event(synced_reason(Some(&status)), &problem).is_none());
}

#[test]
fn a_held_finalizer_says_how_to_let_the_bid_go() {
    let problem = Problem::new(Reason::InvalidApiKey, "rejected");
    let held = finalizer_held(problem, None, "mithril.ai/cancel-bid");
    assert_eq!(held.reason, Reason::InvalidApiKey);
    assert!(
        held.message
            .starts_with("rejected; bid (a create in doubt)")
    );
    assert!(held.message.contains("deletionPolicy: Orphan"));
}

#[test]
fn a_new_preemption_is_an_event() {
    let before = SpotBidStatus {
        preemption_count: 1,
        bid_fid: Some("bid_1".into()),
        ..SpotBidStatus::default()
    };
    assert!(preempted(Some(&before), &before).is_none());
    let after = SpotBidStatus {
        preemption_count: 2,
        ..before.clone()
    };
    let event = preempted(Some(&before), &after).expect("an event");
    assert_eq!(event.reason, "Preempted");
    assert!(event.note.is_some_and(|note| note.contains("bid bid_1")));
}

#[test]
fn event_texts_name_the_bids() {
    let kept = bid_at("bid_kept", BidStatus::Allocated, 0);
    let twin = duplicate_cancelled("bid_twin", Some(&kept));
    assert_eq!(
        twin.note.as_deref(),
        Some("cancelled bid bid_twin: a second live bid for this resource (kept bid_kept)")
    );
    assert_eq!(twin.reason, "DuplicateBidCancelled");
    assert_eq!(
        orphaned(None).note.as_deref(),
        Some("left bid (none placed) on Mithril (deletionPolicy: Orphan)")
    );
    assert_eq!(cancelled("bid_1").reason, "BidCancelled");
    assert_eq!(cancel_failed(&unavailable()).type_, EventType::Warning);
}

#[test]
fn the_desired_bid_follows_the_spec_under_its_resolved_names() {
    let spec = spec(2);
    let policies = policies(&spec).expect("a valid spec");
    let names = BidNames {
        name: "k8s-c1.team-a.train.3f2b8c1e".into(),
        project_fid: "proj_0123456789abcdef".into(),
        instance_type_fid: "it_0123456789abcdef".into(),
    };
    let market = market_view(
        None,
        MarketSeen {
            observed: false,
            auctions: Vec::new(),
            bid: None,
            history_preemptions: None,
            now: minute(0),
        },
    );
    let desired = desired(&spec, names, &policies, market);
    assert_eq!(desired.instance_quantity, 2);
    assert_eq!(desired.instance_type_fid, "it_0123456789abcdef");
    assert_eq!(desired.adopt_fid, None);
    assert!(!desired.market.observed);
}

#[test]
fn a_bad_limit_price_keeps_its_reason() {
    let bad = SpotBidSpec {
        limit_price: "twelve".into(),
        ..spec(1)
    };
    let problem = policies(&bad).err().expect("a problem");
    assert_eq!(problem.reason, Reason::InvalidLimitPrice);
}

#[test]
fn the_market_view_remembers_the_raises_of_the_status() {
    let previous = SpotBidStatus {
        preemption_count: 3,
        pricing: Some(Box::new(PricingStatus {
            preemption_raise: Some("$1.50".into()),
            raised_preemptions: 2,
            raised_on: Some("fixed".into()),
            ..PricingStatus::default()
        })),
        ..SpotBidStatus::default()
    };
    let view = market_view(
        Some(&previous),
        MarketSeen {
            observed: true,
            auctions: Vec::new(),
            bid: None,
            history_preemptions: None,
            now: minute(5),
        },
    );
    assert_eq!(view.preemptions, 3);
    assert_eq!(view.raises.total, Price::from_cents(150));
    assert_eq!(view.raises.raised_preemptions, 2);
    assert_eq!(view.raised_on.as_deref(), Some("fixed"));
    assert_eq!(view.now, minute(5));
}
