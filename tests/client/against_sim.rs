//! The client against the Mithril simulator: every endpoint, a bid's whole life, paging, and the
//! retry rules under injected faults. Simulated time only moves when the test advances it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use mithril_api::*;
use mithril_sim::{FaultSpec, Sim, SimConfig, SimServer};

const KEY: &str = "fkey_simulated_key_0001";

struct Harness {
    sim: Sim,
    _server: SimServer,
    client: MithrilClient,
    clock: Arc<ManualClock>,
}

async fn harness() -> Harness {
    let sim = Sim::new(SimConfig::default());
    let server = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut config = ClientConfig::new(server.url().parse().unwrap(), ApiKey::new(KEY).unwrap());
    config.rate_limit = RateLimit {
        per_second: 1000.0,
        burst: 1000,
    };
    let clock = Arc::new(ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap()));
    let client =
        MithrilClient::with_options(config, ClientOptions::default().clock(clock.clone())).unwrap();
    Harness {
        sim,
        _server: server,
        client,
        clock,
    }
}

async fn demo_project(client: &MithrilClient) -> String {
    client.resolve_project("demo").await.unwrap()
}

fn bid_request(
    project: &str,
    instance_type: &str,
    name: &str,
    limit: Price,
    quantity: i64,
) -> CreateBidRequest {
    CreateBidRequest {
        project: project.to_owned(),
        region: "us-central1-a".to_owned(),
        instance_type: instance_type.to_owned(),
        limit_price: limit,
        instance_quantity: quantity,
        name: name.to_owned(),
        launch_specification: LaunchSpecification::default(),
        notification_email: None,
    }
}

#[tokio::test]
async fn catalog_resolves_names_and_fids() {
    let h = harness().await;
    let projects = h.client.list_projects().await.unwrap();
    assert!(
        projects
            .iter()
            .any(|p| p.name == "demo" && p.fid.starts_with("proj_"))
    );
    let project = demo_project(&h.client).await;
    assert_eq!(h.client.resolve_project(&project).await.unwrap(), project);

    let types = h.client.list_instance_types().await.unwrap();
    assert_eq!(types.len(), 3);
    let h100 = h
        .client
        .resolve_instance_type("h100-80gb.sxm.8x")
        .await
        .unwrap();
    assert!(h100.starts_with("it_"));
    assert_eq!(h.client.resolve_instance_type(&h100).await.unwrap(), h100);
    assert!(
        h.client
            .resolve_instance_type("tpu-v9")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn spot_availability_lists_every_market() {
    let h = harness().await;
    let auctions = h.client.spot_availability().await.unwrap();
    assert_eq!(auctions.len(), 15, "five regions × three types");
    for auction in &auctions {
        assert!(auction.fid.starts_with("auc_"));
        assert!(auction.instance_type.starts_with("it_"));
    }
}

#[tokio::test]
async fn a_bid_lives_from_placement_to_cancellation() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let h100 = h
        .client
        .resolve_instance_type("h100-80gb.sxm.8x")
        .await
        .unwrap();

    let created = h
        .client
        .create_bid(
            &bid_request(&project, &h100, "train-a", "$50.00".parse().unwrap(), 2),
            "uid-1-gen-1",
        )
        .await
        .unwrap();
    assert!(created.fid.starts_with("bid_"));
    assert_eq!(created.status, BidStatus::Open);
    assert_eq!(created.limit_price, Price::from_cents(5000));

    let fetched = h.client.get_bid(&created.fid).await.unwrap();
    assert_eq!(fetched, created);
    let found = h
        .client
        .find_bids_by_name(&project, "train-a")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|b| &b.fid).collect::<Vec<_>>(),
        [&created.fid]
    );

    // The market clears on its tick; the bid wins capacity and instances start booting.
    h.sim.advance(Duration::from_secs(600));
    let allocated = h.client.get_bid(&created.fid).await.unwrap();
    assert_eq!(allocated.status, BidStatus::Allocated);
    assert_eq!(allocated.instances.len(), 2);
    let status = h.client.bid_status(&created.fid).await.unwrap();
    assert_eq!(status.status, BidDetailedStatus::Allocated);

    let instance = h
        .client
        .instance_status(&allocated.instances[0])
        .await
        .unwrap();
    assert_eq!(instance.bid.as_deref(), Some(created.fid.as_str()));
    assert!(instance.status.is_known(), "{:?}", instance.status);

    let raised = h
        .client
        .update_bid(
            &created.fid,
            &UpdateBidRequest::default().limit_price(Price::from_cents(6000)),
        )
        .await
        .unwrap();
    assert_eq!(raised.limit_price, Price::from_cents(6000));
    let paused = h
        .client
        .update_bid(&created.fid, &UpdateBidRequest::default().paused(true))
        .await
        .unwrap();
    assert_eq!(paused.status, BidStatus::Paused);

    h.client.cancel_bid(&created.fid).await.unwrap();
    let terminated = h.client.get_bid(&created.fid).await.unwrap();
    assert_eq!(terminated.status, BidStatus::Terminated);
    assert!(terminated.deactivated_at.is_some());

    let history = h.client.bid_history(&created.fid).await.unwrap();
    let events: Vec<_> = history
        .events
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    for expected in [
        BidEventType::Placed,
        BidEventType::Allocated,
        BidEventType::LimitPriceChanged,
        BidEventType::Paused,
        BidEventType::Terminated,
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    assert!(events.iter().all(BidEventType::is_known), "{events:?}");
    let price_change = history
        .events
        .iter()
        .find(|e| e.event_type == BidEventType::LimitPriceChanged)
        .unwrap();
    assert_eq!(price_change.limit_price, Some(Price::from_cents(6000)));

    let project_history = HistoryQuery::for_project(&project).bid(&created.fid);
    let statuses: Vec<InstanceStatusHistory> = h
        .client
        .instance_status_histories(project_history.clone())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses
            .iter()
            .all(|s| !s.events.is_empty() && s.bid_fid.as_deref() == Some(created.fid.as_str()))
    );
    let prices: Vec<InstancePricingHistory> = h
        .client
        .instance_pricing_histories(project_history)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(prices.len(), 2);
}

