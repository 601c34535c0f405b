//! The SpotBid planner: from what the resource asks and what Mithril shows, the one action to take.
//!
//! Pure: no IO, no clock. The reconcile resolves names to FIDs, finds the bid (by the FID in
//! status, the `bidFid` to adopt, or the deterministic name), calls [`plan`], performs the action,
//! and reports. Every decision about *what* to do to Mithril lives here and is unit-tested: the
//! region (see [`super::regions`]) and the limit price (see [`super::pricing`]) included.

use super::pricing::{
    self, MarketPrices, PriceDecision, PriceReason, PricingInput, PricingPolicy, RaiseMemory,
};
use super::regions::{self, PlacedBid, RegionDecision, RegionInput, RegionMarket, RegionPolicy};
use crate::crd::DeletionPolicy;
use crate::crd::spot_bid::RegionCandidate;
use jiff::Timestamp;
use mithril_api::{Bid, BidStatus, CreateBidRequest, LaunchSpecification, Price, UpdateBidRequest};
use std::collections::BTreeSet;

/// The bid the resource asks for, with names already resolved to Mithril FIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredBid {
    /// The deterministic bid name (see [`super::names::bid_name`]).
    pub name: String,
    pub project_fid: String,
    pub instance_type_fid: String,
    /// The regions the bid may run in and when it moves between them.
    pub regions: RegionPolicy,
    pub instance_quantity: i64,
    /// How the limit price is set.
    pub pricing: PricingPolicy,
    pub paused: bool,
    pub launch_specification: LaunchSpecification,
    /// A bid to adopt instead of creating one.
    pub adopt_fid: Option<String>,
    /// The market as observed and what the status remembers of it.
    pub market: MarketView,
}

/// What the reconcile gathered of the market, and the status's memory of earlier decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketView {
    /// Whether the auctions have been read at all (an observer that has not synced yet knows none).
    pub observed: bool,
    /// The auctions of the bid's instance type in its listed regions that have one.
    pub auctions: Vec<RegionMarket>,
    /// Preemptions of the bid so far, including one that started now.
    pub preemptions: i64,
    pub raises: RaiseMemory,
    /// The price the remembered raises were made for (see [`PricingPolicy::raise_basis`]).
    pub raised_on: Option<String>,
    /// A cheaper region seen before, and since when.
    pub region_candidate: Option<RegionCandidate>,
    pub now: Timestamp,
}

impl MarketView {
    /// Nothing observed and nothing remembered, at `now`.
    pub fn unobserved(now: Timestamp) -> Self {
        Self {
            observed: false,
            auctions: Vec::new(),
            preemptions: 0,
            raises: RaiseMemory::default(),
            raised_on: None,
            region_candidate: None,
            now,
        }
    }

    fn prices_in(&self, region: &str) -> Option<MarketPrices> {
        self.auctions
            .iter()
            .find(|m| m.region == region)
            .map(|m| MarketPrices {
                clearing: m.clearing,
                lowest_allocated: m.lowest_allocated,
            })
    }
}

/// The planner's market decisions: where the bid is and at what limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketDecision {
    pub region: RegionDecision,
    pub price: PriceDecision,
}

/// What the resource wants now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// The bid should exist and match (boxed: far larger than the other variant).
    Present(Box<DesiredBid>),
    /// The resource is being deleted.
    Deleting(DeletionPolicy),
}

/// One write to Mithril.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Place the bid (POST). The reconcile must have looked the name up first.
    Create(CreateBidRequest),
    /// Change only the fields that differ (PATCH).
    Update {
        fid: String,
        request: UpdateBidRequest,
    },
    /// Cancel the bid (DELETE).
    Cancel { fid: String },
    /// Cancel the bid to place it in another region (the next reconcile places it there).
    Relocate {
        fid: String,
        from: String,
        to: String,
    },
}

/// A field Mithril cannot change on a live bid, which differs between spec and bid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableDrift {
    /// The spec field, as a user writes it (e.g. `spec.region`).
    pub field: &'static str,
    pub wanted: String,
    pub actual: String,
}

/// Why the planner will not act toward the spec, and waits for the spec (or Mithril) to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// `spec.bidFid` names a bid Mithril does not show this key.
    AdoptedBidNotFound { fid: String },
    /// The adopted bid has ended; a new one is not placed in its stead (the spec names that bid).
    AdoptedBidTerminated { fid: String },
    /// The bid's price or region depends on the market, which has not been read yet.
    MarketNotObserved,
    /// The pricing strategy needs the auction of `region`, and Mithril shows none for the type.
    NoAuction { region: String },
}

