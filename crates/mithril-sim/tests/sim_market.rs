//! The simulated spot market: allocation, second-price payment, all-or-nothing, ties, floors,
//! preemption with notice, pause/resume and cancellation of bids, and the histories they leave.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod sim_support;

use serde_json::{Value, json};
use sim_support::{Harness, MINUTE};
use std::time::Duration;

const REGION: &str = "us-central1-a";
const H100: &str = "h100-80gb.sxm.8x";

async fn market(capacity: u32) -> (Harness, String) {
    let harness = Harness::default().await;
    harness
        .sim
        .set_capacity(REGION, H100, capacity)
        .expect("auction exists");
    let instance_type = harness.instance_type(H100).await;
    (harness, instance_type)
}

fn fid(value: &Value) -> String {
    value["fid"].as_str().expect("fid").to_owned()
}

fn event_types(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["event_type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn highest_bids_win_and_pay_the_highest_losing_limit() {
    let (h, it) = market(4).await;
    let a = fid(&h.place_bid("a", REGION, &it, "$30.00", 2).await);
    let b = fid(&h.place_bid("b", REGION, &it, "$25.00", 2).await);
    let c = fid(&h.place_bid("c", REGION, &it, "$20.00", 1).await);
    assert_eq!(
        h.bid(&a).await["status"],
        "Open",
        "nothing clears before the tick"
    );

    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&a).await["status"], "Allocated");
    assert_eq!(h.bid(&b).await["status"], "Allocated");
    let loser = h.bid(&c).await;
    assert_eq!(loser["status"], "Open");
    assert!(loser["instances"].as_array().expect("instances").is_empty());

    let auction = h.auction(REGION, &it).await;
    assert_eq!(auction["capacity"], 0, "all four instances are held");
    assert_eq!(auction["last_instance_price"], "$20.00");
    assert_eq!(auction["lowest_allocated_price"], "$25.00");

    let project = h.project().await;
    let pricing = h
        .get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&bid_fid={a}"
        ))
        .await;
    let instances = pricing["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 2);
    for instance in instances {
        assert_eq!(instance["bid_fid"], json!(a));
        assert_eq!(
            instance["events"][0]["price_cents"], 2000,
            "winners pay the second price, not their limit"
        );
        assert_eq!(instance["events"][0]["end_time"], Value::Null);
    }
}

#[tokio::test]
async fn allocated_instances_walk_to_running() {
    let (h, it) = market(4).await;
    let bid = fid(&h.place_bid("walker", REGION, &it, "$30.00", 1).await);
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid_instance_statuses(&bid).await, ["STATUS_NEW"]);
    let steps = [
        (30, "STATUS_CONFIRMED"),
        (30, "STATUS_INITIALIZING"),
        (120, "STATUS_STARTING"),
        (60, "STATUS_RUNNING"),
    ];
    for (seconds, status) in steps {
        h.sim.advance(Duration::from_secs(seconds));
        assert_eq!(h.bid_instance_statuses(&bid).await, [status]);
    }
    let project = h.project().await;
    let history = h
        .get_ok(&format!(
            "/v2/instances/status/history?project={project}&bid_fid={bid}"
        ))
        .await;
    let statuses: Vec<&str> = history["instances"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [
            "STATUS_NEW",
            "STATUS_CONFIRMED",
            "STATUS_INITIALIZING",
            "STATUS_STARTING",
            "STATUS_RUNNING"
        ]
    );
    let instance = h
        .get_ok(&format!("/v2/instances?project={project}&bid_fid_in={bid}"))
        .await;
    assert!(
        instance["data"][0]["private_ip"].is_string(),
        "a running instance has an address"
    );
}

#[tokio::test]
async fn a_multi_instance_bid_wins_all_or_nothing() {
    let (h, it) = market(4).await;
    let big = fid(&h.place_bid("big", REGION, &it, "$30.00", 3).await);
    let pair = fid(&h.place_bid("pair", REGION, &it, "$28.00", 2).await);
    let single = fid(&h.place_bid("single", REGION, &it, "$20.00", 1).await);
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&big).await["status"], "Allocated");
    let pair = h.bid(&pair).await;
    assert_eq!(
        pair["status"], "Open",
        "two instances do not fit in the one left"
    );
    assert!(pair["instances"].as_array().expect("instances").is_empty());
    assert_eq!(
        h.bid(&single).await["status"],
        "Open",
        "the first misfit ends the allocation"
    );
    let auction = h.auction(REGION, &it).await;
    assert_eq!(
        auction["last_instance_price"], "$28.00",
        "the highest losing limit sets the price"
    );
    assert_eq!(auction["capacity"], 1);
}

