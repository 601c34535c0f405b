//! Failing cycles keep the last good picture, mark it stale, and recover; a rejected key is
//! reported as an authentication failure.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::support::observe::*;
use mithril_api::ManualClock;
use mithril_operator::observe::{Change, FailureKind, MithrilObserver, ObserveError};
use mithril_sim::{FaultSpec, Sim, SimConfig};

#[tokio::test]
async fn a_failing_cycle_keeps_the_cache_and_reports_it_stale() {
    let h = harness().await;
    let bid = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    observer.poll_once().await.unwrap();
    let synced_at = observer.health().last_success.unwrap();
    let mut changes = observer.subscribe();

    h.sim.faults().set_route(
        "GET",
        "/v2/spot/bids",
        FaultSpec {
            error_5xx: 1.0,
            ..FaultSpec::default()
        },
    );
    h.clock.advance(std::time::Duration::from_secs(30));
    let error = observer.poll_once().await.unwrap_err();
    assert!(matches!(&error, ObserveError::Mithril(e) if e.status() == Some(503)));
    assert!(!error.is_auth());
    let health = observer.health();
    assert!(health.synced && health.is_stale() && !health.is_auth_failure());
    assert_eq!(health.last_success, Some(synced_at));
    let failure = health.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Unavailable);
    assert_eq!(failure.consecutive, 1);
    assert!(failure.message.contains("503"), "{}", failure.message);
    assert_eq!(observer.bid_by_fid(&bid.fid).unwrap().name, "train");
    assert!(drain(&mut changes).is_empty(), "an outage wakes nobody");

    // Failing again: counted.
    observer.poll_once().await.unwrap_err();
    assert_eq!(observer.health().failure.unwrap().consecutive, 2);
    assert!(drain(&mut changes).is_empty());

    // Recovery: fresh again, and the bid's allocation since then is reported.
    h.sim.faults().clear();
    h.advance(TICK_SECONDS);
    observer.poll_once().await.unwrap();
    let health = observer.health();
    assert!(!health.is_stale());
    assert!(health.last_success.unwrap() > synced_at);
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&bid.fid]));
}

#[tokio::test]
async fn a_rejected_key_is_an_auth_failure() {
    let sim = Sim::new(SimConfig {
        api_key: Some("fkey_the_only_good_key".into()),
        ..SimConfig::default()
    });
    let server = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap()));
    let client = client_for(&server, "fkey_a_revoked_key", clock.clone());
    let observer = MithrilObserver::new(client, "proj_any", test_config(clock));
    let mut changes = observer.subscribe();

    let error = observer.poll_once().await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    let health = observer.health();
    assert!(!health.synced);
    assert!(health.is_auth_failure());
    assert_eq!(health.failure.unwrap().kind, FailureKind::Unauthorized);
    assert_eq!(drain(&mut changes), vec![Change::Resync]);
    assert_eq!(sim.counters().count("GET", "/v2/spot/bids", 401), 1);

    // Still rejected: retried at the next cycle, announced once.
    assert!(observer.poll_once().await.unwrap_err().is_auth());
    assert!(drain(&mut changes).is_empty());
    assert_eq!(sim.counters().count("GET", "/v2/spot/bids", 401), 2);
}