#[tokio::test]
async fn unknown_bids_are_not_found_and_bad_bids_are_validation_errors() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let error = h.client.get_bid("bid_doesnotexist").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(
        h.client
            .cancel_bid("bid_doesnotexist")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let error = h
        .client
        .create_bid(
            &bid_request(&project, "it_nope", "x", Price::from_cents(100), 0),
            "k",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, MithrilError::Validation { .. }), "{error}");
    let locations: Vec<String> = error
        .validation_issues()
        .iter()
        .map(|issue| {
            issue
                .loc
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    assert!(
        locations.contains(&"body.instance_quantity".to_owned()),
        "{error}"
    );
    assert!(!error.is_ambiguous_write());
}

#[tokio::test]
async fn bids_and_instances_page_through_every_item() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let a100 = h
        .client
        .resolve_instance_type("a100-40gb.sxm.4x")
        .await
        .unwrap();
    for i in 0..7 {
        h.client
            .create_bid(
                &bid_request(
                    &project,
                    &a100,
                    &format!("batch-{i}"),
                    Price::from_cents(2000),
                    1,
                ),
                &format!("k{i}"),
            )
            .await
            .unwrap();
    }
    let query = ListBidsQuery::default()
        .project(&project)
        .limit(3)
        .sort(BidSortBy::CreatedAt, SortDirection::Asc);
    let first = h.client.list_bids(&query).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.next_cursor.is_some());
    let all: Vec<Bid> = h.client.bids(query).try_collect().await.unwrap();
    assert_eq!(all.len(), 7);
    let names: Vec<_> = all.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "batch-0", "batch-1", "batch-2", "batch-3", "batch-4", "batch-5", "batch-6"
        ]
    );

    h.sim.advance(Duration::from_secs(600));
    let spot: Vec<Instance> = h
        .client
        .instances(
            ListInstancesQuery::for_project(&project)
                .order_type_in([OrderType::Bid])
                .limit(2),
        )
        .try_collect()
        .await
        .unwrap();
    assert!(!spot.is_empty());
    assert!(
        spot.iter()
            .all(|i| i.bid.is_some() && i.reservation.is_none())
    );
}

#[tokio::test]
async fn reserved_instances_pause_and_resume() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let reserved = h
        .client
        .list_instances(
            &ListInstancesQuery::for_project(&project)
                .order_type_in([OrderType::Reservation])
                .status_in([InstanceStatus::Running]),
        )
        .await
        .unwrap();
    // The built-in world's `demo-reserved` holds two running instances.
    let fids: Vec<_> = reserved
        .items
        .iter()
        .filter(|i| i.name.starts_with("demo-reserved-"))
        .map(|i| i.fid.clone())
        .collect();
    assert_eq!(fids.len(), 2, "{reserved:?}");

    let paused = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            fids.clone(),
            InstanceTargetStatus::Paused,
        ))
        .await
        .unwrap();
    assert_eq!(paused.instances.len(), 2);
    assert!(
        paused
            .instances
            .values()
            .all(|s| *s == InstanceStatus::Stopping),
        "{paused:?}"
    );

    h.sim.advance(Duration::from_secs(300));
    for fid in &fids {
        assert_eq!(
            h.client.instance_status(fid).await.unwrap().status,
            InstanceStatus::Paused
        );
    }
    let still_running = h
        .client
        .list_instances(
            &ListInstancesQuery::for_project(&project).status_in([InstanceStatus::Running]),
        )
        .await
        .unwrap();
    assert!(still_running.items.iter().all(|i| !fids.contains(&i.fid)));

    let resumed = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            fids.clone(),
            InstanceTargetStatus::Running,
        ))
        .await
        .unwrap();
    assert!(
        resumed
            .instances
            .values()
            .all(|s| *s == InstanceStatus::Confirmed),
        "{resumed:?}"
    );

    let history: Vec<InstanceStatusHistory> = h
        .client
        .instance_status_histories(HistoryQuery::for_project(&project).instance(&fids[0]))
        .try_collect()
        .await
        .unwrap();
    let seen: Vec<_> = history[0].events.iter().map(|e| e.status.clone()).collect();
    assert!(
        seen.contains(&InstanceStatus::Stopping) && seen.contains(&InstanceStatus::Paused),
        "{seen:?}"
    );

    let pricing = h
        .client
        .instance_pricing_history(&HistoryQuery::for_project(&project).instance(&fids[0]))
        .await
        .unwrap();
    assert_eq!(
        pricing.items[0].events[0].price,
        Price::from_cents(1200),
        "the reservation's $12.00"
    );

    let error = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            ["inst_doesnotexist"],
            InstanceTargetStatus::Paused,
        ))
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

