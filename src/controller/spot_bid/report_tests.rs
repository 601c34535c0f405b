use super::*;
use crate::controller::spot_bid::plan::{DesiredBid, ImmutableDrift, Intent, MarketView, plan};
use crate::controller::spot_bid::pricing::PricingPolicy;
use crate::controller::spot_bid::regions::RegionPolicy;
use crate::controller::test_support::spec;
use crate::crd::find_condition;
use crate::crd::spot_bid::Spend;
use mithril_api::LaunchSpecification;

fn at(minute: i64) -> Time {
    Time::new(jiff::Timestamp::from_second(1_795_000_000 + minute * 60).unwrap())
}

fn bid(status: BidStatus) -> Bid {
    Bid {
        fid: "bid_0123456789abcdef".into(),
        name: "k8s.default.train.3f2b8c1e".into(),
        project: "proj_0123456789abcdef".into(),
        created_by: "user_1".into(),
        created_at: "2026-11-23T10:00:00Z".parse().unwrap(),
        deactivated_at: None,
        limit_price: "$12.50".parse().unwrap(),
        instance_quantity: 2,
        instance_type: "it_0123456789abcdef".into(),
        region: Some("us-central1-a".into()),
        instances: vec!["inst_b".into(), "inst_a".into()],
        launch_specification: LaunchSpecification::default(),
        status,
    }
}

fn instance(fid: &str, status: InstanceStatus) -> Instance {
    Instance {
        fid: fid.into(),
        name: format!("{fid}-name"),
        project: "proj_0123456789abcdef".into(),
        created_at: "2026-11-23T10:02:00Z".parse().unwrap(),
        created_by: "user_1".into(),
        instance_type: "it_0123456789abcdef".into(),
        region: Some("us-central1-a".into()),
        bid: Some("bid_0123456789abcdef".into()),
        reservation: None,
        ssh_destination: (status == InstanceStatus::Running)
            .then(|| format!("ubuntu@{fid}.example")),
        private_ip: Some("10.0.0.7".into()),
        status,
    }
}

fn condition<'a>(status: &'a SpotBidStatus, type_: &str) -> &'a Condition {
    find_condition(&status.conditions, type_).unwrap()
}

#[test]
fn before_the_bid_exists_the_phase_is_pending() {
    let status = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: Some("k8s.default.train.3f2b8c1e"),
        observed: Observation::default(),
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    assert_eq!(status.phase, Some(SpotBidPhase::Pending));
    assert_eq!(status.bid_fid, None);
    assert_eq!(
        status.bid_name.as_deref(),
        Some("k8s.default.train.3f2b8c1e")
    );
    assert_eq!(status.ready.as_deref(), Some("0/2"));
    assert_eq!(condition(&status, READY).status, ConditionStatus::False);
    assert_eq!(condition(&status, READY).reason, "BidNotPlaced");
    assert_eq!(status.observed_generation, Some(1));
}

