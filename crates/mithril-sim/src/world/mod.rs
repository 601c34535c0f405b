//! The in-memory world: catalogue, market, bids, instances, reservations, histories and the clock.
//! Everything here is synchronous and deterministic; the HTTP layer locks it for each request.

mod bids;
mod build;
mod lag;
mod lifecycle;
pub mod market;
mod paging;
mod reserved;

pub use bids::{BidUpdate, CreateBid, CreateBidError, UpdateBidError};
pub use build::DEFAULT_START;
pub use lag::as_listed;
pub use paging::{
    Cursor, Page, SEEDED_ORDER, SortOrder, page_by_creation, page_by_key, page_by_rank, seeded_rank,
};
pub use reserved::{ReservedAction, ReservedError};

use jiff::Timestamp;
use rand::rngs::StdRng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::wire::{
    BidHistoryEventModel, BidStatus, InstancePricingEvent, InstanceStatus, InstanceStatusEvent,
    LaunchSpecificationModel,
};
use super::world_spec::{InstanceTypeSpec, Timings};

/// Who is calling, resolved from the API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    /// FIDs of the projects the key sees.
    pub projects: Vec<String>,
}

impl Caller {
    pub fn sees(&self, project_fid: &str) -> bool {
        self.projects.iter().any(|fid| fid == project_fid)
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub fid: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct InstanceType {
    pub fid: String,
    pub spec: InstanceTypeSpec,
}

#[derive(Debug, Clone)]
pub struct Auction {
    pub fid: String,
    pub region: String,
    pub instance_type: String,
    pub capacity: u32,
    pub floor_cents: u64,
    pub last_price_cents: u64,
    pub lowest_allocated_cents: Option<u64>,
    /// Bids taking part in the next clearing (status Open or Allocated), in auction order:
    /// limit descending, then oldest first.
    pub contenders: BTreeSet<(Reverse<u64>, u64)>,
    /// Bids in their preemption notice: their instances still hold capacity.
    pub preempting: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
pub struct Bid {
    pub seq: u64,
    pub fid: String,
    pub name: String,
    pub project: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
    pub limit_cents: u64,
    /// The limit price exactly as another party wrote it (world files), until a `PATCH` sets one.
    pub limit_text: Option<String>,
    pub quantity: u32,
    pub instance_type: String,
    pub region: String,
    pub auction: usize,
    /// Sequence numbers of the instances of the current (or last) allocation.
    pub instances: Vec<u64>,
    pub launch_specification: LaunchSpecificationModel,
    pub status: BidStatus,
    /// Bumped on every status change, so timers set for an earlier state fall idle.
    pub generation: u64,
    pub history: Vec<BidHistoryEventModel>,
}

/// What an instance belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Bid(u64),
    Reservation(usize),
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub seq: u64,
    pub fid: String,
    pub name: String,
    pub project: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub instance_type: String,
    pub region: String,
    pub owner: Owner,
    pub status: InstanceStatus,
    /// Bumped on every status change, so lifecycle timers set for an earlier state fall idle.
    pub generation: u64,
    pub events: Vec<InstanceStatusEvent>,
    pub pricing: Vec<InstancePricingEvent>,
    pub private_ip: String,
}

#[derive(Debug, Clone)]
pub struct Reservation {
    pub fid: String,
    pub price_cents: u64,
    pub end_time: Timestamp,
}

/// Access of one configured key.
#[derive(Debug, Clone)]
struct KeyAccess {
    user: Option<String>,
    projects: Vec<String>,
}

/// The simulated world.
pub struct World {
    now: Timestamp,
    rng: StdRng,
    next_seq: u64,
    timings: Timings,
    projects: Vec<Project>,
    any_key_projects: Vec<String>,
    keys: HashMap<String, KeyAccess>,
    regions: Vec<String>,
    instance_types: Vec<InstanceType>,
    auctions: Vec<Auction>,
    auction_index: HashMap<(String, String), usize>,
    bids: BTreeMap<u64, Bid>,
    bid_index: HashMap<String, u64>,
    /// With `unique_bid_names`: (project FID, name) of every bid not Terminated.
    active_names: HashMap<(String, String), u64>,
    unique_bid_names: bool,
    /// Seeds the order of lists requested without `sort_by`.
    order_seed: u64,
    bid_changes: lag::ChangeLog<Bid>,
    instance_changes: lag::ChangeLog<Instance>,
    instances: BTreeMap<u64, Instance>,
    instance_index: HashMap<String, u64>,
    reservations: Vec<Reservation>,
    /// Reserved instances (by seq) a pause leaves as they are (see [`World::set_stoppable`]).
    unstoppable: BTreeSet<u64>,
    timers: BTreeMap<(Timestamp, u64), lifecycle::Timer>,
    next_tick: Timestamp,
    /// The hidden project that holds competing demand added through the control API.
    market_project: String,
}

impl World {
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Renames a project (as its owner may in Mithril's console; the API has no call for it).
    /// Returns whether a project had that name.
    pub fn rename_project(&mut self, from: &str, to: &str) -> bool {
        match self.projects.iter_mut().find(|p| p.name == from) {
            Some(project) => {
                project.name = to.to_owned();
                true
            }
            None => false,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Resolves an accepted API key to its user and projects.
    pub fn caller(&self, key: &str) -> Caller {
        let configured = self.keys.get(key);
        Caller {
            user: configured
                .and_then(|access| access.user.clone())
                // A stable user id per key, so `created_by` is the same on every run.
                .unwrap_or_else(|| super::fid::named_id("user_", key)),
            projects: configured.map_or_else(
                || self.any_key_projects.clone(),
                |access| access.projects.clone(),
            ),
        }
    }

    pub fn projects_of<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a Project> + 'a {
        self.projects
            .iter()
            .filter(|project| caller.sees(&project.fid))
    }

    pub fn instance_types(&self) -> &[InstanceType] {
        &self.instance_types
    }

    pub fn auctions(&self) -> &[Auction] {
        &self.auctions
    }

    pub fn has_region(&self, region: &str) -> bool {
        self.regions.iter().any(|known| known == region)
    }

    /// Instance type FID from a FID or a name.
    pub fn instance_type_fid(&self, fid_or_name: &str) -> Option<&str> {
        self.instance_types
            .iter()
            .find(|it| it.fid == fid_or_name || it.spec.name == fid_or_name)
            .map(|it| it.fid.as_str())
    }

    pub fn auction_of(&self, region: &str, instance_type_fid: &str) -> Option<usize> {
        self.auction_index
            .get(&(region.to_owned(), instance_type_fid.to_owned()))
            .copied()
    }

    /// Instances held in an auction (by bids Allocated or Preempting): its capacity minus this is free.
    pub fn held_instances(&self, auction: usize) -> u32 {
        let auction = &self.auctions[auction];
        let allocated: u32 = auction
            .contenders
            .iter()
            .filter_map(|(_, seq)| self.bids.get(seq))
            .filter(|bid| bid.status == BidStatus::Allocated)
            .map(|bid| bid.quantity)
            .sum();
        let preempting: u32 = auction
            .preempting
            .iter()
            .filter_map(|seq| self.bids.get(seq))
            .map(|bid| bid.quantity)
            .sum();
        allocated + preempting
    }

    pub fn bid(&self, fid: &str) -> Option<&Bid> {
        self.bid_index.get(fid).and_then(|seq| self.bids.get(seq))
    }

    pub fn bid_by_seq(&self, seq: u64) -> Option<&Bid> {
        self.bids.get(&seq)
    }

    pub fn bids(&self) -> &BTreeMap<u64, Bid> {
        &self.bids
    }

    /// Where an item stands in lists requested without `sort_by`: a seeded shuffle that moves an
    /// item when its status changes.
    pub fn unsorted_rank(&self, seq: u64, status: &str) -> u64 {
        seeded_rank(self.order_seed, seq, status)
    }

    pub fn instance(&self, fid: &str) -> Option<&Instance> {
        self.instance_index
            .get(fid)
            .and_then(|seq| self.instances.get(seq))
    }

    pub fn instance_by_seq(&self, seq: u64) -> Option<&Instance> {
        self.instances.get(&seq)
    }

    pub fn instances(&self) -> &BTreeMap<u64, Instance> {
        &self.instances
    }

    pub fn reservation(&self, index: usize) -> Option<&Reservation> {
        self.reservations.get(index)
    }

    /// FID of what owns an instance: (bid, reservation).
    pub fn owner_fids(&self, instance: &Instance) -> (Option<String>, Option<String>) {
        match instance.owner {
            Owner::Bid(seq) => (self.bids.get(&seq).map(|bid| bid.fid.clone()), None),
            Owner::Reservation(index) => {
                (None, self.reservations.get(index).map(|r| r.fid.clone()))
            }
        }
    }
}
