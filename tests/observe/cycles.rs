//! Observation cycles against the simulator: paging, the steady-state request budget, and which
//! changes each market or lifecycle event produces.

use crate::support::observe::*;
use mithril_api::*;
use mithril_operator::observe::{Change, InstanceFilter, Settling};

const BIDS: &str = "/v2/spot/bids";
const INSTANCES: &str = "/v2/instances";
const AVAILABILITY: &str = "/v2/spot/availability";

#[tokio::test]
async fn first_cycle_pages_through_every_bid_and_instance() {
    let h = harness().await;
    let placed = h.place_many(250).await;
    h.advance(TICK_SECONDS);
    h.sim.reset_counters();
    let observer = h.observer();
    let mut changes = observer.subscribe();
    assert!(!observer.is_synced());
    assert!(observer.bid_by_fid(&placed[0].fid).is_none());

    let report = observer.poll_once().await.unwrap();

    assert!(observer.is_synced());
    assert!(report.full_instance_refresh);
    assert_eq!(report.bids, 250);
    assert_eq!(
        h.gets(BIDS),
        6,
        "250 allocated bids are 3 pages of 100, and each other live status one empty page"
    );
    // 250 bid instances and the 2 reserved instances of the default world.
    assert_eq!(report.instances, 252);
    assert_eq!(
        h.gets(INSTANCES),
        4,
        "the reserved ones, then 3 pages of bid instances"
    );
    assert_eq!(h.gets(AVAILABILITY), 1);
    assert_eq!(report.requests, 11);
    for bid in &placed {
        let seen = observer.bid_by_fid(&bid.fid).expect("every bid is cached");
        assert_eq!(seen.status, BidStatus::Allocated);
        let instances = observer.instances_of_bid(&bid.fid);
        assert_eq!(instances.len(), 1, "{}", bid.fid);
        assert_eq!(instances[0].status, InstanceStatus::New);
        assert_eq!(observer.live_bid_by_name(&bid.name).unwrap().fid, bid.fid);
    }
    let h100 = h.instance_type("h100-80gb.sxm.8x").await;
    let market = observer.auction("us-central1-a", &h100).unwrap();
    assert_eq!(market.last_instance_price, Price::from_cents(800));
    // The first sync is announced once, not as 250 bid changes.
    assert_eq!(drain(&mut changes), vec![Change::Resync]);
}

#[tokio::test]
async fn steady_state_costs_the_pages_of_each_live_status_plus_2_requests() {
    let h = harness().await;
    h.place_many(250).await;
    let observer = h.observer();
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    h.advance(BOOT_SECONDS);
    // The instances settled to RUNNING since the last cycle: this one learns it.
    let settling = observer.poll_once().await.unwrap();
    assert!(!settling.full_instance_refresh);
    assert_eq!(settling.changed, 250);
    let all = observer.instances_matching(&InstanceFilter::any());
    assert!(all.iter().all(|i| i.status == InstanceStatus::Running));

    let mut changes = observer.subscribe();
    h.sim.reset_counters();
    let report = observer.poll_once().await.unwrap();
    // Allocated: 3 pages; Open, Preempting, Paused: one empty page each.
    let expected = 250u32.div_ceil(100) + 3 + 2;
    assert_eq!(report.requests, expected);
    assert_eq!(h.requests(), u64::from(expected));
    assert_eq!(h.gets(BIDS), 6);
    assert_eq!(h.gets(INSTANCES), 1, "only the (empty) unsettled list");
    assert_eq!(h.gets(AVAILABILITY), 1);
    assert_eq!(report.changed, 0);
    assert!(
        drain(&mut changes).is_empty(),
        "a quiet cycle emits nothing"
    );
}

#[tokio::test]
async fn periodic_full_refresh_lists_every_instance() {
    let h = harness().await;
    h.place_many(120).await;
    let mut config = test_config(h.clock.clone());
    config.full_instance_refresh_every = 3;
    let observer = mithril_operator::observe::MithrilObserver::new(
        h.client.clone(),
        h.project.clone(),
        config,
    );
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    let fulls: Vec<bool> = {
        let mut fulls = Vec::new();
        for _ in 0..7 {
            fulls.push(observer.poll_once().await.unwrap().full_instance_refresh);
        }
        fulls
    };
    assert_eq!(fulls, [true, false, false, true, false, false, true]);
    h.sim.reset_counters();
    observer.poll_once().await.unwrap();
    assert_eq!(h.gets(INSTANCES), 1);
}