#[tokio::test]
async fn ties_go_to_the_older_bid() {
    let (h, it) = market(2).await;
    let older = fid(&h.place_bid("older", REGION, &it, "$25.00", 2).await);
    h.sim.advance(Duration::from_secs(1));
    let newer = fid(&h.place_bid("newer", REGION, &it, "$25.00", 2).await);
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&older).await["status"], "Allocated");
    assert_eq!(h.bid(&newer).await["status"], "Open");
    assert_eq!(
        h.auction(REGION, &it).await["last_instance_price"],
        "$25.00"
    );
}

#[tokio::test]
async fn bids_below_the_floor_never_win() {
    let (h, it) = market(8).await;
    let low = fid(&h.place_bid("low", REGION, &it, "$7.99", 1).await);
    h.sim.advance(10 * MINUTE);
    assert_eq!(h.bid(&low).await["status"], "Open");
    let auction = h.auction(REGION, &it).await;
    assert_eq!(auction["last_instance_price"], "$8.00", "the floor");
    assert_eq!(auction["lowest_allocated_price"], Value::Null);
    assert_eq!(auction["capacity"], 8);
}

#[tokio::test]
async fn outbid_instances_get_notice_then_the_bid_returns_to_open_and_can_win_again() {
    let (h, it) = market(2).await;
    let mine = fid(&h.place_bid("mine", REGION, &it, "$20.00", 2).await);
    h.sim.advance(6 * MINUTE);
    assert_eq!(
        h.bid_instance_statuses(&mine).await,
        ["STATUS_RUNNING", "STATUS_RUNNING"]
    );
    let first_instances = h.bid(&mine).await["instances"].clone();

    let demand = h.sim.add_demand(REGION, H100, 2, 5000).expect("demand");
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&mine).await["status"], "Preempting");
    assert_eq!(
        h.bid_instance_statuses(&mine).await,
        ["STATUS_PREEMPTING", "STATUS_PREEMPTING"]
    );
    assert_eq!(h.auction(REGION, &it).await["capacity"], 0);

    h.sim.advance(4 * MINUTE + Duration::from_secs(59));
    assert_eq!(
        h.bid(&mine).await["status"],
        "Preempting",
        "five minutes of notice"
    );
    h.sim.advance(Duration::from_secs(1));
    let bid = h.bid(&mine).await;
    assert_eq!(bid["status"], "Open");
    assert_eq!(
        h.bid_instance_statuses(&mine).await,
        ["STATUS_PREEMPTED", "STATUS_PREEMPTED"]
    );
    let history = h.get_ok(&format!("/v2/spot/bids/{mine}/history")).await;
    assert_eq!(event_types(&history), ["Placed", "Allocated", "Preempted"]);

    let project = h.project().await;
    let pricing = h
        .get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&bid_fid={mine}"
        ))
        .await;
    for instance in pricing["instances"].as_array().expect("instances") {
        let events = instance["events"].as_array().expect("events");
        assert!(
            events.iter().all(|event| event["end_time"].is_string()),
            "preempted instances stop paying: {events:?}"
        );
        assert!(
            events
                .iter()
                .all(|event| event["price_cents"].as_u64() <= Some(2000))
        );
    }

    h.sim.remove_demand(&demand).expect("remove demand");
    // Clearings run on the two-minute grid: placed at 0, preempted at 8, notice over at 13, next at 14.
    h.sim.advance(MINUTE);
    let bid = h.bid(&mine).await;
    assert_eq!(
        bid["status"], "Allocated",
        "back in the auction, it wins again"
    );
    assert_ne!(
        bid["instances"], first_instances,
        "a new allocation brings new instances"
    );
    assert_eq!(
        h.bid_instance_statuses(&mine).await,
        ["STATUS_NEW", "STATUS_NEW"]
    );
    let history = h.get_ok(&format!("/v2/spot/bids/{mine}/history")).await;
    assert_eq!(
        event_types(&history),
        ["Placed", "Allocated", "Preempted", "Allocated"]
    );
}

#[tokio::test]
async fn winners_follow_the_clearing_price_and_a_lowered_limit_preempts() {
    let (h, it) = market(1).await;
    let mine = fid(&h.place_bid("mine", REGION, &it, "$30.00", 1).await);
    h.sim.advance(2 * MINUTE);
    h.sim.add_demand(REGION, H100, 1, 2500).expect("demand");
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&mine).await["status"], "Allocated");
    let project = h.project().await;
    let pricing = h
        .get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&bid_fid={mine}"
        ))
        .await;
    let prices: Vec<u64> = pricing["instances"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["price_cents"].as_u64().expect("cents"))
        .collect();
    assert_eq!(
        prices,
        [800, 2500],
        "the floor alone, then the competitor's limit"
    );

    let (status, bid) = h
        .patch(
            &format!("/v2/spot/bids/{mine}"),
            &json!({ "limit_price": "$20.00" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(bid["limit_price"], "$20.00");
    assert_eq!(
        bid["status"], "Allocated",
        "a new limit takes effect at the next clearing"
    );
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&mine).await["status"], "Preempting");
    let history = h.get_ok(&format!("/v2/spot/bids/{mine}/history")).await;
    assert_eq!(
        event_types(&history),
        ["Placed", "Allocated", "Limit Price Changed", "Preempted"]
    );
    assert_eq!(history["events"][2]["limit_price"], "$20.00");
}