#[test]
fn an_open_bid_waits_for_capacity_and_pays_nothing() {
    let bid = bid(BidStatus::Open);
    let observed = Observation {
        bid: Some(&bid),
        instances: &[],
        clearing_price: Some("$15.00".parse().unwrap()),
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let status = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    assert_eq!(status.phase, Some(SpotBidPhase::Open));
    assert_eq!(status.bid_fid.as_deref(), Some("bid_0123456789abcdef"));
    assert_eq!(status.limit_price.as_deref(), Some("$12.50"));
    assert_eq!(status.current_price, None);
    assert_eq!(condition(&status, READY).reason, "WaitingForCapacity");
    assert!(condition(&status, SYNCED).is_true());
}

#[test]
fn ready_only_when_allocated_and_every_instance_runs() {
    let bid = bid(BidStatus::Allocated);
    let starting = [
        instance("inst_b", InstanceStatus::Starting),
        instance("inst_a", InstanceStatus::Running),
    ];
    let observed = Observation {
        bid: Some(&bid),
        instances: &starting,
        clearing_price: Some("$9.75".parse().unwrap()),
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let first = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    assert_eq!(first.phase, Some(SpotBidPhase::Allocated));
    assert_eq!(
        first.current_price.as_deref(),
        Some("$9.75"),
        "winners pay the clearing price"
    );
    assert_eq!(first.ready.as_deref(), Some("1/2"));
    assert_eq!(condition(&first, READY).reason, "InstancesStarting");
    let fids: Vec<_> = first.instances.iter().map(|i| i.fid.as_str()).collect();
    assert_eq!(
        fids,
        ["inst_a", "inst_b"],
        "instances are listed in a stable order"
    );

    let running = [
        instance("inst_b", InstanceStatus::Running),
        instance("inst_a", InstanceStatus::Running),
    ];
    let observed = Observation {
        instances: &running,
        ..observed
    };
    let second = status(StatusInputs {
        previous: Some(&first),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(3),
    });
    assert!(condition(&second, READY).is_true());
    assert_eq!(condition(&second, READY).last_transition_time, at(3));
    assert_eq!(second.ready_instances, 2);
    assert_eq!(
        second.instances[1].ssh_destination.as_deref(),
        Some("ubuntu@inst_b.example")
    );
}

#[test]
fn an_unchanged_observation_rebuilds_an_equal_status() {
    let bid = bid(BidStatus::Allocated);
    let running = [
        instance("inst_a", InstanceStatus::Running),
        instance("inst_b", InstanceStatus::Running),
    ];
    let observed = Observation {
        bid: Some(&bid),
        instances: &running,
        clearing_price: Some("$9.75".parse().unwrap()),
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let first = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(4),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    let again = status(StatusInputs {
        previous: Some(&first),
        spec: &spec(2),
        generation: Some(4),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(10),
    });
    assert_eq!(first, again, "no status write when nothing changed");
}

#[test]
fn each_preemption_is_counted_once() {
    let allocated = bid(BidStatus::Allocated);
    let preempting = bid(BidStatus::Preempting);
    let open = bid(BidStatus::Open);
    let observe = |bid| Observation {
        bid: Some(bid),
        instances: &[],
        clearing_price: None,
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let in_sync = SyncOutcome::in_sync();

    let s1 = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&allocated),
        sync: &in_sync,
        now: at(0),
    });
    let s2 = status(StatusInputs {
        previous: Some(&s1),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&preempting),
        sync: &in_sync,
        now: at(2),
    });
    let s3 = status(StatusInputs {
        previous: Some(&s2),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&preempting),
        sync: &in_sync,
        now: at(4),
    });
    let s4 = status(StatusInputs {
        previous: Some(&s3),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&open),
        sync: &in_sync,
        now: at(7),
    });
    assert_eq!(
        (
            s2.preemption_count,
            s3.preemption_count,
            s4.preemption_count
        ),
        (1, 1, 1)
    );
    assert_eq!(s4.last_preemption_time, Some(at(2)));
    assert_eq!(condition(&s2, READY).reason, "Preempting");
    assert_eq!(
        s4.phase,
        Some(SpotBidPhase::Open),
        "a preempted bid returns to Open"
    );

    let s5 = status(StatusInputs {
        previous: Some(&s4),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&allocated),
        sync: &in_sync,
        now: at(9),
    });
    let s6 = status(StatusInputs {
        previous: Some(&s5),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: observe(&preempting),
        sync: &in_sync,
        now: at(12),
    });
    assert_eq!(s6.preemption_count, 2);
    assert_eq!(s6.last_preemption_time, Some(at(12)));
}

#[test]
fn a_terminal_failure_without_a_bid_is_failed() {
    let sync = SyncOutcome::failed(
        Reason::InvalidApiKey,
        "Mithril rejected the API key (401)",
        true,
    );
    let status = status(StatusInputs {
        previous: None,
        spec: &spec(1),
        generation: Some(2),
        bid_name: None,
        observed: Observation::default(),
        sync: &sync,
        now: at(0),
    });
    assert_eq!(status.phase, Some(SpotBidPhase::Failed));
    let synced = condition(&status, SYNCED);
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "InvalidApiKey")
    );
    assert_eq!(
        condition(&status, READY).message,
        "Mithril rejected the API key (401)"
    );
}

