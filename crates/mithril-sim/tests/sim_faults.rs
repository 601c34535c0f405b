//! Injected faults (deterministic for a seed), request counters, and the `/_sim/` control API.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod sim_support;

use mithril_sim::{FaultSpec, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Harness, KEY};
use std::time::Duration;

const BIDS: &str = "/v2/spot/bids";

#[tokio::test]
async fn route_faults_answer_503_and_429_and_are_counted() {
    let h = Harness::default().await;
    h.sim.faults().set_route(
        "GET",
        BIDS,
        FaultSpec {
            error_5xx: 1.0,
            ..FaultSpec::default()
        },
    );
    for _ in 0..3 {
        let (status, body) = h.get(BIDS).await;
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(
        h.get("/v2/spot/availability").await.0,
        200,
        "other routes are untouched"
    );
    let (status, _) = h.post(BIDS, &json!({})).await;
    assert_eq!(status, 422, "another method of the same path is untouched");

    h.sim.faults().set_route(
        "GET",
        BIDS,
        FaultSpec {
            throttle_429: 1.0,
            retry_after: Duration::from_millis(2500),
            ..FaultSpec::default()
        },
    );
    let response = h
        .raw(Method::GET, BIDS, None, Some(KEY))
        .await
        .expect("send");
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["retry-after"],
        "3",
        "whole seconds, rounded up"
    );
    let status = response.status();
    sim_support::assert_valid(
        BIDS,
        &Method::GET,
        status,
        &response.bytes().await.expect("body"),
    );

    h.sim.faults().clear_route("GET", BIDS);
    assert_eq!(h.get(BIDS).await.0, 200);
    let (status, _) = h.call_as(None, Method::GET, BIDS, None).await;
    assert_eq!(status, 401);

    let counters = h.sim.counters();
    assert_eq!(counters.count("GET", BIDS, 503), 3);
    assert_eq!(counters.count("GET", BIDS, 429), 1);
    assert_eq!(counters.count("GET", BIDS, 200), 1);
    assert_eq!(counters.count("GET", BIDS, 401), 1);
    assert_eq!(counters.total("GET", BIDS), 6);
    assert_eq!(counters.count("POST", BIDS, 422), 1);
    assert!(counters.count("GET", "/v2/instance-types", 200) == 0);
    h.sim.reset_counters();
    assert_eq!(h.sim.counters().grand_total(), 0);
}

