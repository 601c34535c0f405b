//! What one observation cycle costs when the project keeps a long history of ended bids: the
//! cost follows the live bids, not every bid the project ever had.

use crate::support::observe::*;
use futures::{StreamExt, TryStreamExt, stream};
use mithril_api::*;
use mithril_operator::observe::{Change, MithrilObserver, ObserverConfig};

const BID: &str = "/v2/spot/bids/{bid_fid}";

/// Requests beyond `ceil(live / 100) + 2`: one bid list per live status (four) instead of one.
const STATUS_LISTS_EXTRA: u64 = 3;

/// Places `live + ended` one-instance bids (still Open: the clock does not move) and cancels
/// `ended` of them; returns the live ones.
async fn with_history(h: &Harness, live: usize, ended: usize) -> Vec<Bid> {
    let mut bids = h.place_many(live + ended).await;
    let cancelled = bids.split_off(live);
    stream::iter(cancelled)
        .map(|bid| async move { h.client.cancel_bid(&bid.fid).await })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
        .unwrap();
    bids
}

fn budget(live: usize) -> u64 {
    live.div_ceil(100) as u64 + 2 + STATUS_LISTS_EXTRA
}

#[tokio::test]
async fn a_cycle_costs_pages_of_live_bids_not_of_the_projects_history() {
    const LIVE: usize = 300;
    const ENDED: usize = 1_500;
    let h = harness().await;
    let live = with_history(&h, LIVE, ENDED).await;
    let observer = h.observer();

    // The first cycle is a full refresh: its instances are two lists (reserved, of bids).
    h.sim.reset_counters();
    let first = observer.poll_once().await.unwrap();
    assert!(
        h.requests() <= budget(LIVE) + 1,
        "first cycle: {} requests for {LIVE} live bids",
        h.requests()
    );
    assert_eq!(u64::from(first.requests), h.requests());
    assert_eq!(first.bids, LIVE, "the history is not cached");
    for bid in &live {
        assert_eq!(
            observer.bid_by_fid(&bid.fid).unwrap().status,
            BidStatus::Open
        );
    }

    // Allocated and running: a steady cycle still reads only the live bids.
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    observer.poll_once().await.unwrap();
    h.sim.reset_counters();
    let steady = observer.poll_once().await.unwrap();
    assert_eq!(steady.changed, 0);
    assert!(
        h.requests() <= budget(LIVE),
        "steady cycle: {} requests for {LIVE} live bids",
        h.requests()
    );
    assert_eq!(h.gets(BID), 0, "no bid is read one by one");
}