#[test]
fn a_failure_that_observes_no_bid_keeps_the_bid_fid() {
    let bid = bid(BidStatus::Open);
    let observed = Observation {
        bid: Some(&bid),
        instances: &[],
        clearing_price: None,
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let placed = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed,
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    // The project became one the key cannot see: nothing is observed, the FID stays.
    let sync = SyncOutcome::failed(
        Reason::ProjectNotFound,
        "Mithril has no project \"other\"",
        true,
    );
    let failed = status(StatusInputs {
        previous: Some(&placed),
        spec: &spec(2),
        generation: Some(2),
        bid_name: None,
        observed: Observation::default(),
        sync: &sync,
        now: at(1),
    });
    assert_eq!(failed.bid_fid.as_deref(), Some("bid_0123456789abcdef"));
    assert_eq!(condition(&failed, SYNCED).reason, "ProjectNotFound");
}

#[test]
fn a_transient_failure_keeps_the_observed_phase() {
    let bid = bid(BidStatus::Allocated);
    let sync = SyncOutcome::failed(
        Reason::MithrilUnavailable,
        "PATCH /v2/spot/bids/{bid_fid}: 503",
        false,
    );
    let observed = Observation {
        bid: Some(&bid),
        instances: &[],
        clearing_price: None,
        market: None,
        history_preemptions: None,
        cost_so_far: None,
        events: &[],
    };
    let status = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(3),
        bid_name: None,
        observed,
        sync: &sync,
        now: at(0),
    });
    assert_eq!(status.phase, Some(SpotBidPhase::Allocated));
    assert_eq!(condition(&status, SYNCED).reason, "MithrilUnavailable");
    assert_eq!(condition(&status, SYNCED).observed_generation, Some(3));
}

#[test]
fn plans_explain_themselves_in_the_synced_condition() {
    let desired = DesiredBid {
        name: "k8s.default.train.3f2b8c1e".into(),
        project_fid: "proj_0123456789abcdef".into(),
        instance_type_fid: "it_0123456789abcdef".into(),
        regions: RegionPolicy::single("us-central1-b"),
        instance_quantity: 2,
        pricing: PricingPolicy::fixed("$12.50".parse().unwrap()),
        paused: false,
        launch_specification: LaunchSpecification::default(),
        adopt_fid: None,
        market: MarketView::unobserved(at(0).timestamp()),
    };
    let drift = plan(
        &Intent::Present(Box::new(desired.clone())),
        Some(&bid(BidStatus::Open)),
    );
    assert_eq!(
        drift.drift,
        [ImmutableDrift {
            field: "spec.region",
            wanted: "us-central1-b".into(),
            actual: "us-central1-a".into()
        }]
    );
    let outcome = SyncOutcome::from_plan(&drift);
    assert_eq!(outcome.reason, "ImmutableFieldChanged");
    assert!(
        outcome
            .message
            .contains("spec.region is \"us-central1-b\" but the bid has \"us-central1-a\""),
        "{}",
        outcome.message
    );

    let adopt = DesiredBid {
        adopt_fid: Some("bid_missing".into()),
        ..desired
    };
    let missing = SyncOutcome::from_plan(&plan(&Intent::Present(Box::new(adopt)), None));
    assert_eq!(
        (missing.reason.as_str(), missing.terminal),
        ("AdoptedBidNotFound", true)
    );
}

mod market {
    use super::*;
    use crate::controller::spot_bid::plan::{Action, Plan};
    use crate::controller::spot_bid::pricing::{PriceBase, PricingPolicy};
    use crate::controller::spot_bid::regions::{RegionMarket, RegionPolicy};
    use crate::crd::spot_bid::{PricingStrategy, RegionCandidate};
    use jiff::SignedDuration;

    fn auction(region: &str, free_capacity: i64, clearing: &str) -> RegionMarket {
        RegionMarket {
            region: region.into(),
            free_capacity,
            clearing: clearing.parse().unwrap(),
            lowest_allocated: None,
        }
    }

