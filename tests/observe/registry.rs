//! The registry: one observer per (key, project), one client and one availability read per key,
//! cached name resolution, a merged change stream, and background polling.

use std::sync::Arc;
use std::time::Duration;

use crate::support::observe::*;
use futures::StreamExt;
use mithril_api::*;
use mithril_operator::observe::{
    Change, ClientFactory, CycleListener, ObserveError, ObserverConfig, ObserverRegistry,
    PollReport, Polling, RegistryConfig,
};
use mithril_sim::{WorldSpec, world_spec::ProjectSpec};
use tokio_util::sync::CancellationToken;

/// The default world with a second project every key sees.
fn two_projects() -> WorldSpec {
    let mut world = roomy_world();
    world.projects.push(ProjectSpec {
        name: "research".into(),
        fid: None,
    });
    world.any_key_projects.push("research".into());
    world
}

fn factory(h: &Harness) -> ClientFactory {
    let url: url::Url = h.server.url().parse().unwrap();
    let clock = h.clock.clone();
    Arc::new(move |key: &ApiKey| {
        let mut config = ClientConfig::new(url.clone(), key.clone());
        config.rate_limit = RateLimit {
            per_second: 100_000.0,
            burst: 100_000,
        };
        MithrilClient::with_options(config, ClientOptions::default().clock(clock.clone()))
    })
}

fn manual_registry(h: &Harness) -> ObserverRegistry {
    ObserverRegistry::new(
        factory(h),
        RegistryConfig {
            observer: test_config(h.clock.clone()),
            ..RegistryConfig::default()
        },
        Polling::Manual,
    )
}

fn key() -> ApiKey {
    ApiKey::new(KEY).unwrap()
}

#[tokio::test]
async fn one_observer_per_key_and_project() {
    let h = harness_with(two_projects(), KEY).await;
    let registry = manual_registry(&h);
    let demo = registry.observer(&key(), &h.project).unwrap();
    demo.poll_once().await.unwrap();
    // An equal key is the same key: same observer, already synced.
    assert!(registry.observer(&key(), &h.project).unwrap().is_synced());
    let research = registry
        .observer_for_project(&key(), "research")
        .await
        .unwrap();
    assert_ne!(research.project(), h.project);
    assert!(!research.is_synced());
    let other_key = ApiKey::new("fkey_someone_else_0002").unwrap();
    assert!(
        !registry
            .observer(&other_key, &h.project)
            .unwrap()
            .is_synced()
    );
    assert_eq!(registry.observers().len(), 3);

    assert!(registry.stop_observer(&other_key, &h.project));
    assert!(!registry.stop_observer(&other_key, &h.project));
    assert!(registry.forget_key(&key()));
    assert!(!registry.observer(&key(), &h.project).unwrap().is_synced());
}

#[tokio::test]
async fn names_are_resolved_once_and_re_read_only_when_old_enough() {
    let h = harness_with(two_projects(), KEY).await;
    let registry = manual_registry(&h);
    let projects = || h.gets("/v2/projects");

    assert_eq!(
        registry.resolve_project(&key(), "demo").await.unwrap(),
        h.project
    );
    assert_eq!(
        registry.resolve_project(&key(), &h.project).await.unwrap(),
        h.project
    );
    assert_eq!(projects(), 1);
    let h100 = registry
        .resolve_instance_type(&key(), "h100-80gb.sxm.8x")
        .await
        .unwrap();
    assert_eq!(
        registry.resolve_instance_type(&key(), &h100).await.unwrap(),
        h100
    );
    assert_eq!(h.gets("/v2/instance-types"), 1);

    // A name missing from a list just read is not found, without asking again...
    let missing = registry.resolve_project(&key(), "nope").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(projects(), 1);
    // ... but once the list is a minute old, a miss reads it again.
    h.clock.advance(Duration::from_secs(61));
    assert!(
        registry
            .resolve_project(&key(), "nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(projects(), 2);
    // After the TTL every lookup reads the list again.
    h.clock.advance(Duration::from_secs(3600));
    registry.resolve_project(&key(), "demo").await.unwrap();
    assert_eq!(projects(), 3);
}

#[tokio::test]
async fn observers_of_one_key_share_availability_reads() {
    let h = harness_with(two_projects(), KEY).await;
    let registry = manual_registry(&h);
    let demo = registry.observer(&key(), &h.project).unwrap();
    let research = registry
        .observer_for_project(&key(), "research")
        .await
        .unwrap();
    let availability = || h.gets("/v2/spot/availability");

    // One (empty) bid list per live status, the reserved and the bid instances, availability.
    assert_eq!(demo.poll_once().await.unwrap().requests, 7);
    assert_eq!(availability(), 1);
    // The other project's cycle reuses the answer it has not seen yet.
    assert_eq!(research.poll_once().await.unwrap().requests, 6);
    assert_eq!(availability(), 1);
    let h100 = h.instance_type("h100-80gb.sxm.8x").await;
    assert!(research.auction("us-central1-a", &h100).is_some());
    // Next round: one read again between the two.
    demo.poll_once().await.unwrap();
    research.poll_once().await.unwrap();
    assert_eq!(availability(), 2);
}

#[tokio::test]
async fn the_registry_stream_merges_every_observer() {
    let h = harness_with(two_projects(), KEY).await;
    let registry = manual_registry(&h);
    let mut changes = registry.subscribe();
    let demo = registry.observer(&key(), &h.project).unwrap();
    let research = registry
        .observer_for_project(&key(), "research")
        .await
        .unwrap();
    demo.poll_once().await.unwrap();
    research.poll_once().await.unwrap();
    assert_eq!(drain(&mut changes), vec![Change::Resync, Change::Resync]);

    let bid = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    demo.poll_once().await.unwrap();
    research.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&bid.fid]));
}