/// Between cycles, booting instances are followed with one list (plus the instances of the bids
/// whose instances settled); an allocation the cache has not seen calls for a cycle; nothing is
/// read once nothing boots or waits, or while more than a page boots.
#[tokio::test]
async fn settle_reads_follow_booting_instances_for_a_request_or_two() {
    let h = harness().await;
    let observer = h.observer();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::Skipped,
        "not synced yet"
    );
    observer.poll_once().await.unwrap();
    assert_eq!(observer.poll_settling().await.unwrap(), Settling::Skipped);
    let placed = h.place_many(3).await;
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();
    h.sim.reset_counters();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::Read { requests: 1 },
        "Open bids: the (empty) booting list"
    );

    h.advance(TICK_SECONDS);
    h.sim.reset_counters();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::CycleDue { requests: 1 },
        "their instances show: the bids were allocated"
    );
    assert_eq!(
        observer.bid_by_fid(&placed[0].fid).unwrap().status,
        BidStatus::Open,
        "left to the cycle"
    );
    observer.poll_once().await.unwrap();
    drain(&mut changes);
    h.sim.reset_counters();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::Read { requests: 1 },
        "still booting"
    );
    assert!(drain(&mut changes).is_empty());

    h.advance(BOOT_SECONDS);
    h.sim.reset_counters();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::Read { requests: 2 },
        "the (now empty) booting list, then the instances of their 3 bids in one list"
    );
    assert_eq!(h.requests(), 2, "no bid list, no market read");
    for bid in &placed {
        let instances = observer.instances_of_bid(&bid.fid);
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].status, InstanceStatus::Running, "{}", bid.fid);
    }
    let woken = changed_bids(&drain(&mut changes));
    assert_eq!(woken, placed.iter().map(|bid| bid.fid.clone()).collect());
    h.sim.reset_counters();
    assert_eq!(
        observer.poll_settling().await.unwrap(),
        Settling::Skipped,
        "nothing boots or waits"
    );
    assert_eq!(h.requests(), 0);

    // More than a page booting: the cycles follow them.
    h.place_many(101).await;
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    h.sim.reset_counters();
    assert_eq!(observer.poll_settling().await.unwrap(), Settling::Skipped);
    assert_eq!(h.requests(), 0);
}

#[tokio::test]
async fn each_event_wakes_exactly_the_bids_it_concerns() {
    let h = harness().await;
    let one = h
        .place("one", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let two = h
        .place("two", "us-central1-b", "a100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    let mut changes = observer.subscribe();
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    assert_eq!(drain(&mut changes), vec![Change::Resync]);
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty(), "quiet cycle");

    // A new bid appears.
    let three = h
        .place("three", "eu-central1-a", "a100-40gb.sxm.4x", "$20.00")
        .await;
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&three.fid]));

    // Allocation at the next clearing: status and a new instance.
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&three.fid]));
    assert_eq!(
        observer.bid_by_fid(&three.fid).unwrap().status,
        BidStatus::Allocated
    );

    // The instance walks NEW → CONFIRMED (unsettled to unsettled).
    h.advance(30);
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&three.fid]));
    assert_eq!(
        observer.instances_of_bid(&three.fid)[0].status,
        InstanceStatus::Confirmed
    );

    // ... and on to RUNNING, which drops it from the unsettled list.
    h.advance(BOOT_SECONDS - 30);
    h.sim.reset_counters();
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&three.fid]));
    assert_eq!(
        observer.instances_of_bid(&three.fid)[0].status,
        InstanceStatus::Running
    );
    assert_eq!(
        h.gets(INSTANCES),
        2,
        "the unsettled list, then the bid's instances"
    );
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty(), "quiet cycle");

    // Competing demand that outbids nobody but sets the price in bid two's market.
    h.sim
        .add_demand("us-central1-b", "a100-80gb.sxm.8x", 62, 3000)
        .unwrap();
    h.sim
        .add_demand("us-central1-b", "a100-80gb.sxm.8x", 5, 1500)
        .unwrap();
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&two.fid]));
    let a100 = h.instance_type("a100-80gb.sxm.8x").await;
    assert_eq!(
        observer
            .auction("us-central1-b", &a100)
            .unwrap()
            .last_instance_price,
        Price::from_cents(1500)
    );
    assert_eq!(
        observer.bid_by_fid(&two.fid).unwrap().status,
        BidStatus::Allocated
    );

    // Demand that outbids bid one: preemption.
    h.sim
        .add_demand("us-central1-a", "h100-80gb.sxm.8x", 64, 5000)
        .unwrap();
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&one.fid]));
    assert_eq!(
        observer.bid_by_fid(&one.fid).unwrap().status,
        BidStatus::Preempting
    );
    assert_eq!(
        observer.instances_of_bid(&one.fid)[0].status,
        InstanceStatus::Preempting
    );
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty(), "quiet cycle");
}
