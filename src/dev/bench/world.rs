//! The benchmark's Mithril world: one project and one auction big enough for every bid, with a
//! market that clears often and instances that boot quickly, so convergence measures the
//! operator rather than the simulated market.

use mithril_sim::WorldSpec;
use mithril_sim::world_spec::{AuctionSpec, Timings};

/// Project every benchmark bid belongs to (the default world's, seen by every key).
pub const PROJECT: &str = "demo";
/// Region of the benchmark auction.
pub const REGION: &str = "us-central1-a";
/// Instance type of the benchmark auction.
pub const INSTANCE_TYPE: &str = "h100-80gb.sxm.8x";
/// Floor of the benchmark auction: every bid's limit is above it, so every bid wins.
pub const FLOOR_PRICE: &str = "$1.00";
/// The limit price benchmark bids are created with.
pub const LIMIT_PRICE: &str = "$2.00";

/// The default world with the benchmark auction holding `capacity` instances and fast timings
/// (simulated seconds): a clearing every 10 s, an instance RUNNING 8 s after its bid wins.
pub fn bench_world(capacity: u32) -> WorldSpec {
    let mut world = WorldSpec {
        timings: Timings {
            tick_seconds: 10,
            new_to_confirmed_seconds: 2,
            confirmed_to_initializing_seconds: 2,
            initializing_to_starting_seconds: 2,
            starting_to_running_seconds: 2,
            ..Timings::default()
        },
        ..WorldSpec::default()
    };
    // The reservations the demo's example schedules select are not part of the benchmark.
    world
        .reservations
        .retain(|reservation| reservation.name == "demo-reserved");
    world
        .auctions
        .retain(|auction| !(auction.region == REGION && auction.instance_type == INSTANCE_TYPE));
    world.auctions.push(AuctionSpec {
        region: REGION.to_owned(),
        instance_type: INSTANCE_TYPE.to_owned(),
        fid: None,
        capacity,
        floor_price: FLOOR_PRICE.to_owned(),
    });
    world
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithril_sim::{Sim, SimConfig};

    #[test]
    fn the_bench_world_is_valid_and_holds_the_capacity() {
        let world = bench_world(10_000);
        let auction = world
            .auctions
            .iter()
            .find(|a| a.region == REGION && a.instance_type == INSTANCE_TYPE)
            .unwrap();
        assert_eq!(auction.capacity, 10_000);
        assert!(
            Sim::try_new(SimConfig {
                world,
                ..SimConfig::default()
            })
            .is_ok()
        );
    }
}