impl Blocker {
    /// Whether only a change of the spec can lift it (otherwise the market may).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Blocker::AdoptedBidNotFound { .. } | Blocker::AdoptedBidTerminated { .. }
        )
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// At most one write per reconcile: the next reconcile sees its effect and plans again.
    pub action: Option<Action>,
    /// Immutable fields that differ: reported, never "fixed" by replacing a live bid.
    pub drift: Vec<ImmutableDrift>,
    pub blocker: Option<Blocker>,
    /// Where the bid is and at what limit, and why (absent when blocked before deciding).
    pub market: Option<MarketDecision>,
}

impl Plan {
    fn act(action: Action) -> Self {
        Self {
            action: Some(action),
            ..Self::default()
        }
    }

    fn blocked(blocker: Blocker) -> Self {
        Self {
            blocker: Some(blocker),
            ..Self::default()
        }
    }

    /// Nothing to write and nothing wrong: Mithril matches the spec.
    pub fn is_in_sync(&self) -> bool {
        self.action.is_none() && self.drift.is_empty() && self.blocker.is_none()
    }
}

/// Plans the next write. `observed` is the bid this resource manages, if Mithril shows one.
pub fn plan(intent: &Intent, observed: Option<&Bid>) -> Plan {
    match intent {
        Intent::Deleting(policy) => plan_deletion(*policy, observed),
        Intent::Present(desired) => plan_presence(desired, observed),
    }
}

fn plan_deletion(policy: DeletionPolicy, observed: Option<&Bid>) -> Plan {
    match (policy, observed) {
        (DeletionPolicy::Delete, Some(bid)) if bid.status != BidStatus::Terminated => {
            Plan::act(Action::Cancel {
                fid: bid.fid.clone(),
            })
        }
        // Orphan leaves the bid; a bid already gone or ended counts as cancelled.
        _ => Plan::default(),
    }
}

fn plan_presence(desired: &DesiredBid, observed: Option<&Bid>) -> Plan {
    let adopted = desired.adopt_fid.as_ref();
    let live = observed.filter(|bid| bid.status != BidStatus::Terminated);
    match (observed, adopted) {
        (None, Some(fid)) => {
            return Plan::blocked(Blocker::AdoptedBidNotFound { fid: fid.clone() });
        }
        (Some(_), Some(fid)) if live.is_none() => {
            return Plan::blocked(Blocker::AdoptedBidTerminated { fid: fid.clone() });
        }
        _ => {}
    }
    let depends_on_market = desired.pricing.follows_market() || desired.regions.has_choice();
    if live.is_none() && depends_on_market && !desired.market.observed {
        return Plan::blocked(Blocker::MarketNotObserved);
    }
    let decision = decide_market(desired, live);
    let Some(bid) = live else {
        // None yet, or our own bid ended (cancelled outside the operator, or moved): place one.
        if desired.pricing.follows_market() && decision.price.reason == PriceReason::NoMarketData {
            return Plan::blocked(Blocker::NoAuction {
                region: decision.region.region.clone(),
            });
        }
        let request = create_request(desired, &decision);
        return Plan {
            market: Some(decision),
            ..Plan::act(Action::Create(request))
        };
    };
    if let Some(from) = decision.region.moving_from() {
        return Plan {
            action: Some(Action::Relocate {
                fid: bid.fid.clone(),
                from: from.to_owned(),
                to: decision.region.region.clone(),
            }),
            market: Some(decision),
            ..Plan::default()
        };
    }
    let update = update_request(desired, decision.price.limit, bid);
    Plan {
        action: (update != UpdateBidRequest::default()).then(|| Action::Update {
            fid: bid.fid.clone(),
            request: update,
        }),
        drift: immutable_drift(desired, bid),
        blocker: None,
        market: Some(decision),
    }
}

