//! A simulator on loopback, a client with a manual clock, and an observer of the `demo` project,
//! for the `observe_*` tests. Simulated time only moves when a test advances it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use mithril_api::*;
use mithril_operator::observe::{Change, ChangeStream, MithrilObserver, ObserverConfig};
use mithril_sim::{Sim, SimConfig, SimServer, WorldSpec};

pub const KEY: &str = "fkey_observer_tests_0001";

/// Regions and instance types of the default world, in the order bids are spread over them.
pub const REGIONS: [&str; 5] = [
    "us-central1-a",
    "us-central1-b",
    "us-central2-a",
    "us-central5-a",
    "eu-central1-a",
];
pub const TYPES: [&str; 3] = ["h100-80gb.sxm.8x", "a100-80gb.sxm.8x", "a100-40gb.sxm.4x"];

/// Seconds from allocation to RUNNING with the default timings (30 + 30 + 120 + 60).
pub const BOOT_SECONDS: u64 = 240;
/// Seconds between two market clearings.
pub const TICK_SECONDS: u64 = 120;

pub struct Harness {
    pub sim: Sim,
    pub server: SimServer,
    pub client: MithrilClient,
    pub clock: Arc<ManualClock>,
    pub project: String,
}

/// The default world with every market large enough for hundreds of one-instance bids, and
/// only its reservation `demo-reserved` (two RUNNING instances).
pub fn roomy_world() -> WorldSpec {
    let mut world = WorldSpec::default();
    for auction in &mut world.auctions {
        auction.capacity = 64;
    }
    world
        .reservations
        .retain(|reservation| reservation.name == "demo-reserved");
    world
}

pub async fn harness() -> Harness {
    harness_with(roomy_world(), KEY).await
}

pub async fn harness_with(world: WorldSpec, key: &str) -> Harness {
    let sim = Sim::new(SimConfig {
        seed: 7,
        world,
        ..SimConfig::default()
    });
    let server = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the simulator binds a loopback port");
    let clock = Arc::new(ManualClock::new("2025-01-01T00:00:00Z".parse().unwrap()));
    let client = client_for(&server, key, clock.clone());
    let project = client.resolve_project("demo").await.unwrap();
    sim.reset_counters();
    Harness {
        sim,
        server,
        client,
        clock,
        project,
    }
}

pub fn client_for(server: &SimServer, key: &str, clock: Arc<ManualClock>) -> MithrilClient {
    let mut config = ClientConfig::new(server.url().parse().unwrap(), ApiKey::new(key).unwrap());
    config.rate_limit = RateLimit {
        per_second: 100_000.0,
        burst: 100_000,
    };
    MithrilClient::with_options(config, ClientOptions::default().clock(clock)).unwrap()
}

/// Observer settings for tests: the manual clock, no jitter, and no periodic full refresh unless
/// a test asks for one.
pub fn test_config(clock: Arc<ManualClock>) -> ObserverConfig {
    ObserverConfig {
        jitter: 0.0,
        full_instance_refresh_every: 1_000,
        clock,
        ..ObserverConfig::default()
    }
}

impl Harness {
    pub fn observer(&self) -> MithrilObserver {
        MithrilObserver::new(
            self.client.clone(),
            self.project.clone(),
            test_config(self.clock.clone()),
        )
    }

    pub async fn instance_type(&self, name: &str) -> String {
        self.client.resolve_instance_type(name).await.unwrap()
    }

    /// Places a one-instance bid in a market.
    pub async fn place(&self, name: &str, region: &str, instance_type: &str, limit: &str) -> Bid {
        let instance_type = self.instance_type(instance_type).await;
        let request = CreateBidRequest {
            project: self.project.clone(),
            region: region.to_owned(),
            instance_type,
            limit_price: limit.parse().unwrap(),
            instance_quantity: 1,
            name: name.to_owned(),
            launch_specification: LaunchSpecification::default(),
            notification_email: None,
        };
        self.client
            .create_bid(&request, &format!("create-{name}"))
            .await
            .unwrap()
    }

    /// Places `count` one-instance bids at $20.00, spread over every market.
    pub async fn place_many(&self, count: usize) -> Vec<Bid> {
        let mut types = Vec::new();
        for name in TYPES {
            types.push(self.instance_type(name).await);
        }
        let mut bids = Vec::with_capacity(count);
        for index in 0..count {
            let request = CreateBidRequest {
                project: self.project.clone(),
                region: REGIONS[index % REGIONS.len()].to_owned(),
                instance_type: types[index % types.len()].clone(),
                limit_price: Price::from_cents(2000),
                instance_quantity: 1,
                name: format!("bulk-{index:04}"),
                launch_specification: LaunchSpecification::default(),
                notification_email: None,
            };
            bids.push(
                self.client
                    .create_bid(&request, &format!("bulk-{index}"))
                    .await
                    .unwrap(),
            );
        }
        bids
    }

    pub fn advance(&self, seconds: u64) {
        self.sim.advance(Duration::from_secs(seconds));
    }

    /// Requests the simulator counted since the last reset, all routes.
    pub fn requests(&self) -> u64 {
        self.sim.counters().grand_total()
    }

    pub fn gets(&self, route: &str) -> u64 {
        self.sim.counters().total("GET", route)
    }
}

/// The changes already sent to `stream` (changes are sent before `poll_once` returns).
pub fn drain(stream: &mut ChangeStream) -> Vec<Change> {
    let mut changes = Vec::new();
    while let Some(Some(change)) = stream.next().now_or_never() {
        changes.push(change);
    }
    changes
}

/// The FIDs of the bids named in `changes`; panics on any other kind of change.
pub fn changed_bids(changes: &[Change]) -> BTreeSet<String> {
    changes
        .iter()
        .map(|change| match change {
            Change::BidChanged { fid, .. } => fid.clone(),
            other => panic!("expected only bid changes, got {other:?}"),
        })
        .collect()
}

pub fn set(fids: &[&str]) -> BTreeSet<String> {
    fids.iter().map(|fid| (*fid).to_owned()).collect()
}