#[tokio::test]
async fn a_known_bid_that_ends_is_learned_by_one_read_of_it() {
    let h = harness().await;
    with_history(&h, 0, 150).await;
    let kept = h
        .place("kept", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let ending = h
        .place("ending", "us-central1-b", "a100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();

    // Ended on Mithril behind the observer's back: it leaves the live lists.
    h.client.cancel_bid(&ending.fid).await.unwrap();
    h.sim.reset_counters();
    observer.poll_once().await.unwrap();
    assert_eq!(h.gets(BID), 1, "the bid that left the live lists is read");
    assert_eq!(
        drain(&mut changes),
        vec![Change::BidChanged {
            fid: ending.fid.clone(),
            name: ending.name.clone(),
        }]
    );
    assert_eq!(
        observer.bid_by_fid(&ending.fid).unwrap().status,
        BidStatus::Terminated
    );
    assert_eq!(
        observer.instances_of_bid(&ending.fid)[0].status,
        InstanceStatus::Terminated
    );
    assert_eq!(
        observer.bids_by_name(&ending.name)[0].fid,
        ending.fid,
        "an ending the observer saw stays known"
    );
    assert!(observer.live_bid_by_name(&ending.name).is_none());
    assert_eq!(
        observer.bid_by_fid(&kept.fid).unwrap().status,
        BidStatus::Allocated
    );

    // Known as ended: never read again, and nothing changes.
    h.sim.reset_counters();
    observer.poll_once().await.unwrap();
    assert_eq!(h.gets(BID), 0);
    assert!(drain(&mut changes).is_empty());
    assert!(observer.bid_by_fid(&ending.fid).is_some());
}

#[tokio::test]
async fn a_full_refresh_lists_no_instance_of_an_ended_bid() {
    const LIVE: usize = 20;
    const ENDED: usize = 300;
    let h = harness().await;
    // The history's bids win their instances first: ending leaves them TERMINATED on Mithril.
    let mut bids = h.place_many(LIVE + ENDED).await;
    h.advance(TICK_SECONDS);
    let ended = bids.split_off(LIVE);
    for bid in &ended {
        h.client.cancel_bid(&bid.fid).await.unwrap();
    }
    h.advance(BOOT_SECONDS);
    let observer = h.observer();

    // The first cycle is a full refresh: every reserved instance, and every bid instance that
    // has not ended, in one list each.
    h.sim.reset_counters();
    let first = observer.poll_once().await.unwrap();
    assert!(first.full_instance_refresh);
    assert!(
        h.requests() <= budget(LIVE) + 1,
        "full refresh: {} requests for {LIVE} live bids",
        h.requests()
    );
    assert_eq!(h.gets("/v2/instances"), 2);
    // The live bids' instances and the 2 reserved instances of the default world.
    assert_eq!(first.instances, LIVE + 2);
    for bid in &bids {
        let instances = observer.instances_of_bid(&bid.fid);
        assert_eq!(instances.len(), 1, "{}", bid.fid);
        assert_eq!(instances[0].status, InstanceStatus::Running);
    }
}

const PRICING_HISTORY: &str = "/v2/instances/pricing/history";
const BID_HISTORY: &str = "/v2/spot/bids/{bid_fid}/history";

/// What the simulator says bid `fid` has paid by `now`, read directly (not through the observer).
async fn paid(h: &Harness, fid: &str, now: jiff::Timestamp) -> Price {
    let page = h
        .client
        .instance_pricing_history(&HistoryQuery::for_project(&h.project).bid(fid))
        .await
        .unwrap();
    let periods: Vec<InstancePricingEvent> =
        page.items.into_iter().flat_map(|i| i.events).collect();
    mithril_operator::observe::cost_of(&periods, now).price()
}

#[tokio::test]
async fn spend_reads_stay_within_the_budget_and_only_changed_bids_are_read_again() {
    const LIVE: usize = 30;
    const BUDGET: u32 = 10;
    let h = harness().await;
    let bids = h.place_many(LIVE).await;
    let observer = MithrilObserver::new(
        h.client.clone(),
        h.project.clone(),
        ObserverConfig {
            spend_reads_per_cycle: BUDGET,
            ..test_config(h.clock.clone())
        },
    );
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    observer.poll_once().await.unwrap();

    // Every bid needs its pricing and its events read: at most BUDGET requests a cycle, each
    // bid served in turn, until none is due.
    let mut cycles = 0;
    loop {
        h.sim.reset_counters();
        let report = observer.refresh_spend().await.unwrap();
        assert_eq!(u64::from(report.requests), h.requests());
        assert!(report.requests <= BUDGET, "{report:?}");
        cycles += 1;
        if report.pending == 0 {
            break;
        }
        assert!(cycles <= 2 * LIVE, "the reads never end: {report:?}");
    }
    assert_eq!(cycles, (2 * LIVE).div_ceil(BUDGET as usize));
    let now = h.sim.now();
    for bid in &bids {
        let cost = observer.cost_so_far(&bid.fid, now).expect("read");
        assert_eq!(cost.price(), paid(&h, &bid.fid, now).await, "{}", bid.fid);
        assert!(cost.price() > Price::ZERO, "allocated bids pay");
        let events: Vec<_> = observer
            .bid_events(&bid.fid)
            .iter()
            .map(|e| e.event_type.clone())
            .collect();
        assert_eq!(events, [BidEventType::Placed, BidEventType::Allocated]);
    }

    // An hour on, nothing changed: no request, and the cost counts the hour at the known price.
    h.advance(3600);
    observer.poll_once().await.unwrap();
    h.sim.reset_counters();
    let steady = observer.refresh_spend().await.unwrap();
    assert_eq!((steady.requests, h.requests()), (0, 0), "{steady:?}");
    let later = h.sim.now();
    for bid in bids.iter().take(3) {
        let cost = observer.cost_so_far(&bid.fid, later).unwrap();
        assert_eq!(cost.price(), paid(&h, &bid.fid, later).await);
    }

    // One bid cancelled: its two reads only, and its cost stops growing.
    let gone = &bids[7];
    h.client.cancel_bid(&gone.fid).await.unwrap();
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();
    h.sim.reset_counters();
    let after = observer.refresh_spend().await.unwrap();
    assert_eq!(h.gets(PRICING_HISTORY), 1, "{after:?}");
    assert_eq!(h.gets(BID_HISTORY), 1);
    assert_eq!(h.requests(), 2);
    assert_eq!(after.pending, 0);
    assert_eq!(
        changed_bids(&drain(&mut changes)),
        set(&[gone.fid.as_str()])
    );
    let ended = observer.cost_so_far(&gone.fid, later).unwrap();
    h.advance(3600);
    assert_eq!(
        observer.cost_so_far(&gone.fid, h.sim.now()),
        Some(ended),
        "a cancelled bid's instances stop paying"
    );
    assert_eq!(
        observer
            .bid_events(&gone.fid)
            .last()
            .map(|e| e.event_type.clone()),
        Some(BidEventType::Terminated)
    );
}
