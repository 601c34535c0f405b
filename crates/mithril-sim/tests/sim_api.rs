//! The API surface: paging, validation (422), authentication (401), access, names (400), unknown
//! FIDs (404), the catalogue, world files, and the strictness of the schema check itself.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod sim_support;

use mithril_sim::{SimConfig, WorldSpec};
use reqwest::Method;
use serde_json::{Value, json};
use sim_support::{Harness, KEY, MINUTE, assert_valid, bid_body, violations};
use std::collections::HashSet;

const REGION: &str = "us-central1-a";
const H100: &str = "h100-80gb.sxm.8x";

fn fids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|bid| bid["fid"].as_str().expect("fid").to_owned())
        .collect()
}

async fn place_many(h: &Harness, count: usize, prefix: &str) -> Vec<String> {
    let project = h.project().await;
    let it = h.instance_type(H100).await;
    let mut placed = Vec::with_capacity(count);
    for index in 0..count {
        let limit = format!("${}.00", 10 + index % 7);
        let body = bid_body(
            &project,
            &format!("{prefix}-{index:03}"),
            REGION,
            &it,
            &limit,
            1,
        );
        let (status, bid) = h.post("/v2/spot/bids", &body).await;
        assert_eq!(status, 201, "{bid}");
        placed.push(bid["fid"].as_str().expect("fid").to_owned());
    }
    placed
}

/// Walks every page of `query`, calling `between` after each page.
async fn walk(h: &Harness, query: &str, mut between: impl AsyncFnMut(usize)) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let path = match &cursor {
            Some(cursor) => format!("/v2/spot/bids?{query}&next_cursor={cursor}"),
            None => format!("/v2/spot/bids?{query}"),
        };
        let page = h.get_ok(&path).await;
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= 100);
        seen.extend(data.iter().cloned());
        between(page_number).await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn pages_through_250_bids_stable_under_inserts() {
    let h = Harness::default().await;
    let placed = place_many(&h, 250, "page").await;

    let first = h.get_ok("/v2/spot/bids?limit=100&sort_by=created_at").await;
    assert_eq!(fids(&first), placed[..100], "oldest first by created_at");
    let mut inserted = Vec::new();
    let seen = walk(&h, "limit=100&sort_by=created_at", async |page| {
        if page == 0 {
            inserted = place_many(&h, 5, "late").await;
        }
    })
    .await;
    let seen: Vec<String> = seen
        .iter()
        .map(|bid| bid["fid"].as_str().expect("fid").to_owned())
        .collect();
    let expected: Vec<String> = placed.iter().chain(&inserted).cloned().collect();
    assert_eq!(seen, expected, "every bid once, inserts at the end");

    let newest_first = walk(
        &h,
        "limit=100&sort_by=created_at&sort_dir=desc",
        async |page| {
            if page == 0 {
                place_many(&h, 3, "later").await;
            }
        },
    )
    .await;
    let newest_first: Vec<String> = newest_first
        .iter()
        .map(|bid| bid["fid"].as_str().expect("fid").to_owned())
        .collect();
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(
        newest_first, reversed,
        "bids placed behind the cursor do not appear, none repeats"
    );
}

#[tokio::test]
async fn pages_by_status_and_filters() {
    let h = Harness::default().await;
    h.sim.set_capacity(REGION, H100, 40).expect("capacity");
    let placed = place_many(&h, 120, "status").await;
    h.sim.advance(2 * MINUTE);
    let by_status = walk(&h, "sort_by=status&limit=33", async |_| {}).await;
    assert_eq!(by_status.len(), placed.len());
    let unique: HashSet<&str> = by_status
        .iter()
        .map(|bid| bid["fid"].as_str().expect("fid"))
        .collect();
    assert_eq!(unique.len(), placed.len());
    let statuses: Vec<&str> = by_status
        .iter()
        .map(|bid| bid["status"].as_str().expect("status"))
        .collect();
    assert!(
        statuses.windows(2).all(|pair| pair[0] <= pair[1]),
        "sorted by status"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == "Allocated")
            .count(),
        40
    );

    let allocated = h.get_ok("/v2/spot/bids?status=Allocated&limit=100").await;
    assert_eq!(fids(&allocated).len(), 40);
    let named = h.get_ok("/v2/spot/bids?name=status-007").await;
    assert_eq!(fids(&named), [placed[7].clone()]);
    let elsewhere = h.get_ok("/v2/spot/bids?region=eu-central1-a").await;
    assert!(fids(&elsewhere).is_empty());

    let project = h.project().await;
    let instances = h
        .get_ok(&format!(
            "/v2/instances?project={project}&order_type_in=Bid&limit=15&sort_by=instance_status"
        ))
        .await;
    assert_eq!(instances["data"].as_array().expect("data").len(), 15);
    assert!(instances["next_cursor"].is_string());
    let new_only = h
        .get_ok(&format!(
            "/v2/instances?project={project}&status_in=STATUS_NEW,STATUS_RUNNING&limit=100"
        ))
        .await;
    assert_eq!(
        new_only["data"].as_array().expect("data").len(),
        44,
        "40 new, 4 reserved running"
    );
}