#[tokio::test]
async fn spot_instances_cannot_be_paused() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let h100 = h
        .client
        .resolve_instance_type("h100-80gb.sxm.8x")
        .await
        .unwrap();
    let bid = h
        .client
        .create_bid(
            &bid_request(&project, &h100, "spot", Price::from_cents(5000), 1),
            "k",
        )
        .await
        .unwrap();
    h.sim.advance(Duration::from_secs(600));
    let bid = h.client.get_bid(&bid.fid).await.unwrap();
    let error = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            bid.instances.clone(),
            InstanceTargetStatus::Paused,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, MithrilError::NotImplemented { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error() {
    let sim = Sim::new(SimConfig {
        api_key: Some("fkey_the_only_key".into()),
        ..SimConfig::default()
    });
    let server = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let config = ClientConfig::new(server.url().parse().unwrap(), ApiKey::new(KEY).unwrap());
    let client = MithrilClient::new(config).unwrap();
    let error = client.list_projects().await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    assert!(!format!("{error:?}").contains("simulated_key"));
}

#[tokio::test]
async fn injected_faults_follow_the_retry_rules() {
    let h = harness().await;
    let project = demo_project(&h.client).await;
    let h100 = h
        .client
        .resolve_instance_type("h100-80gb.sxm.8x")
        .await
        .unwrap();

    // Every GET answered 503: retried up to the limit, then a server error.
    h.sim.faults().set_route(
        "GET",
        "/v2/spot/availability",
        FaultSpec {
            error_5xx: 1.0,
            ..FaultSpec::default()
        },
    );
    let error = h.client.spot_availability().await.unwrap_err();
    let max = RetryPolicy::default().max_attempts;
    assert!(
        matches!(error, MithrilError::Server { status: 503, attempts, .. } if attempts == max),
        "{error}"
    );
    assert_eq!(
        h.sim.counters().total("GET", "/v2/spot/availability"),
        u64::from(max)
    );

    // Every POST answered 503: sent once, ambiguous, and the caller can look the bid up by name.
    h.sim.faults().set_route(
        "POST",
        "/v2/spot/bids",
        FaultSpec {
            error_5xx: 1.0,
            ..FaultSpec::default()
        },
    );
    let error = h
        .client
        .create_bid(
            &bid_request(&project, &h100, "maybe", Price::from_cents(3000), 1),
            "k",
        )
        .await
        .unwrap_err();
    assert!(error.is_ambiguous_write(), "{error}");
    assert_eq!(h.sim.counters().total("POST", "/v2/spot/bids"), 1);
    assert!(
        h.client
            .find_bids_by_name(&project, "maybe")
            .await
            .unwrap()
            .is_empty()
    );

    // A 429 on POST is retried after Retry-After.
    h.sim.faults().set_route(
        "POST",
        "/v2/spot/bids",
        FaultSpec {
            throttle_429: 1.0,
            retry_after: Duration::from_secs(2),
            ..FaultSpec::default()
        },
    );
    let error = h
        .client
        .create_bid(
            &bid_request(&project, &h100, "throttled", Price::from_cents(3000), 1),
            "k2",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, MithrilError::RateLimited { attempts, .. } if attempts == max),
        "{error}"
    );
    assert!(
        h.clock.sleeps().contains(&Duration::from_secs(2)),
        "{:?}",
        h.clock.sleeps()
    );

    h.sim.faults().clear();
    let bid = h
        .client
        .create_bid(
            &bid_request(&project, &h100, "throttled", Price::from_cents(3000), 1),
            "k2",
        )
        .await
        .unwrap();
    assert_eq!(bid.name, "throttled");
}