/// A long resync: a background observer's first cycle runs at once, the next not during a test.
fn one_cycle_per_test() -> RegistryConfig {
    RegistryConfig {
        observer: ObserverConfig {
            resync: Duration::from_secs(3600),
            ..ObserverConfig::default()
        },
        ..RegistryConfig::default()
    }
}

#[tokio::test]
async fn background_observers_poll_until_shut_down() {
    let h = harness().await;
    let shutdown = CancellationToken::new();
    let registry = ObserverRegistry::new(
        factory(&h),
        one_cycle_per_test(),
        Polling::Background(shutdown.clone()),
    );
    let mut changes = registry.subscribe();
    let observer = registry.observer(&key(), &h.project).unwrap();
    // Guards against a hang only; the cycle itself is not timed.
    let first = tokio::time::timeout(Duration::from_secs(60), changes.next())
        .await
        .expect("the background cycle runs");
    assert_eq!(first, Some(Change::Resync));
    assert!(observer.is_synced());

    shutdown.cancel();
    assert!(matches!(
        registry.observer(&key(), "proj_other"),
        Err(ObserveError::ShutDown)
    ));
}

/// What a registry told its listener: (project, requests) per cycle, and the projects stopped.
#[derive(Default)]
struct Heard {
    cycles: std::sync::Mutex<Vec<(String, u32)>>,
    stopped: std::sync::Mutex<Vec<String>>,
}

impl CycleListener for Heard {
    fn cycle_completed(
        &self,
        key: &ApiKey,
        project: &str,
        report: &PollReport,
        _at: jiff::Timestamp,
    ) {
        assert_eq!(*key, self::key());
        self.cycles
            .lock()
            .unwrap()
            .push((project.to_owned(), report.requests));
    }

    fn observer_stopped(&self, key: &ApiKey, project: &str) {
        assert_eq!(*key, self::key());
        self.stopped.lock().unwrap().push(project.to_owned());
    }
}

#[tokio::test]
async fn background_cycles_and_stops_are_told_to_the_listener() {
    let h = harness().await;
    let shutdown = CancellationToken::new();
    let heard = Arc::new(Heard::default());
    let registry = ObserverRegistry::with_listener(
        factory(&h),
        one_cycle_per_test(),
        Polling::Background(shutdown.clone()),
        Some(heard.clone()),
    );
    registry.observer(&key(), &h.project).unwrap();
    // Guards against a hang only; the cycle itself is not timed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while heard.cycles.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no cycle reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cycles = heard.cycles.lock().unwrap().clone();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].0, h.project);
    assert!(cycles[0].1 > 0, "a cycle reads Mithril");
    assert!(heard.stopped.lock().unwrap().is_empty());

    assert!(registry.stop_observer(&key(), &h.project));
    assert_eq!(
        *heard.stopped.lock().unwrap(),
        std::slice::from_ref(&h.project)
    );
    registry.observer(&key(), "proj_other").unwrap();
    assert!(registry.forget_key(&key()));
    assert_eq!(
        *heard.stopped.lock().unwrap(),
        [h.project.clone(), "proj_other".to_owned()],
        "forgetting a key stops each of its observers"
    );
    shutdown.cancel();
}