    /// The planner's view of a bid following the clearing price in two regions.
    fn planned(
        bid: Option<&Bid>,
        auctions: Vec<RegionMarket>,
        minute: i64,
        candidate: Option<RegionCandidate>,
    ) -> Plan {
        let desired = DesiredBid {
            name: "k8s.default.train.3f2b8c1e".into(),
            project_fid: "proj_0123456789abcdef".into(),
            instance_type_fid: "it_0123456789abcdef".into(),
            regions: RegionPolicy {
                regions: vec!["us-central1-a".into(), "us-central1-b".into()],
                min_saving_percent: 10,
                sustained_for: SignedDuration::from_mins(30),
            },
            instance_quantity: 2,
            pricing: PricingPolicy {
                base: PriceBase::Market {
                    strategy: PricingStrategy::ClearingPrice,
                    margin_percent: 10,
                },
                max_price: Some("$14.00".parse().unwrap()),
                reprice_step: "$0.25".parse().unwrap(),
                preemption_raise: None,
            },
            paused: false,
            launch_specification: LaunchSpecification::default(),
            adopt_fid: None,
            market: MarketView {
                observed: true,
                auctions,
                region_candidate: candidate,
                ..MarketView::unobserved(at(minute).timestamp())
            },
        };
        plan(&Intent::Present(Box::new(desired)), bid)
    }

    #[test]
    fn the_price_in_force_and_the_region_are_explained() {
        let bid = bid(BidStatus::Open);
        let plan = planned(
            Some(&bid),
            vec![
                auction("us-central1-a", 0, "$8.00"),
                auction("us-central1-b", 8, "$11.00"),
            ],
            0,
            None,
        );
        let observed = Observation {
            bid: Some(&bid),
            market: plan.market.as_ref(),
            ..Observation::default()
        };
        let status = status(StatusInputs {
            previous: None,
            spec: &spec(2),
            generation: Some(1),
            bid_name: None,
            observed,
            sync: &SyncOutcome::in_sync(),
            now: at(0),
        });
        let pricing = status.pricing.as_ref().unwrap();
        assert_eq!(pricing.basis, "ClearingPrice");
        assert_eq!(pricing.market_price.as_deref(), Some("$8.00"));
        assert_eq!(pricing.target_price.as_deref(), Some("$8.80"));
        assert_eq!(pricing.reason, "FollowingMarket");
        assert!(pricing.message.contains("$8.80"), "{}", pricing.message);
        assert_eq!(pricing.raised_on.as_deref(), Some("ClearingPrice +10%"));
        assert_eq!(pricing.preemption_raise, None);
        // The printer columns: the region and the limit in force on Mithril.
        assert_eq!(status.limit_price, Some(bid.limit_price.to_string()));
        assert_eq!(status.region.as_deref(), Some("us-central1-a"));
        assert!(
            status
                .region_reason
                .as_deref()
                .unwrap()
                .contains("us-central1-b is cheaper"),
            "{status:?}"
        );
        assert_eq!(
            status.region_candidate,
            Some(RegionCandidate {
                region: "us-central1-b".into(),
                since: at(0)
            })
        );
    }

    #[test]
    fn without_a_decision_the_memory_is_kept() {
        let remembered = SpotBidStatus {
            region: Some("us-central1-a".into()),
            region_candidate: Some(RegionCandidate {
                region: "us-central1-b".into(),
                since: at(0),
            }),
            ..SpotBidStatus::default()
        };
        let bid = bid(BidStatus::Open);
        let observed = Observation {
            bid: Some(&bid),
            ..Observation::default()
        };
        let status = status(StatusInputs {
            previous: Some(&remembered),
            spec: &spec(2),
            generation: Some(1),
            bid_name: None,
            observed,
            sync: &SyncOutcome::failed(Reason::MithrilUnavailable, "503", false),
            now: at(5),
        });
        assert_eq!(status.region_candidate, remembered.region_candidate);
        assert_eq!(status.region.as_deref(), Some("us-central1-a"));
    }

