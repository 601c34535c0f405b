//! Building a world from its specification.

use jiff::{SignedDuration, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    Auction, BidUpdate, CreateBid, InstanceType, KeyAccess, Owner, Project, Reservation, World,
};
use crate::error::SimError;
use crate::fid::{FidKind, named_fid};
use crate::money::{parse_price, read_price_leniently};
use crate::wire::InstanceStatus;
use crate::world_spec::{BidSpec, WorldSpec};

/// Start of simulated time with a manual clock, unless the world says otherwise.
pub const DEFAULT_START: Timestamp = Timestamp::constant(1_735_689_600, 0); // 2025-01-01T00:00:00Z

const MARKET_PROJECT: &str = "__market";
const DEFAULT_RESERVATION_DAYS: i64 = 30;
/// `created_by` of world-file bids that do not say.
const OTHER_PARTY: &str = "user_otherparty";

impl World {
    /// Builds the world a specification describes, at `start` unless the specification fixes it.
    pub fn new(spec: &WorldSpec, seed: u64, start: Timestamp) -> Result<World, SimError> {
        let now = spec.start_time.unwrap_or(start);
        let timings = spec.timings.clone();
        if timings.tick_seconds == 0 {
            return Err(SimError::InvalidWorld(
                "timings.tick_seconds must be positive".into(),
            ));
        }
        let mut projects = Vec::new();
        for project in &spec.projects {
            if project.name == MARKET_PROJECT {
                return Err(SimError::InvalidWorld(format!(
                    "project name {MARKET_PROJECT:?} is reserved"
                )));
            }
            projects.push(Project {
                fid: project
                    .fid
                    .clone()
                    .unwrap_or_else(|| named_fid(FidKind::Project, &project.name)),
                name: project.name.clone(),
                created_at: now,
            });
        }
        let market_project = named_fid(FidKind::Project, MARKET_PROJECT);
        let project_fid = |name: &str| -> Result<String, SimError> {
            projects
                .iter()
                .find(|project| project.name == name)
                .map(|project| project.fid.clone())
                .ok_or_else(|| SimError::InvalidWorld(format!("unknown project {name:?}")))
        };
        let any_key_projects = spec
            .any_key_projects
            .iter()
            .map(|name| project_fid(name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = HashMap::new();
        for key in &spec.api_keys {
            let projects = key
                .projects
                .iter()
                .map(|name| project_fid(name))
                .collect::<Result<Vec<_>, _>>()?;
            keys.insert(
                key.key.clone(),
                KeyAccess {
                    user: key.user.clone(),
                    projects,
                },
            );
        }
        let instance_types: Vec<InstanceType> = spec
            .instance_types
            .iter()
            .map(|it| InstanceType {
                fid: it
                    .fid
                    .clone()
                    .unwrap_or_else(|| named_fid(FidKind::InstanceType, &it.name)),
                spec: it.clone(),
            })
            .collect();
        let type_fid = |name: &str| -> Result<String, SimError> {
            instance_types
                .iter()
                .find(|it| it.spec.name == name || it.fid == name)
                .map(|it| it.fid.clone())
                .ok_or_else(|| SimError::UnknownInstanceType(name.to_owned()))
        };
        let mut auctions = Vec::new();
        let mut auction_index = HashMap::new();
        for auction in &spec.auctions {
            if !spec.regions.contains(&auction.region) {
                return Err(SimError::UnknownRegion(auction.region.clone()));
            }
            let instance_type = type_fid(&auction.instance_type)?;
            let floor_cents = parse_price(&auction.floor_price).ok_or_else(|| {
                SimError::InvalidWorld(format!(
                    "floor_price {:?} is not \"$D.CC\"",
                    auction.floor_price
                ))
            })?;
            let key = (auction.region.clone(), instance_type.clone());
            if auction_index.insert(key, auctions.len()).is_some() {
                return Err(SimError::InvalidWorld(format!(
                    "two auctions for {} in {}",
                    auction.instance_type, auction.region
                )));
            }
            auctions.push(Auction {
                fid: auction.fid.clone().unwrap_or_else(|| {
                    named_fid(
                        FidKind::Auction,
                        &format!("{}/{}", auction.region, instance_type),
                    )
                }),
                region: auction.region.clone(),
                instance_type,
                capacity: auction.capacity,
                floor_cents,
                last_price_cents: floor_cents,
                lowest_allocated_cents: None,
                contenders: BTreeSet::new(),
                preempting: BTreeSet::new(),
            });
        }
        let mut world = World {
            now,
            rng: StdRng::seed_from_u64(seed),
            next_seq: 0,
            next_tick: now + SignedDuration::from_secs(timings.tick_seconds as i64),
            timings,
            projects,
            any_key_projects,
            keys,
            regions: spec.regions.clone(),
            instance_types,
            auctions,
            auction_index,
            bids: BTreeMap::new(),
            bid_index: HashMap::new(),
            active_names: HashMap::new(),
            unique_bid_names: spec.conveniences.unique_bid_names,
            order_seed: seed,
            bid_changes: super::lag::ChangeLog::new(),
            instance_changes: super::lag::ChangeLog::new(),
            instances: BTreeMap::new(),
            instance_index: HashMap::new(),
            reservations: Vec::new(),
            unstoppable: BTreeSet::new(),
            timers: BTreeMap::new(),
            market_project,
        };
        for reservation in &spec.reservations {
            if !world.has_region(&reservation.region) {
                return Err(SimError::UnknownRegion(reservation.region.clone()));
            }
            let project = project_fid_in(&world, &reservation.project)?;
            let instance_type = type_fid_in(&world, &reservation.instance_type)?;
            let price_cents = parse_price(&reservation.price).ok_or_else(|| {
                SimError::InvalidWorld(format!("price {:?} is not \"$D.CC\"", reservation.price))
            })?;
            if reservation.paused > reservation.quantity {
                return Err(SimError::InvalidWorld(format!(
                    "reservation {:?}: paused ({}) exceeds quantity ({})",
                    reservation.name, reservation.paused, reservation.quantity
                )));
            }
            let start_time = reservation.start_time.unwrap_or(now);
            let end_time = reservation
                .end_time
                .unwrap_or(start_time + SignedDuration::from_hours(24 * DEFAULT_RESERVATION_DAYS));
            let index = world.reservations.len();
            world.reservations.push(Reservation {
                fid: reservation
                    .fid
                    .clone()
                    .unwrap_or_else(|| named_fid(FidKind::Reservation, &reservation.name)),
                price_cents,
                end_time,
            });
            let first_paused = reservation.quantity - reservation.paused;
            for position in 0..reservation.quantity {
                let paused = position >= first_paused;
                let status = if paused {
                    InstanceStatus::Paused
                } else {
                    InstanceStatus::Running
                };
                let seq = world.create_instance(
                    format!("{}-{position}", reservation.name),
                    &project,
                    "reservation",
                    &instance_type,
                    &reservation.region,
                    Owner::Reservation(index),
                    start_time,
                    status,
                );
                // Paused time is not charged: a paused instance opens its period on resume.
                if !paused {
                    world.open_price_period(seq, price_cents, start_time);
                }
                if !reservation.stoppable {
                    world.unstoppable.insert(seq);
                }
            }
        }
        for bid in &spec.bids {
            world.place_listed_bid(bid)?;
        }
        Ok(world)
    }

    /// Places a world file's bid: its price string kept verbatim, read leniently for the market.
    fn place_listed_bid(&mut self, spec: &BidSpec) -> Result<(), SimError> {
        if !self.has_region(&spec.region) {
            return Err(SimError::UnknownRegion(spec.region.clone()));
        }
        let project = project_fid_in(self, &spec.project)?;
        let instance_type = type_fid_in(self, &spec.instance_type)?;
        if spec.quantity == 0 {
            return Err(SimError::InvalidWorld(format!(
                "bid {:?}: quantity must be positive",
                spec.name
            )));
        }
        let request = CreateBid {
            project,
            region: spec.region.clone(),
            instance_type,
            // A price the market cannot read is kept at zero: below every floor, it never wins.
            limit_cents: read_price_leniently(&spec.limit_price).unwrap_or(0),
            quantity: spec.quantity,
            name: spec.name.clone(),
            launch_specification: Default::default(),
        };
        let fid = spec
            .fid
            .clone()
            .unwrap_or_else(|| named_fid(FidKind::Bid, &spec.name));
        let user = spec.created_by.as_deref().unwrap_or(OTHER_PARTY);
        let seq = self
            .place_bid(request, user, Some(fid))
            .map_err(|error| SimError::InvalidWorld(format!("bid {:?}: {error}", spec.name)))?;
        self.set_limit_text(seq, &spec.limit_price);
        if spec.paused {
            self.update_bid(
                seq,
                BidUpdate {
                    paused: Some(true),
                    ..BidUpdate::default()
                },
                user,
            )
            .map_err(|error| SimError::InvalidWorld(error.to_string()))?;
        }
        Ok(())
    }
}

fn project_fid_in(world: &World, name: &str) -> Result<String, SimError> {
    world
        .projects
        .iter()
        .find(|project| project.name == name)
        .map(|project| project.fid.clone())
        .ok_or_else(|| SimError::InvalidWorld(format!("unknown project {name:?}")))
}

fn type_fid_in(world: &World, name: &str) -> Result<String, SimError> {
    world
        .instance_type_fid(name)
        .map(str::to_owned)
        .ok_or_else(|| SimError::UnknownInstanceType(name.to_owned()))
}