#[tokio::test]
async fn less_capacity_preempts_the_lowest_winners() {
    let (h, it) = market(4).await;
    let high = fid(&h.place_bid("high", REGION, &it, "$30.00", 2).await);
    let low = fid(&h.place_bid("low", REGION, &it, "$20.00", 2).await);
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&low).await["status"], "Allocated");
    h.sim.set_capacity(REGION, H100, 2).expect("capacity");
    h.sim.advance(2 * MINUTE);
    assert_eq!(h.bid(&high).await["status"], "Allocated");
    assert_eq!(h.bid(&low).await["status"], "Preempting");
}

#[tokio::test]
async fn a_paused_bid_stops_its_instances_frees_capacity_and_resumes_them() {
    let (h, it) = market(2).await;
    let bid = fid(&h.place_bid("pausable", REGION, &it, "$20.00", 2).await);
    h.sim.advance(6 * MINUTE);
    let instances = h.bid(&bid).await["instances"].clone();

    let (status, paused) = h
        .patch(&format!("/v2/spot/bids/{bid}"), &json!({ "paused": true }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(paused["status"], "Paused");
    assert_eq!(
        h.bid_instance_statuses(&bid).await,
        ["STATUS_STOPPING", "STATUS_STOPPING"]
    );
    assert_eq!(
        h.auction(REGION, &it).await["capacity"],
        2,
        "a paused bid holds no capacity"
    );
    h.sim.advance(MINUTE);
    assert_eq!(
        h.bid_instance_statuses(&bid).await,
        ["STATUS_PAUSED", "STATUS_PAUSED"]
    );
    h.sim.advance(4 * MINUTE);
    assert_eq!(
        h.bid(&bid).await["status"],
        "Paused",
        "a paused bid stays out of the auction"
    );

    let (_, resumed) = h
        .patch(&format!("/v2/spot/bids/{bid}"), &json!({ "paused": false }))
        .await;
    assert_eq!(resumed["status"], "Open");
    // Resumed at minute 11; the next clearing runs at minute 12.
    h.sim.advance(MINUTE);
    let allocated = h.bid(&bid).await;
    assert_eq!(allocated["status"], "Allocated");
    assert_eq!(
        allocated["instances"], instances,
        "the paused instances come back"
    );
    assert_eq!(
        h.bid_instance_statuses(&bid).await,
        ["STATUS_CONFIRMED", "STATUS_CONFIRMED"]
    );
    h.sim.advance(MINUTE);
    assert_eq!(
        h.bid_instance_statuses(&bid).await,
        ["STATUS_RUNNING", "STATUS_RUNNING"]
    );
    let history = h.get_ok(&format!("/v2/spot/bids/{bid}/history")).await;
    assert_eq!(
        event_types(&history),
        ["Placed", "Allocated", "Paused", "Resumed", "Allocated"]
    );
}

#[tokio::test]
async fn cancelling_terminates_instances_and_frees_the_name() {
    let (h, it) = market(2).await;
    let bid = fid(&h.place_bid("short-lived", REGION, &it, "$20.00", 1).await);
    h.sim.advance(2 * MINUTE);
    let (status, _) = h.delete(&format!("/v2/spot/bids/{bid}")).await;
    assert_eq!(status, 204);
    let cancelled = h.bid(&bid).await;
    assert_eq!(cancelled["status"], "Terminated");
    assert_eq!(cancelled["deactivated_at"], json!(h.sim.now()));
    assert_eq!(h.bid_instance_statuses(&bid).await, ["STATUS_TERMINATED"]);
    assert_eq!(
        h.get_ok(&format!("/v2/spot/bids/{bid}/status")).await["status"],
        "Terminated"
    );
    let (again, _) = h.delete(&format!("/v2/spot/bids/{bid}")).await;
    assert_eq!(again, 204, "cancelling twice is harmless");
    let (status, body) = h
        .patch(
            &format!("/v2/spot/bids/{bid}"),
            &json!({ "limit_price": "$21.00" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    h.place_bid("short-lived", REGION, &it, "$20.00", 1).await;
    let history = h.get_ok(&format!("/v2/spot/bids/{bid}/history")).await;
    assert_eq!(event_types(&history), ["Placed", "Allocated", "Terminated"]);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_world() {
    let first = Harness::default().await;
    let second = Harness::default().await;
    let it = first.instance_type(H100).await;
    let a = first.place_bid("same", REGION, &it, "$20.00", 1).await;
    let b = second.place_bid("same", REGION, &it, "$20.00", 1).await;
    assert_eq!(a["fid"], b["fid"]);
    assert_eq!(
        first.get_ok("/v2/spot/availability").await,
        second.get_ok("/v2/spot/availability").await
    );
}