    #[test]
    fn a_move_shows_as_relocating() {
        let open = bid(BidStatus::Open);
        let since_long_ago = RegionCandidate {
            region: "us-central1-b".into(),
            since: at(0),
        };
        let plan = planned(
            Some(&open),
            vec![
                auction("us-central1-a", 0, "$8.00"),
                auction("us-central1-b", 8, "$8.00"),
            ],
            30,
            Some(since_long_ago),
        );
        assert!(
            matches!(plan.action, Some(Action::Relocate { .. })),
            "{plan:?}"
        );
        // What the reconcile reports after cancelling: the bid as Mithril now shows it.
        let cancelled = Bid {
            status: BidStatus::Terminated,
            ..open
        };
        let observed = Observation {
            bid: Some(&cancelled),
            market: plan.market.as_ref(),
            ..Observation::default()
        };
        let status = status(StatusInputs {
            previous: None,
            spec: &spec(2),
            generation: Some(1),
            bid_name: None,
            observed,
            sync: &SyncOutcome::in_sync(),
            now: at(30),
        });
        assert_eq!(status.phase, Some(SpotBidPhase::Relocating));
        assert_eq!(status.region.as_deref(), Some("us-central1-b"));
        assert_eq!(status.region_candidate, None);
        assert_eq!(condition(&status, READY).reason, "Relocating");
    }

    #[test]
    fn a_preemption_is_counted_once_across_reconciles() {
        let preempting = bid(BidStatus::Preempting);
        let total = |previous: Option<&SpotBidStatus>, bid: &Bid| {
            preemption_count(previous, Some(bid), None).total
        };
        assert_eq!(total(None, &preempting), 1);
        let counted = SpotBidStatus {
            phase: Some(SpotBidPhase::Preempting),
            bid_fid: Some(preempting.fid.clone()),
            preemption_count: 1,
            bid_preemptions: 1,
            ..SpotBidStatus::default()
        };
        assert_eq!(total(Some(&counted), &preempting), 1);
        let open = bid(BidStatus::Open);
        assert_eq!(total(Some(&counted), &open), 1);
        let reopened = SpotBidStatus {
            phase: Some(SpotBidPhase::Open),
            ..counted
        };
        assert_eq!(total(Some(&reopened), &preempting), 2);
    }

    #[test]
    fn the_history_counts_preemptions_the_polls_never_saw() {
        let allocated = SpotBidStatus {
            phase: Some(SpotBidPhase::Allocated),
            bid_fid: Some("bid_0123456789abcdef".into()),
            instances: vec![SpotBidInstance {
                fid: "inst_old".into(),
                ..SpotBidInstance::default()
            }],
            preemption_count: 3,
            bid_preemptions: 1,
            ..SpotBidStatus::default()
        };
        // Preempted and won back between two polls: other instances, same status.
        let won_back = bid(BidStatus::Allocated);
        assert!(preemption_suspected(Some(&allocated), &won_back));
        assert_eq!(
            preemption_count(Some(&allocated), Some(&won_back), Some(2)),
            Preemptions {
                total: 4,
                of_bid: 2
            }
        );
        // Preempted and back to Open between two polls.
        assert!(preemption_suspected(
            Some(&allocated),
            &bid(BidStatus::Open)
        ));
        // Nothing suspicious: the same instances, or a first allocation.
        let mut same = bid(BidStatus::Allocated);
        same.instances = vec!["inst_old".into()];
        assert!(!preemption_suspected(Some(&allocated), &same));
        let open = SpotBidStatus {
            phase: Some(SpotBidPhase::Open),
            ..allocated.clone()
        };
        assert!(!preemption_suspected(Some(&open), &won_back));
        // A history that lags behind what was seen never takes a count back.
        assert_eq!(
            preemption_count(Some(&allocated), Some(&same), Some(0)).total,
            3
        );
        // A new bid starts its own count; the total carries on.
        let mut replacement = bid(BidStatus::Preempting);
        replacement.fid = "bid_new".into();
        assert_eq!(
            preemption_count(Some(&allocated), Some(&replacement), None),
            Preemptions {
                total: 4,
                of_bid: 1
            }
        );
    }
}