/// The region and limit for the bid: `live` is the bid on Mithril, if any.
fn decide_market(desired: &DesiredBid, live: Option<&Bid>) -> MarketDecision {
    let market = &desired.market;
    let placed = live.map(|bid| PlacedBid {
        region: bid.region.as_deref().unwrap_or_default(),
        holds_instances: bid.status != BidStatus::Open,
        movable: desired.adopt_fid.is_none() && !desired.paused,
    });
    let region = regions::choose(RegionInput {
        policy: &desired.regions,
        observed: market.observed,
        markets: &market.auctions,
        quantity: desired.instance_quantity,
        placed,
        candidate: market.region_candidate.as_ref(),
        now: market.now,
    });
    // A bid about to move is priced for where it goes.
    let in_force = live
        .filter(|_| region.moving_from().is_none())
        .map(|bid| bid.limit_price);
    let price = pricing::decide(PricingInput {
        policy: desired.pricing,
        market: market.prices_in(&region.region),
        in_force,
        preemptions: market.preemptions,
        memory: market.raises,
        raised_on: market.raised_on.as_deref(),
    });
    MarketDecision { region, price }
}

/// The POST body for the desired bid, in the region and at the limit decided.
pub fn create_request(desired: &DesiredBid, decision: &MarketDecision) -> CreateBidRequest {
    CreateBidRequest {
        project: desired.project_fid.clone(),
        region: decision.region.region.clone(),
        instance_type: desired.instance_type_fid.clone(),
        limit_price: decision.price.limit,
        instance_quantity: desired.instance_quantity,
        name: desired.name.clone(),
        launch_specification: desired.launch_specification.clone(),
        notification_email: None,
    }
}

/// Only the mutable fields that differ; all `None` when the bid matches.
fn update_request(desired: &DesiredBid, limit_price: Price, bid: &Bid) -> UpdateBidRequest {
    let wanted = &desired.launch_specification;
    let actual = &bid.launch_specification;
    let is_paused = bid.status == BidStatus::Paused;
    UpdateBidRequest {
        limit_price: (limit_price != bid.limit_price).then_some(limit_price),
        paused: (desired.paused != is_paused).then_some(desired.paused),
        // Volumes are a set: Mithril may list them in another order, which is not a change.
        volumes: (as_set(&wanted.volumes) != as_set(&actual.volumes))
            .then(|| wanted.volumes.clone()),
        // No memory in the spec means Mithril's default: nothing to enforce.
        memory_gb: wanted
            .memory_gb
            .filter(|memory| Some(*memory) != actual.memory_gb),
    }
}

fn immutable_drift(desired: &DesiredBid, bid: &Bid) -> Vec<ImmutableDrift> {
    let wanted = &desired.launch_specification;
    let actual = &bid.launch_specification;
    let mut drift = Vec::new();
    let mut check = |field: &'static str, wanted: String, actual: String| {
        if wanted != actual {
            drift.push(ImmutableDrift {
                field,
                wanted,
                actual,
            });
        }
    };
    check(
        "spec.project",
        desired.project_fid.clone(),
        bid.project.clone(),
    );
    // The bid may be in any listed region; only an unlisted one is drift.
    let region = bid.region.clone().unwrap_or_default();
    if !desired.regions.regions.contains(&region) {
        let field = if desired.regions.has_choice() {
            "spec.regions"
        } else {
            "spec.region"
        };
        check(field, desired.regions.regions.join(","), region);
    }
    check(
        "spec.instanceType",
        desired.instance_type_fid.clone(),
        bid.instance_type.clone(),
    );
    check(
        "spec.instanceQuantity",
        desired.instance_quantity.to_string(),
        bid.instance_quantity.to_string(),
    );
    check(
        "spec.launchSpecification.sshKeys",
        join(&as_set(&wanted.ssh_keys)),
        join(&as_set(&actual.ssh_keys)),
    );
    check(
        "spec.launchSpecification.startupScript",
        wanted.startup_script.clone().unwrap_or_default(),
        actual.startup_script.clone().unwrap_or_default(),
    );
    check(
        "spec.launchSpecification.kubernetesCluster",
        wanted.kubernetes_cluster.clone().unwrap_or_default(),
        actual.kubernetes_cluster.clone().unwrap_or_default(),
    );
    // Unset means "Mithril's default", which the bid then reports: only an explicit value can drift.
    if let Some(image) = &wanted.image_version {
        check(
            "spec.launchSpecification.imageVersion",
            image.clone(),
            actual.image_version.clone().unwrap_or_default(),
        );
    }
    drift
}

fn as_set(items: &[String]) -> BTreeSet<&str> {
    items.iter().map(String::as_str).collect()
}

fn join(items: &BTreeSet<&str>) -> String {
    items.iter().copied().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