async fn expect_422(
    h: &Harness,
    method: Method,
    path: &str,
    body: Option<&Value>,
    kind: &str,
    loc: Value,
) -> Value {
    let (status, answer) = h.call(method.clone(), path, body).await;
    assert_eq!(status, 422, "{method} {path}: {answer}");
    let found = answer["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .find(|item| item["loc"] == loc)
        .cloned();
    let item = found.unwrap_or_else(|| panic!("{method} {path}: no error at {loc}: {answer}"));
    assert_eq!(item["type"], kind, "{answer}");
    item
}

#[tokio::test]
async fn bad_bodies_are_422_in_fastapi_shape() {
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type(H100).await;
    let good = bid_body(&project, "valid", REGION, &it, "$20.00", 1);
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };

    let (status, answer) = h.post("/v2/spot/bids", &json!({})).await;
    assert_eq!(status, 422);
    let missing: Vec<&Value> = answer["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .map(|item| &item["loc"][1])
        .collect();
    assert_eq!(
        missing,
        [
            "project",
            "region",
            "instance_type",
            "limit_price",
            "instance_quantity",
            "name",
            "launch_specification"
        ]
    );
    assert!(
        answer["detail"]
            .as_array()
            .expect("detail")
            .iter()
            .all(|item| item["type"] == "missing" && item["msg"] == "Field required")
    );

    let item = expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("instance_quantity", json!(-1))),
        "greater_than_equal",
        json!(["body", "instance_quantity"]),
    )
    .await;
    assert_eq!(item["msg"], "Input should be greater than or equal to 1");
    assert_eq!(item["ctx"], json!({ "ge": 1 }));
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("instance_quantity", json!(0))),
        "greater_than_equal",
        json!(["body", "instance_quantity"]),
    )
    .await;
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("instance_quantity", json!(1.5))),
        "int_from_float",
        json!(["body", "instance_quantity"]),
    )
    .await;
    for price in ["25.60", "$25.6", "$25", "$-1.00", "USD 3.00"] {
        let item = expect_422(
            &h,
            Method::POST,
            "/v2/spot/bids",
            Some(&with("limit_price", json!(price))),
            "string_pattern_mismatch",
            json!(["body", "limit_price"]),
        )
        .await;
        assert_eq!(item["msg"], r"String should match pattern '^\$\d+\.\d{2}$'");
    }
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("limit_price", json!(25.6))),
        "string_type",
        json!(["body", "limit_price"]),
    )
    .await;
    let item = expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("region", json!("mars-north1-a"))),
        "value_error",
        json!(["body", "region"]),
    )
    .await;
    assert_eq!(item["msg"], "Value error, unknown region 'mars-north1-a'");
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("instance_type", json!("it_doesnotexist00000"))),
        "value_error",
        json!(["body", "instance_type"]),
    )
    .await;
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("launch_specification", json!({ "volumes": [] }))),
        "missing",
        json!(["body", "launch_specification", "ssh_keys"]),
    )
    .await;
    expect_422(
        &h,
        Method::POST,
        "/v2/spot/bids",
        Some(&with("launch_specification", json!("none"))),
        "model_type",
        json!(["body", "launch_specification"]),
    )
    .await;

    let response = h
        .client
        .post(h.url("/v2/spot/bids"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{\"project\": ")
        .send()
        .await
        .expect("send");
    let status = response.status();
    let answer = assert_valid(
        "/v2/spot/bids",
        &Method::POST,
        status,
        &response.bytes().await.expect("body"),
    );
    assert_eq!(status, 422);
    assert_eq!(answer["detail"][0]["type"], "json_invalid");

    let (status, bid) = h.post("/v2/spot/bids", &good).await;
    assert_eq!(status, 201);
    let path = format!("/v2/spot/bids/{}", bid["fid"].as_str().expect("fid"));
    expect_422(
        &h,
        Method::PATCH,
        &path,
        Some(&json!({ "limit_price": "$1" })),
        "string_pattern_mismatch",
        json!(["body", "limit_price"]),
    )
    .await;
    expect_422(
        &h,
        Method::PATCH,
        &path,
        Some(&json!({ "paused": "maybe" })),
        "bool_parsing",
        json!(["body", "paused"]),
    )
    .await;
    expect_422(
        &h,
        Method::PATCH,
        &path,
        Some(&json!({ "memory_gb": "lots" })),
        "int_parsing",
        json!(["body", "memory_gb"]),
    )
    .await;
}

#[tokio::test]
async fn bad_query_parameters_are_422() {
    let h = Harness::default().await;
    let cases = [
        (
            "/v2/spot/bids?limit=0",
            "greater_than_equal",
            json!(["query", "limit"]),
        ),
        (
            "/v2/spot/bids?limit=101",
            "less_than_equal",
            json!(["query", "limit"]),
        ),
        (
            "/v2/spot/bids?limit=ten",
            "int_parsing",
            json!(["query", "limit"]),
        ),
        (
            "/v2/spot/bids?sort_by=price",
            "enum",
            json!(["query", "sort_by"]),
        ),
        (
            "/v2/spot/bids?sort_dir=up",
            "enum",
            json!(["query", "sort_dir"]),
        ),
        (
            "/v2/spot/bids?status=Won",
            "enum",
            json!(["query", "status"]),
        ),
        (
            "/v2/spot/bids?next_cursor=garbage",
            "value_error",
            json!(["query", "next_cursor"]),
        ),
        ("/v2/instances", "missing", json!(["query", "project"])),
        (
            "/v2/instances/status/history",
            "missing",
            json!(["query", "project"]),
        ),
        (
            "/v2/instances/pricing/history?limit=500",
            "missing",
            json!(["query", "project"]),
        ),
    ];
    for (path, kind, loc) in cases {
        expect_422(&h, Method::GET, path, None, kind, loc).await;
    }
    let item = expect_422(
        &h,
        Method::GET,
        "/v2/spot/bids?sort_by=price",
        None,
        "enum",
        json!(["query", "sort_by"]),
    )
    .await;
    assert_eq!(item["msg"], "Input should be 'created_at' or 'status'");
    let project = h.project().await;
    expect_422(
        &h,
        Method::GET,
        &format!("/v2/instances?project={project}&status_in=STATUS_RUNNING,STATUS_BOGUS"),
        None,
        "enum",
        json!(["query", "status_in", 1]),
    )
    .await;
    expect_422(
        &h,
        Method::GET,
        &format!("/v2/instances?project={project}&order_type_in=Spot"),
        None,
        "enum",
        json!(["query", "order_type_in", 0]),
    )
    .await;
    expect_422(
        &h,
        Method::GET,
        &format!("/v2/instances/status/history?project={project}&start_time=yesterday"),
        None,
        "datetime_from_date_parsing",
        json!(["query", "start_time"]),
    )
    .await;
    let page = h.get_ok("/v2/spot/bids?limit=1").await;
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn two_live_bids_may_share_a_name_and_idempotency_keys_are_ignored() {
    let h = Harness::default().await;
    let it = h.instance_type(H100).await;
    let body = bid_body(&h.project().await, "shared", REGION, &it, "$20.00", 1);
    let mut placed = HashSet::new();
    for _ in 0..2 {
        let response = h
            .client
            .post(h.url("/v2/spot/bids"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", "the-same-key")
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = response.status();
        let bid = assert_valid(
            "/v2/spot/bids",
            &Method::POST,
            status,
            &response.bytes().await.expect("body"),
        );
        assert_eq!(status, 201, "{bid}");
        placed.insert(bid["fid"].as_str().expect("fid").to_owned());
    }
    assert_eq!(placed.len(), 2, "the same request twice places two bids");
    let listed = h.get_ok("/v2/spot/bids?name=shared").await;
    let listed: HashSet<String> = fids(&listed).into_iter().collect();
    assert_eq!(listed, placed, "both live, both listed under the name");
}

#[tokio::test]
async fn unique_bid_names_is_an_option_that_refuses_a_second_live_bid() {
    let mut world = WorldSpec::default();
    world.conveniences.unique_bid_names = true;
    let h = Harness::start(SimConfig {
        world,
        ..SimConfig::default()
    })
    .await;
    let it = h.instance_type(H100).await;
    let first = h.place_bid("unique", REGION, &it, "$20.00", 1).await;
    let body = bid_body(
        &h.project().await,
        "unique",
        "us-central1-b",
        &it,
        "$21.00",
        1,
    );
    let (status, answer) = h.post("/v2/spot/bids", &body).await;
    assert_eq!(status, 400);
    assert_eq!(answer, json!({ "detail": "name already used" }));
    let fid = first["fid"].as_str().expect("fid");
    assert_eq!(h.delete(&format!("/v2/spot/bids/{fid}")).await.0, 204);
    let (status, _) = h.post("/v2/spot/bids", &body).await;
    assert_eq!(status, 201, "a terminated bid frees its name");
}

/// Every bid FID of a walk through the pages of `query`.
async fn walk_fids(h: &Harness, query: &str) -> Vec<String> {
    walk(h, query, async |_| {})
        .await
        .iter()
        .map(|bid| bid["fid"].as_str().expect("fid").to_owned())
        .collect()
}

#[tokio::test]
async fn without_sort_by_the_order_is_seeded_and_pages_see_each_bid_once() {
    let mut shuffled_seeds = 0;
    for seed in 0..3 {
        let h = Harness::start(SimConfig {
            seed,
            ..SimConfig::default()
        })
        .await;
        let placed = place_many(&h, 40, "any").await;
        let listed = fids(&h.get_ok("/v2/spot/bids").await);
        assert_eq!(
            listed.iter().collect::<HashSet<_>>(),
            placed.iter().collect::<HashSet<_>>()
        );
        if listed != placed {
            shuffled_seeds += 1;
        }
        assert_eq!(
            fids(&h.get_ok("/v2/spot/bids").await),
            listed,
            "the same order while nothing changes"
        );
        for query in ["limit=7", "limit=7&sort_dir=desc", "limit=1"] {
            let paged = walk_fids(&h, query).await;
            assert_eq!(paged.len(), placed.len(), "{query}: no repeats, no gaps");
            assert_eq!(
                paged.iter().collect::<HashSet<_>>(),
                placed.iter().collect::<HashSet<_>>(),
                "{query}"
            );
        }
        assert_eq!(
            walk_fids(&h, "limit=7").await,
            listed,
            "pages follow the order"
        );
    }
    assert!(shuffled_seeds > 0, "the order is not creation order");

    let again = Harness::start(SimConfig {
        seed: 1,
        ..SimConfig::default()
    })
    .await;
    let once = Harness::start(SimConfig {
        seed: 1,
        ..SimConfig::default()
    })
    .await;
    place_many(&again, 10, "same").await;
    place_many(&once, 10, "same").await;
    assert_eq!(
        fids(&again.get_ok("/v2/spot/bids").await),
        fids(&once.get_ok("/v2/spot/bids").await),
        "reproducible for a seed"
    );
}

#[tokio::test]
async fn without_sort_by_a_status_change_may_move_a_bid() {
    let h = Harness::default().await;
    h.sim.set_capacity(REGION, H100, 20).expect("capacity");
    place_many(&h, 40, "moving").await;
    let before = fids(&h.get_ok("/v2/spot/bids").await);
    h.sim.advance(2 * MINUTE);
    let after = fids(&h.get_ok("/v2/spot/bids").await);
    assert_ne!(
        before, after,
        "half the bids are Allocated now, in new places"
    );
    let with_sort = fids(&h.get_ok("/v2/spot/bids?sort_by=created_at").await);
    let mut by_creation = before.clone();
    by_creation.sort_by_key(|fid| with_sort.iter().position(|listed| listed == fid));
    assert_eq!(with_sort, by_creation, "sort_by=created_at is unaffected");
}

#[tokio::test]
async fn array_query_parameters_take_repeated_keys_comma_lists_and_a_mix() {
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type(H100).await;
    h.sim.set_capacity(REGION, H100, 4).expect("capacity");
    let first = h.place_bid("first", REGION, &it, "$20.00", 1).await;
    let second = h.place_bid("second", REGION, &it, "$20.00", 2).await;
    h.sim.advance(2 * MINUTE);
    let (first, second) = (
        first["fid"].as_str().expect("fid").to_owned(),
        second["fid"].as_str().expect("fid").to_owned(),
    );
    let count = async |query: &str| {
        h.get_ok(&format!("/v2/instances?project={project}&{query}"))
            .await["data"]
            .as_array()
            .expect("data")
            .len()
    };
    let reserved = "res_"; // prefix of reservation FIDs
    let reservation = h
        .get_ok(&format!(
            "/v2/instances?project={project}&order_type_in=Reservation"
        ))
        .await["data"][0]["reservation"]
        .as_str()
        .expect("reservation")
        .to_owned();
    assert!(reservation.starts_with(reserved));

    // Three bid instances (NEW); six reserved, four RUNNING and two PAUSED.
    for query in [
        "status_in=STATUS_NEW&status_in=STATUS_RUNNING",
        "status_in=STATUS_NEW,STATUS_RUNNING",
        "status_in=STATUS_NEW%2CSTATUS_RUNNING",
    ] {
        assert_eq!(count(query).await, 7, "{query}");
    }
    assert_eq!(
        count("status_in=STATUS_NEW,STATUS_PAUSED&status_in=STATUS_RUNNING").await,
        9
    );
    assert_eq!(count("status_in=STATUS_RUNNING").await, 4);
    for query in [
        "order_type_in=Bid&order_type_in=Reservation",
        "order_type_in=Bid,Reservation",
    ] {
        assert_eq!(count(query).await, 9, "{query}");
    }
    for query in [
        format!("bid_fid_in={first}&bid_fid_in={second}"),
        format!("bid_fid_in={first},{second}"),
        format!("bid_fid_in={first},bid_nonexistent000&bid_fid_in={second}"),
    ] {
        assert_eq!(count(&query).await, 3, "{query}");
    }
    assert_eq!(count(&format!("bid_fid_in={second}")).await, 2);
    for query in [
        format!("reservation_fid_in={reservation}&reservation_fid_in=res_other0000000"),
        format!("reservation_fid_in={reservation},res_other0000000"),
    ] {
        assert_eq!(count(&query).await, 2, "{query}");
    }
    expect_422(
        &h,
        Method::GET,
        &format!("/v2/instances?project={project}&status_in=STATUS_NEW&status_in=RUNNING"),
        None,
        "enum",
        json!(["query", "status_in", 1]),
    )
    .await;
    expect_422(
        &h,
        Method::GET,
        &format!("/v2/instances?project={project}&status_in=STATUS_NEW,RUNNING"),
        None,
        "enum",
        json!(["query", "status_in", 1]),
    )
    .await;
}

#[tokio::test]
async fn unknown_fids_are_404() {
    let h = Harness::default().await;
    for (method, path) in [
        (Method::GET, "/v2/spot/bids/bid_doesnotexist00000"),
        (Method::DELETE, "/v2/spot/bids/bid_doesnotexist00000"),
        (Method::GET, "/v2/spot/bids/bid_doesnotexist00000/status"),
        (Method::GET, "/v2/spot/bids/bid_doesnotexist00000/history"),
        (Method::GET, "/v2/instances/inst_doesnotexist0000/status"),
        (Method::GET, "/v2/instances?project=proj_doesnotexist0000"),
    ] {
        let (status, _) = h.call(method.clone(), path, None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, _) = h
        .patch(
            "/v2/spot/bids/bid_doesnotexist00000",
            &json!({ "paused": true }),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn keys_are_required_and_checked() {
    let h = Harness::default().await;
    for key in [None, Some("nope"), Some("fkey_"), Some("")] {
        let (status, answer) = h.call_as(key, Method::GET, "/v2/spot/bids", None).await;
        assert_eq!(status, 401, "{key:?}: {answer}");
        assert!(answer["detail"].is_string());
    }
    let response = h
        .client
        .get(h.url("/v2/projects"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let (status, _) = h
        .call_as(
            Some("fkey_anything_goes"),
            Method::GET,
            "/v2/spot/bids",
            None,
        )
        .await;
    assert_eq!(status, 200, "any fkey_ key without --api-key");

    let locked = Harness::start(SimConfig {
        api_key: Some("fkey_only_this_one".into()),
        ..SimConfig::default()
    })
    .await;
    let (status, _) = locked
        .call_as(Some(KEY), Method::GET, "/v2/spot/bids", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = locked
        .call_as(
            Some("fkey_only_this_one"),
            Method::GET,
            "/v2/spot/bids",
            None,
        )
        .await;
    assert_eq!(status, 200);
}

fn example_world() -> WorldSpec {
    WorldSpec::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sim_world.yaml"
    )))
    .expect("example world loads")
}

#[tokio::test]
async fn a_world_file_maps_keys_to_projects() {
    let h = Harness::start(SimConfig {
        world: example_world(),
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let research = h
        .call_as(
            Some("fkey_research_team"),
            Method::GET,
            "/v2/projects",
            None,
        )
        .await
        .1;
    assert_eq!(research.as_array().expect("projects").len(), 1);
    assert_eq!(research[0]["name"], "research");
    let research_fid = research[0]["fid"].as_str().expect("fid").to_owned();
    let admin = h
        .call_as(
            Some("fkey_platform_admin"),
            Method::GET,
            "/v2/projects",
            None,
        )
        .await
        .1;
    assert_eq!(admin.as_array().expect("projects").len(), 2);
    let stranger = h
        .call_as(Some("fkey_stranger"), Method::GET, "/v2/projects", None)
        .await
        .1;
    assert_eq!(stranger, json!([]));

    let body = bid_body(
        &research_fid,
        "job",
        REGION,
        "it_a100sxm80gb8xxxx",
        "$7.00",
        2,
    );
    let (status, bid) = h
        .call_as(
            Some("fkey_research_team"),
            Method::POST,
            "/v2/spot/bids",
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{bid}");
    assert_eq!(bid["created_by"], "user_research");
    assert_eq!(bid["created_at"], "2025-06-01T08:00:00Z");
    let path = format!("/v2/spot/bids/{}", bid["fid"].as_str().expect("fid"));
    let (status, _) = h
        .call_as(Some("fkey_inference_team"), Method::GET, &path, None)
        .await;
    assert_eq!(status, 404, "another team's bid is invisible");
    let (status, _) = h
        .call_as(
            Some("fkey_inference_team"),
            Method::POST,
            "/v2/spot/bids",
            Some(&body),
        )
        .await;
    assert_eq!(status, 404, "nor can it bid in a project it does not see");
    let listed = h
        .call_as(
            Some("fkey_inference_team"),
            Method::GET,
            "/v2/spot/bids",
            None,
        )
        .await
        .1;
    assert_eq!(listed["data"], json!([]));

    let instances = h
        .call_as(
            Some("fkey_research_team"),
            Method::GET,
            &format!("/v2/instances?project={research_fid}"),
            None,
        )
        .await
        .1;
    assert_eq!(
        instances["data"].as_array().expect("data").len(),
        3,
        "the reservation's instances"
    );
    let types = h.get_ok("/v2/instance-types").await;
    assert_eq!(types.as_array().expect("types").len(), 2);
    let auctions = h.get_ok("/v2/spot/availability").await;
    assert_eq!(auctions.as_array().expect("auctions").len(), 3);
}

#[tokio::test]
async fn a_world_file_bid_of_another_party_keeps_its_odd_price_verbatim() {
    let h = Harness::start(SimConfig {
        world: example_world(),
        ..SimConfig::default()
    })
    .await;
    let listed = h
        .call_as(
            Some("fkey_research_team"),
            Method::GET,
            "/v2/spot/bids?sort_by=created_at",
            None,
        )
        .await
        .1;
    let prices: Vec<(&str, &str, &str)> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|bid| {
            (
                bid["name"].as_str().expect("name"),
                bid["limit_price"].as_str().expect("price"),
                bid["created_by"].as_str().expect("created_by"),
            )
        })
        .collect();
    assert_eq!(
        prices,
        [
            ("someone-elses-training", "$1,250.00", "user_someone_else"),
            ("someone-elses-eval", "12.5", "user_otherparty"),
        ]
    );
    assert_eq!(listed["data"][1]["status"], "Paused");
    let fid = listed["data"][0]["fid"].as_str().expect("fid");
    let (_, history) = h
        .call_as(
            Some("fkey_research_team"),
            Method::GET,
            &format!("/v2/spot/bids/{fid}/history"),
            None,
        )
        .await;
    assert_eq!(history["events"][0]["limit_price"], "$1,250.00");
    h.sim.advance(2 * MINUTE);
    let (_, bid) = h
        .call_as(
            Some("fkey_research_team"),
            Method::GET,
            &format!("/v2/spot/bids/{fid}"),
            None,
        )
        .await;
    assert_eq!(bid["status"], "Allocated", "the market reads $1,250.00");
    assert_eq!(bid["limit_price"], "$1,250.00", "still verbatim");
    let (status, bid) = h
        .call_as(
            Some("fkey_research_team"),
            Method::PATCH,
            &format!("/v2/spot/bids/{fid}"),
            Some(&json!({ "limit_price": "$1250.00" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        bid["limit_price"], "$1250.00",
        "a limit set through the API"
    );
}

#[tokio::test]
async fn the_default_world_is_as_documented() {
    let h = Harness::default().await;
    let projects = h.get_ok("/v2/projects").await;
    assert_eq!(projects.as_array().expect("projects").len(), 1);
    assert_eq!(projects[0]["name"], "demo");
    assert!(
        projects[0]["fid"]
            .as_str()
            .is_some_and(|fid| fid.starts_with("proj_"))
    );
    // Three reservations of two: demo-reserved both RUNNING; batch-h100 and office-a100 one
    // RUNNING and one PAUSED each.
    let project = h.get_ok("/v2/projects").await[0]["fid"]
        .as_str()
        .expect("fid")
        .to_owned();
    let reserved = h
        .get_ok(&format!(
            "/v2/instances?project={project}&order_type_in=Reservation"
        ))
        .await;
    let mut seen: Vec<(String, String, String)> = reserved["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|instance| {
            let text = |field: &str| instance[field].as_str().expect(field).to_owned();
            (text("name"), text("region"), text("status"))
        })
        .collect();
    seen.sort();
    let expected = [
        ("batch-h100-0", "us-central1-a", "STATUS_RUNNING"),
        ("batch-h100-1", "us-central1-a", "STATUS_PAUSED"),
        ("demo-reserved-0", "us-central1-a", "STATUS_RUNNING"),
        ("demo-reserved-1", "us-central1-a", "STATUS_RUNNING"),
        ("office-a100-0", "eu-central1-a", "STATUS_RUNNING"),
        ("office-a100-1", "eu-central1-a", "STATUS_PAUSED"),
    ]
    .map(|(name, region, status)| (name.to_owned(), region.to_owned(), status.to_owned()));
    assert_eq!(seen, expected);
    let types = h.get_ok("/v2/instance-types").await;
    for it in types.as_array().expect("types") {
        let fid = it["fid"].as_str().expect("fid");
        assert!(
            fid.starts_with("it_")
                && fid.len() == 19
                && fid[3..].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{fid}"
        );
    }
    let auctions = h.get_ok("/v2/spot/availability").await;
    let regions: HashSet<&str> = auctions
        .as_array()
        .expect("auctions")
        .iter()
        .map(|a| a["region"].as_str().expect("region"))
        .collect();
    assert_eq!(
        regions,
        HashSet::from([
            "us-central1-a",
            "us-central1-b",
            "us-central2-a",
            "us-central5-a",
            "eu-central1-a"
        ])
    );
    assert!(
        auctions
            .as_array()
            .expect("auctions")
            .iter()
            .all(|a| a["fid"].as_str().is_some_and(|fid| fid.starts_with("auc_")))
    );
    let response = h
        .raw(Method::GET, "/v2/nowhere", None, Some(KEY))
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({ "detail": "Not Found" })
    );
}

#[test]
fn the_schema_check_rejects_what_the_spec_forbids() {
    let bid = json!({
        "fid": "bid_a", "name": "n", "project": "proj_a", "created_by": "u", "created_at": "2025-01-01T00:00:00Z",
        "deactivated_at": null, "limit_price": "$1.00", "instance_quantity": 1, "instance_type": "it_a",
        "region": "r", "instances": [], "launch_specification": { "volumes": [], "ssh_keys": [] }, "status": "Open"
    });
    let check = |body: &Value| {
        let bytes = serde_json::to_vec(body).expect("json");
        violations(
            "/v2/spot/bids/bid_a",
            &Method::GET,
            reqwest::StatusCode::OK,
            &bytes,
        )
        .is_empty()
    };
    assert!(check(&bid));
    let mut missing = bid.clone();
    missing.as_object_mut().expect("object").remove("fid");
    assert!(!check(&missing), "a required field");
    let mut bad_time = bid.clone();
    bad_time["created_at"] = json!("2025-02-30T00:00:00Z");
    assert!(!check(&bad_time), "a datetime that is no instant");
    let mut sloppy_time = bid.clone();
    sloppy_time["created_at"] = json!("2025-01-01 00:00");
    assert!(!check(&sloppy_time), "a datetime that is not RFC 3339");
    let mut extra = bid.clone();
    extra["surprise"] = json!(1);
    assert!(!check(&extra), "a field the spec does not have");
    let mut bad_status = bid;
    bad_status["status"] = json!("Won");
    assert!(!check(&bad_status), "a status outside the enum");
}

/// Every instance (of bids and reservations) has a status history and a pricing history, and
/// every bid its own history, in the spec's shapes (each answer is checked against the spec's
/// schemas by the harness), through placement, allocation, a price change, a pause and a cancel.
#[tokio::test]
async fn every_instance_and_bid_has_the_histories_the_spec_shapes() {
    let h = Harness::default().await;
    let project = h.project().await;
    let it = h.instance_type(H100).await;
    let kept = h.place_bid("kept", REGION, &it, "$30.00", 2).await;
    let paused = h.place_bid("paused", REGION, &it, "$30.00", 1).await;
    let cancelled = h.place_bid("cancelled", REGION, &it, "$30.00", 1).await;
    let fid = |bid: &Value| bid["fid"].as_str().unwrap().to_owned();
    h.sim.advance(10 * MINUTE);
    let (status, _) = h
        .patch(
            &format!("/v2/spot/bids/{}", fid(&kept)),
            &json!({"limit_price": "$31.00"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .patch(
            &format!("/v2/spot/bids/{}", fid(&paused)),
            &json!({"paused": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .delete(&format!("/v2/spot/bids/{}", fid(&cancelled)))
        .await;
    assert!(status.is_success(), "{status}");
    h.sim.advance(10 * MINUTE);

    let instances = h
        .get_ok(&format!("/v2/instances?project={project}&limit=100"))
        .await;
    let all: Vec<String> = instances["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        all.len() >= 4,
        "the bids' and the reservations' instances: {all:?}"
    );
    let statuses = h
        .get_ok(&format!(
            "/v2/instances/status/history?project={project}&limit=100"
        ))
        .await;
    let pricing = h
        .get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&limit=100"
        ))
        .await;
    for fid in &all {
        let of = |page: &Value| {
            page["instances"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["instance_fid"] == json!(fid))
                .cloned()
                .unwrap_or_else(|| panic!("{fid} has no history"))
        };
        let status_events = of(&statuses)["events"].as_array().unwrap().clone();
        assert!(!status_events.is_empty(), "{fid}");
        let priced = of(&pricing);
        if priced["bid_fid"].is_string() {
            let periods = priced["events"].as_array().unwrap();
            assert!(
                !periods.is_empty(),
                "{fid}: an allocated instance was billed"
            );
        }
    }
    for bid in [&kept, &paused, &cancelled] {
        let history = h
            .get_ok(&format!("/v2/spot/bids/{}/history", fid(bid)))
            .await;
        assert_eq!(history["bid_fid"], json!(fid(bid)));
        let first = &history["events"][0];
        assert_eq!(first["event_type"], "Placed");
    }
    for (bid, last) in [
        (&kept, "Limit Price Changed"),
        (&paused, "Paused"),
        (&cancelled, "Terminated"),
    ] {
        let history = h
            .get_ok(&format!("/v2/spot/bids/{}/history", fid(bid)))
            .await;
        let events = history["events"].as_array().unwrap();
        assert_eq!(events.last().unwrap()["event_type"], last, "{history}");
    }
}