#[test]
fn spend_and_history_are_shown_once_read_and_kept_until_read_again() {
    use mithril_api::{BidEventType, BidHistoryEvent};
    let bid = bid(BidStatus::Allocated);
    let running = [
        instance("inst_b", InstanceStatus::Running),
        instance("inst_a", InstanceStatus::Starting),
    ];
    let events = [
        BidHistoryEvent {
            timestamp: "2026-11-23T10:00:00Z".parse().unwrap(),
            event_type: BidEventType::Placed,
            limit_price: Some("$12.50".parse().unwrap()),
            user_id: None,
            memory_gb: None,
            persistent_disk_change: None,
        },
        BidHistoryEvent {
            timestamp: "2026-11-23T10:02:00Z".parse().unwrap(),
            event_type: BidEventType::Allocated,
            limit_price: None,
            user_id: None,
            memory_gb: None,
            persistent_disk_change: None,
        },
    ];
    let unread = Observation {
        bid: Some(&bid),
        instances: &running,
        clearing_price: Some("$9.75".parse().unwrap()),
        ..Observation::default()
    };
    let first = status(StatusInputs {
        previous: None,
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: unread,
        sync: &SyncOutcome::in_sync(),
        now: at(0),
    });
    assert_eq!(first.spend, None, "no cost is shown before it is read");
    assert!(first.history.is_empty());

    let read = Observation {
        cost_so_far: Some("$3.25".parse().unwrap()),
        events: &events,
        ..unread
    };
    let second = status(StatusInputs {
        previous: Some(&first),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: read,
        sync: &SyncOutcome::in_sync(),
        now: at(1),
    });
    let spend = second.spend.clone().expect("spend");
    assert_eq!(spend.cost_so_far, "$3.25");
    assert_eq!(
        spend.hourly_cost, "$9.75",
        "the clearing price times one running instance"
    );
    let shown: Vec<(&str, Option<&str>)> = second
        .history
        .iter()
        .map(|t| (t.event.as_str(), t.limit_price.as_deref()))
        .collect();
    assert_eq!(shown, [("Placed", Some("$12.50")), ("Allocated", None)]);

    // A reconcile with nothing new read keeps both.
    let third = status(StatusInputs {
        previous: Some(&second),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: unread,
        sync: &SyncOutcome::in_sync(),
        now: at(2),
    });
    assert_eq!(third.spend, second.spend);
    assert_eq!(third.history, second.history);

    // Another bid (placed anew) starts from nothing: the old one's figures are not its own.
    let mut other = bid.clone();
    other.fid = "bid_fedcba9876543210".into();
    let replaced = Observation {
        bid: Some(&other),
        ..unread
    };
    let fourth = status(StatusInputs {
        previous: Some(&third),
        spec: &spec(2),
        generation: Some(1),
        bid_name: None,
        observed: replaced,
        sync: &SyncOutcome::in_sync(),
        now: at(3),
    });
    assert_eq!(fourth.spend, None);
    assert!(fourth.history.is_empty());
}

#[test]
fn the_spend_counted_is_what_each_stored_status_adds() {
    let with = |fid: &str, cost: &str| SpotBidStatus {
        bid_fid: Some(fid.into()),
        spend: Some(Spend {
            cost_so_far: cost.into(),
            hourly_cost: "$0.00".into(),
        }),
        ..SpotBidStatus::default()
    };
    let first = with("bid_a", "$2.00");
    assert_eq!(spend_increase(None, &first), Price::from_cents(200));
    assert_eq!(
        spend_increase(Some(&first), &with("bid_a", "$2.75")),
        Price::from_cents(75)
    );
    assert_eq!(
        spend_increase(Some(&first), &with("bid_b", "$0.40")),
        Price::from_cents(40),
        "a new bid's cost is all new"
    );
    assert_eq!(
        spend_increase(Some(&first), &with("bid_a", "$1.00")),
        Price::ZERO,
        "a counter never goes down"
    );
    assert_eq!(
        spend_increase(Some(&first), &SpotBidStatus::default()),
        Price::ZERO
    );
}