async fn statuses_under_half_failures(seed: u64) -> Vec<u16> {
    let h = Harness::start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await;
    h.sim.faults().set_all(FaultSpec {
        error_5xx: 0.3,
        throttle_429: 0.2,
        ..FaultSpec::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, _) = h.get("/v2/spot/availability").await;
        statuses.push(status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn fault_draws_are_deterministic_for_a_seed() {
    let first = statuses_under_half_failures(11).await;
    let again = statuses_under_half_failures(11).await;
    assert_eq!(first, again);
    for status in [200, 429, 503] {
        assert!(first.contains(&status), "{status} in {first:?}");
    }
    let other_seed = statuses_under_half_failures(12).await;
    assert_ne!(first, other_seed);
}

#[tokio::test]
async fn dropped_connections_fail_the_request_and_are_counted() {
    let h = Harness::default().await;
    h.sim.faults().set_route(
        "GET",
        "/v2/projects",
        FaultSpec {
            drop: 1.0,
            latency: Duration::from_millis(5),
            ..FaultSpec::default()
        },
    );
    let outcome = match h.raw(Method::GET, "/v2/projects", None, Some(KEY)).await {
        Err(error) => Err(error),
        Ok(response) => response.bytes().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "the client sees a transport error");
    assert_eq!(h.sim.counters().dropped("GET", "/v2/projects"), 1);
    h.sim.faults().clear();
    assert_eq!(h.get("/v2/projects").await.0, 200);
}

#[tokio::test]
async fn the_control_api_drives_clock_market_faults_and_counters() {
    let h = Harness::default().await;
    let control = |method: Method, path: &str, body: Option<Value>| {
        let request = h.client.request(method, h.url(path));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("body");
            (
                status,
                if body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&body).expect("json")
                },
            )
        }
    };

    let (_, time) = control(Method::GET, "/_sim/time", None).await;
    assert_eq!(time["now"], "2025-01-01T00:00:00Z");
    let (status, advanced) = control(
        Method::POST,
        "/_sim/advance",
        Some(json!({ "seconds": 120 })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(advanced["now"], "2025-01-01T00:02:00Z");

    let (status, _) = control(
        Method::PUT,
        "/_sim/capacity",
        Some(json!({ "region": "us-central1-a", "instance_type": "h100-80gb.sxm.8x", "capacity": 3 })),
    )
    .await;
    assert_eq!(status, 204);
    let (status, demand) = control(
        Method::POST,
        "/_sim/demand",
        Some(json!({ "region": "us-central1-a", "instance_type": "h100-80gb.sxm.8x", "quantity": 2, "limit_price": "$40.00" })),
    )
    .await;
    assert_eq!(status, 201);
    let demand = demand["bid_fid"].as_str().expect("bid fid").to_owned();
    control(
        Method::POST,
        "/_sim/advance",
        Some(json!({ "seconds": 120 })),
    )
    .await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    let auction = h.auction("us-central1-a", &it).await;
    assert_eq!(auction["capacity"], 1, "hidden demand holds two of three");
    assert_eq!(auction["lowest_allocated_price"], "$40.00");
    assert_eq!(
        h.get_ok(BIDS).await["data"],
        json!([]),
        "hidden demand is invisible"
    );
    let (status, _) = control(Method::DELETE, &format!("/_sim/demand/{demand}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(h.auction("us-central1-a", &it).await["capacity"], 3);
    let (status, error) = control(Method::DELETE, &format!("/_sim/demand/{demand}x"), None).await;
    assert_eq!(status, 400);
    assert!(error["detail"].is_string());

    let (status, _) = control(
        Method::PUT,
        "/_sim/faults",
        Some(json!({ "method": "GET", "route": "/v2/spot/availability", "spec": { "error_5xx": 1.0 } })),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(h.get("/v2/spot/availability").await.0, 503);
    let (_, counters) = control(Method::GET, "/_sim/counters", None).await;
    let entry = counters["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .find(|entry| entry["route"] == "/v2/spot/availability" && entry["status"] == 503)
        .cloned()
        .expect("a counter for the fault");
    assert_eq!(entry["count"], 1);
    assert_eq!(entry["method"], "GET");
    control(Method::DELETE, "/_sim/faults", None).await;
    assert_eq!(h.get("/v2/spot/availability").await.0, 200);
    control(Method::DELETE, "/_sim/counters", None).await;
    assert_eq!(h.sim.counters().grand_total(), 0);
}

#[tokio::test]
async fn after_faults_carry_the_request_out_and_lose_the_answer() {
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    let body =
        |name: &str| sim_support::bid_body(&project, name, "us-central1-a", &it, "$12.50", 1);

    h.sim.faults().set_route(
        "POST",
        BIDS,
        FaultSpec {
            error_5xx_after: 1.0,
            ..FaultSpec::default()
        },
    );
    let (status, _) = h.post(BIDS, &body("answered-503")).await;
    assert_eq!(status, 503, "the client is told the request failed");

    h.sim.faults().set_route(
        "POST",
        BIDS,
        FaultSpec {
            drop_after: 1.0,
            ..FaultSpec::default()
        },
    );
    let sent = h
        .raw(Method::POST, BIDS, Some(&body("answer-dropped")), Some(KEY))
        .await;
    let outcome = match sent {
        Err(error) => Err(error),
        Ok(response) => response.bytes().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "the client sees a broken connection");
    h.sim.faults().clear();

    for name in ["answered-503", "answer-dropped"] {
        let listed = h.get_ok(&format!("{BIDS}?name={name}")).await;
        assert_eq!(
            listed["data"].as_array().map(Vec::len),
            Some(1),
            "{name}: the bid was placed all the same"
        );
    }
    assert_eq!(h.sim.counters().count("POST", BIDS, 503), 1);
    assert_eq!(h.sim.counters().dropped("POST", BIDS), 1);
}

/// Sends a request that is expected to lose its answer; panics if an answer arrives.
async fn expect_no_answer(h: &Harness, method: Method, path: &str, body: Option<&Value>) {
    let outcome = match h.raw(method.clone(), path, body, Some(KEY)).await {
        Err(error) => Err(error),
        Ok(response) => response.bytes().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "{method} {path}: the connection drops");
}

async fn put_faults(h: &Harness, faults: Value) {
    let response = h
        .client
        .put(h.url("/_sim/faults"))
        .json(&faults)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 204, "{faults}");
}

async fn named(h: &Harness, name: &str) -> Vec<Value> {
    h.get_ok(&format!("{BIDS}?name={name}")).await["data"]
        .as_array()
        .expect("data")
        .clone()
}

const LATE: Duration = Duration::from_millis(800);
/// Comfortably past a late commit or a list lag.
const AFTER_LATE: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn late_commits_drop_the_answer_and_land_later_exactly_as_sent() {
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    let body =
        |name: &str| sim_support::bid_body(&project, name, "us-central1-a", &it, "$12.50", 1);
    put_faults(
        &h,
        json!({ "method": "POST", "route": BIDS, "spec": { "late_commit": 1.0, "late_commit_delay": LATE.as_millis() as u64 } }),
    )
    .await;
    expect_no_answer(&h, Method::POST, BIDS, Some(&body("late"))).await;
    let mut refused = body("refused-later");
    refused["region"] = json!("nowhere-1a");
    expect_no_answer(&h, Method::POST, BIDS, Some(&refused)).await;
    assert!(named(&h, "late").await.is_empty(), "not placed yet");
    tokio::time::sleep(AFTER_LATE).await;
    let placed = named(&h, "late").await;
    assert_eq!(placed.len(), 1, "placed once, later");
    assert_eq!(placed[0]["limit_price"], "$12.50");
    assert!(
        named(&h, "refused-later").await.is_empty(),
        "a write refused at commit time never lands"
    );
    assert_eq!(h.sim.counters().dropped("POST", BIDS), 2);
    assert_eq!(
        h.sim.counters().total("POST", BIDS),
        2,
        "committed writes are not counted again"
    );

    // A PATCH that is overtaken: the bid is cancelled before the late limit change lands.
    let fid = placed[0]["fid"].as_str().expect("fid").to_owned();
    let path = format!("{BIDS}/{fid}");
    h.sim.faults().set_route(
        "PATCH",
        "/v2/spot/bids/{bid_fid}",
        FaultSpec {
            late_commit: 1.0,
            late_commit_delay: LATE,
            ..FaultSpec::default()
        },
    );
    expect_no_answer(
        &h,
        Method::PATCH,
        &path,
        Some(&json!({ "limit_price": "$30.00" })),
    )
    .await;
    assert_eq!(h.delete(&path).await.0, 204);
    tokio::time::sleep(AFTER_LATE).await;
    let bid = h.bid(&fid).await;
    assert_eq!(bid["status"], "Terminated");
    assert_eq!(
        bid["limit_price"], "$12.50",
        "the refused PATCH did nothing"
    );

    // A DELETE that lands late; reads are never deferred.
    h.sim.faults().clear();
    let other = h
        .place_bid("cancelled-late", "us-central1-a", &it, "$12.50", 1)
        .await["fid"]
        .as_str()
        .expect("fid")
        .to_owned();
    h.sim.faults().set_all(FaultSpec {
        late_commit: 1.0,
        late_commit_delay: LATE,
        ..FaultSpec::default()
    });
    let path = format!("{BIDS}/{other}");
    expect_no_answer(&h, Method::DELETE, &path, None).await;
    assert_eq!(
        h.bid(&other).await["status"],
        "Open",
        "reads answer at once"
    );
    tokio::time::sleep(AFTER_LATE).await;
    assert_eq!(h.bid(&other).await["status"], "Terminated");
}

/// Which of 24 POSTs under `late_commit: 0.5` lost their answer, for a seed.
async fn late_pattern(seed: u64) -> Vec<bool> {
    let h = Harness::start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await;
    let project = h.project().await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    h.sim.faults().set_route(
        "POST",
        BIDS,
        FaultSpec {
            late_commit: 0.5,
            ..FaultSpec::default()
        },
    );
    let mut pattern = Vec::new();
    for index in 0..24 {
        let body = sim_support::bid_body(
            &project,
            &format!("bid-{index}"),
            "us-central1-a",
            &it,
            "$12.50",
            1,
        );
        let answered = match h.raw(Method::POST, BIDS, Some(&body), Some(KEY)).await {
            Err(_) => false,
            Ok(response) => response.bytes().await.is_ok(),
        };
        pattern.push(answered);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.sim.faults().clear();
    let listed = h.get_ok(&format!("{BIDS}?limit=100")).await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(24),
        "every write landed, answered or not"
    );
    pattern
}

#[tokio::test]
async fn late_commit_draws_are_deterministic_for_a_seed() {
    let first = late_pattern(5).await;
    assert_eq!(first, late_pattern(5).await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

/// (status, name) of what the bid list shows for `query`.
async fn listed(h: &Harness, query: &str) -> Vec<(String, String)> {
    h.get_ok(&format!("{BIDS}?{query}")).await["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|bid| {
            (
                bid["status"].as_str().expect("status").to_owned(),
                bid["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn list_lag_shows_lists_as_they_were_while_single_reads_are_current() {
    const LAG: Duration = Duration::from_millis(1500);
    const PAST_LAG: Duration = Duration::from_millis(1700);
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    let settled = h
        .place_bid("settled", "us-central1-a", &it, "$12.50", 1)
        .await;
    put_faults(
        &h,
        json!({ "spec": { "list_lag": LAG.as_millis() as u64 } }),
    )
    .await;

    let fresh = h
        .place_bid("fresh", "us-central1-a", &it, "$12.50", 1)
        .await;
    let fid = fresh["fid"].as_str().expect("fid").to_owned();
    assert_eq!(
        h.bid(&fid).await["status"],
        "Open",
        "a single read is current"
    );
    assert_eq!(listed(&h, "").await, [("Open".into(), "settled".into())]);
    assert!(
        listed(&h, "name=fresh").await.is_empty(),
        "new: not listed yet"
    );
    tokio::time::sleep(PAST_LAG).await;
    assert_eq!(
        listed(&h, "name=fresh").await,
        [("Open".into(), "fresh".into())]
    );

    let path = format!("{BIDS}/{fid}");
    assert_eq!(h.patch(&path, &json!({ "paused": true })).await.0, 200);
    assert_eq!(h.bid(&fid).await["status"], "Paused");
    assert_eq!(
        listed(&h, "name=fresh").await,
        [("Open".into(), "fresh".into())],
        "changed: its previous state"
    );
    assert!(
        listed(&h, "status=Paused").await.is_empty(),
        "filters see the lagged view"
    );
    assert_eq!(listed(&h, "status=Open&sort_by=created_at").await.len(), 2);
    tokio::time::sleep(PAST_LAG).await;
    assert_eq!(
        listed(&h, "status=Paused").await,
        [("Paused".into(), "fresh".into())]
    );

    // Instances of a bid lag too: resumed and allocated, it is still Paused in the list, with no
    // instance listed, while its own read shows both.
    assert_eq!(h.patch(&path, &json!({ "paused": false })).await.0, 200);
    h.sim.advance(2 * sim_support::MINUTE);
    let bid = h.bid(&fid).await;
    assert_eq!(bid["status"], "Allocated");
    assert_eq!(bid["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        listed(&h, "name=fresh").await,
        [("Paused".into(), "fresh".into())]
    );
    let instances = format!("/v2/instances?project={project}&bid_fid_in={fid}");
    assert_eq!(h.get_ok(&instances).await["data"], json!([]));
    tokio::time::sleep(PAST_LAG).await;
    assert_eq!(
        listed(&h, "name=fresh").await,
        [("Allocated".into(), "fresh".into())]
    );
    assert_eq!(
        h.get_ok(&instances).await["data"].as_array().map(Vec::len),
        Some(1)
    );
    let settled = settled["fid"].as_str().expect("fid");
    assert_eq!(h.bid(settled).await["status"], "Allocated");

    // Without a lag, lists are current again at once.
    h.sim.faults().clear();
    assert_eq!(h.patch(&path, &json!({ "paused": true })).await.0, 200);
    assert_eq!(
        listed(&h, "name=fresh").await,
        [("Paused".into(), "fresh".into())]
    );
}
