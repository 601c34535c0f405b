//! The simulator at benchmark scale: 10,000 bids placed, cleared and listed through the router
//! in process. Prints timings; asserts only outcomes.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod sim_support;

use axum::body::Body;
use http::{Request, StatusCode};
use mithril_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use sim_support::{KEY, MINUTE, assert_valid};
use std::time::Instant;
use tower::ServiceExt;

const BIDS: usize = 10_000;
const REGION: &str = "us-central1-a";

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    (status, assert_valid(path, &method, status, &bytes))
}

#[tokio::test]
async fn ten_thousand_bids_are_placed_cleared_and_listed() {
    let sim = Sim::new(SimConfig::default());
    sim.set_capacity(REGION, "h100-80gb.sxm.8x", 500)
        .expect("capacity");
    let router = sim.router();
    let (_, projects) = call(&router, "GET", "/v2/projects", None).await;
    let project = projects[0]["fid"].as_str().expect("project").to_owned();
    let (_, types) = call(&router, "GET", "/v2/instance-types", None).await;
    let it = types
        .as_array()
        .expect("types")
        .iter()
        .find(|it| it["name"] == "h100-80gb.sxm.8x")
        .expect("h100")["fid"]
        .as_str()
        .expect("fid")
        .to_owned();

    let started = Instant::now();
    for index in 0..BIDS {
        let body = sim_support::bid_body(
            &project,
            &format!("scale-{index:05}"),
            REGION,
            &it,
            &format!("${}.{:02}", 8 + index % 50, index % 100),
            1,
        );
        let (status, _) = call(&router, "POST", "/v2/spot/bids", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let placing = started.elapsed();

    let started = Instant::now();
    sim.advance(2 * MINUTE);
    let clearing = started.elapsed();

    let started = Instant::now();
    let mut seen = 0;
    let mut allocated = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v2/spot/bids?limit=100&next_cursor={cursor}"),
            None => "/v2/spot/bids?limit=100".to_owned(),
        };
        let (status, page) = call(&router, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK);
        let data = page["data"].as_array().expect("data");
        seen += data.len();
        allocated += data
            .iter()
            .filter(|bid| bid["status"] == "Allocated")
            .count();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let listing = started.elapsed();
    assert_eq!(seen, BIDS);
    assert_eq!(allocated, 500);

    let started = Instant::now();
    sim.advance(60 * MINUTE);
    let hour = started.elapsed();
    let (_, availability) = call(&router, "GET", "/v2/spot/availability", None).await;
    let auction = availability
        .as_array()
        .expect("auctions")
        .iter()
        .find(|a| a["region"] == REGION && a["instance_type"] == json!(it))
        .expect("auction");
    assert_eq!(auction["capacity"], 0);

    println!(
        "sim scale: {BIDS} bids placed in {placing:?}, first clearing in {clearing:?}, listed (100 pages) in {listing:?}, \
         one simulated hour (30 clearings, 2,000 transitions) in {hour:?}"
    );
}
