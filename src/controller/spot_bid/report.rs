//! The SpotBid status: what the operator observed of the bid and whether Mithril matches the spec.
//!
//! Pure: the reconcile passes the previous status, what it observed (after any write it made) and
//! how syncing went; [`status`] returns the status to store. It is built from the previous one so
//! that unchanged conditions keep their transition times and an unchanged status compares equal
//! (the reconcile writes only when something changed).

use super::plan::{Blocker, MarketDecision, Plan};
use crate::crd::spot_bid::PricingStatus;
use crate::crd::spot_bid::{BidTransition, Spend};
use crate::crd::{
    Condition, ConditionStatus, READY, Reason, SYNCED, SpotBidInstance, SpotBidPhase, SpotBidSpec,
    SpotBidStatus, Time, set_condition,
};
use mithril_api::{Bid, BidHistoryEvent, BidStatus, Instance, InstanceStatus, Price};

/// What the reconcile observed on Mithril for one SpotBid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation<'a> {
    /// The bid this resource manages, if Mithril shows one.
    pub bid: Option<&'a Bid>,
    /// The bid's instances, in any order.
    pub instances: &'a [Instance],
    /// The auction's current clearing price: what an allocated bid pays per instance-hour.
    pub clearing_price: Option<Price>,
    /// The planner's region and price decisions, when it made them and they were carried out;
    /// `None` keeps what the previous status remembers.
    pub market: Option<&'a MarketDecision>,
    /// Preemptions of `bid` as its Mithril history counts them, when it was read.
    pub history_preemptions: Option<i64>,
    /// What `bid` has paid so far, once its pricing history has been read.
    pub cost_so_far: Option<Price>,
    /// `bid`'s latest Mithril events, oldest first (none read yet: the status keeps its own).
    pub events: &'a [BidHistoryEvent],
}

/// How syncing the spec to Mithril went; becomes the `Synced` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub synced: bool,
    /// The condition reason, e.g. [`Reason::InvalidApiKey`].
    pub reason: Reason,
    pub message: String,
    /// Nothing will change until the spec or its Secret does (no bid: phase `Failed`).
    pub terminal: bool,
}

impl SyncOutcome {
    /// Mithril matches the spec.
    pub fn in_sync() -> Self {
        Self {
            synced: true,
            reason: Reason::Synced,
            message: "Mithril matches the spec".into(),
            terminal: false,
        }
    }

    /// Syncing failed; `terminal` when retrying cannot help before the spec or Secret changes.
    pub fn failed(reason: Reason, message: impl Into<String>, terminal: bool) -> Self {
        Self {
            synced: false,
            reason,
            message: message.into(),
            terminal,
        }
    }

    /// What a plan that could not be fully carried out says: drift or a blocker. In sync otherwise.
    pub fn from_plan(plan: &Plan) -> Self {
        if let Some(blocker) = &plan.blocker {
            return match blocker {
                Blocker::AdoptedBidNotFound { fid } => Self::failed(
                    Reason::AdoptedBidNotFound,
                    format!("spec.bidFid {fid} is not a bid this API key can see"),
                    true,
                ),
                Blocker::AdoptedBidTerminated { fid } => Self::failed(
                    Reason::AdoptedBidTerminated,
                    format!(
                        "the adopted bid {fid} has ended; remove spec.bidFid from a new SpotBid to place a fresh bid"
                    ),
                    true,
                ),
                Blocker::MarketNotObserved => Self::failed(
                    Reason::WaitingForMarketData,
                    "the bid's price or region follows the market, which has not been read yet",
                    false,
                ),
                Blocker::NoAuction { region } => Self::failed(
                    Reason::NoAuction,
                    format!(
                        "Mithril shows no auction for the instance type in {region}: the pricing strategy has no price to follow"
                    ),
                    false,
                ),
            };
        }
        if !plan.drift.is_empty() {
            let fields: Vec<String> = plan
                .drift
                .iter()
                .map(|d| {
                    format!(
                        "{} is {:?} but the bid has {:?}",
                        d.field, d.wanted, d.actual
                    )
                })
                .collect();
            return Self::failed(
                Reason::ImmutableFieldChanged,
                format!(
                    "Mithril cannot change these on a live bid: {}; create a new SpotBid instead",
                    fields.join("; ")
                ),
                false,
            );
        }
        Self::in_sync()
    }
}

/// What a SpotBid's status is made from: the resource's previous status, spec and generation,
/// the bid's name, what was observed on Mithril and the outcome of this reconcile's sync.
pub struct StatusInputs<'a> {
    pub previous: Option<&'a SpotBidStatus>,
    pub spec: &'a SpotBidSpec,
    pub generation: Option<i64>,
    pub bid_name: Option<&'a str>,
    pub observed: Observation<'a>,
    pub sync: &'a SyncOutcome,
    pub now: Time,
}

/// The status to store for `spec` at `generation`, given the previous status and observations.
pub fn status(inputs: StatusInputs<'_>) -> SpotBidStatus {
    let StatusInputs {
        previous,
        spec,
        generation,
        bid_name,
        observed,
        sync,
        now,
    } = inputs;
    let mut status = previous.cloned().unwrap_or_default();
    let relocating = observed
        .market
        .is_some_and(|market| market.region.moving_from().is_some());
    let phase = if relocating {
        SpotBidPhase::Relocating
    } else {
        phase(observed.bid, sync)
    };

    let preemptions = preemption_count(previous, observed.bid, observed.history_preemptions);
    if preemptions.total > status.preemption_count {
        status.last_preemption_time = Some(now);
    }
    status.preemption_count = preemptions.total;
    status.bid_preemptions = preemptions.of_bid;
    match observed.market {
        Some(market) => record_market(&mut status, market),
        None => {
            if let Some(region) = observed.bid.and_then(|bid| bid.region.clone()) {
                status.region = Some(region);
            }
        }
    }

    let wanted = spec.instance_quantity;
    let ready = observed
        .instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running)
        .count();
    let ready = i32::try_from(ready).unwrap_or(i32::MAX);
    let mut instances: Vec<SpotBidInstance> =
        observed.instances.iter().map(instance_status).collect();
    instances.sort_by(|a, b| a.fid.cmp(&b.fid));

    let same_bid = observed
        .bid
        .is_some_and(|bid| status.bid_fid.as_deref() == Some(bid.fid.as_str()));
    status.phase = Some(phase);
    status.bid_name = bid_name.map(str::to_owned).or(status.bid_name);
    // A bid the resource owns is never forgotten: when none is observed (Mithril unreachable,
    // the project or key unusable), the last one known stays, so it is found again.
    status.bid_fid = observed.bid.map(|bid| bid.fid.clone()).or(status.bid_fid);
    status.limit_price = observed.bid.map(|bid| bid.limit_price.to_string());
    status.current_price = match phase {
        SpotBidPhase::Allocated | SpotBidPhase::Preempting => {
            observed.clearing_price.map(|p| p.to_string())
        }
        _ => None,
    };
    status.spend = spend(
        status.spend.take().filter(|_| same_bid),
        observed.cost_so_far,
        observed
            .clearing_price
            .filter(|_| status.current_price.is_some()),
        ready,
    );
    if !observed.events.is_empty() {
        status.history = observed.events.iter().map(transition).collect();
    } else if !same_bid {
        status.history.clear();
    }
    status.instances = instances;
    status.ready_instances = ready;
    status.wanted_instances = wanted;
    status.ready = Some(SpotBidStatus::ready_text(ready, wanted));
    status.observed_generation = generation;

    let (ready_status, reason, message) = readiness(phase, observed.bid, ready, wanted, sync);
    set_condition(
        &mut status.conditions,
        Condition::new(READY, ready_status, reason, message, generation, now),
    );
    let synced = if sync.synced {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    set_condition(
        &mut status.conditions,
        Condition::new(
            SYNCED,
            synced,
            sync.reason,
            sync.message.clone(),
            generation,
            now,
        ),
    );
    status
}

/// The bid's spend: `cost_so_far` read now or kept from `previous` (of the same bid), and the
/// hourly cost of `running` instances at `paying` each. `None` until the cost has been read.
fn spend(
    previous: Option<Spend>,
    cost_so_far: Option<Price>,
    paying: Option<Price>,
    running: i32,
) -> Option<Spend> {
    let cost_so_far = cost_so_far
        .map(|cost| cost.to_string())
        .or(previous.map(|spend| spend.cost_so_far))?;
    let running = u64::try_from(running).unwrap_or(0);
    let hourly = paying
        .and_then(|price| price.checked_mul(running))
        .unwrap_or(Price::ZERO);
    Some(Spend {
        cost_so_far,
        hourly_cost: hourly.to_string(),
    })
}

/// What `new` adds to the spend counted when `previous` was stored: the growth of the same
/// bid's cost, or the whole cost of a bid the previous status did not show.
pub fn spend_increase(previous: Option<&SpotBidStatus>, new: &SpotBidStatus) -> Price {
    let cost = |status: &SpotBidStatus| {
        status
            .spend
            .as_ref()
            .and_then(|spend| spend.cost_so_far.parse::<Price>().ok())
    };
    let Some(now) = cost(new) else {
        return Price::ZERO;
    };
    let counted = previous
        .filter(|p| p.bid_fid.is_some() && p.bid_fid == new.bid_fid)
        .and_then(cost)
        .unwrap_or(Price::ZERO);
    now.checked_sub(counted).unwrap_or(Price::ZERO)
}

/// A Mithril event of the bid as the status shows it.
fn transition(event: &BidHistoryEvent) -> BidTransition {
    BidTransition {
        time: Time::new(event.timestamp),
        event: event.event_type.to_string(),
        limit_price: event.limit_price.map(|price| price.to_string()),
    }
}

/// Preemptions counted for a resource: over all its bids, and of the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preemptions {
    pub total: i64,
    pub of_bid: i64,
}

/// The preemptions once `bid` is taken into account. The bid's history (`history`, its
/// `Preempted` events) is the count when it was read; otherwise a preemption seen starting now
/// (preempting, and the previous status did not say so) adds one. Counts never go down.
pub fn preemption_count(
    previous: Option<&SpotBidStatus>,
    bid: Option<&Bid>,
    history: Option<i64>,
) -> Preemptions {
    let total = previous.map_or(0, |s| s.preemption_count);
    let Some(bid) = bid else {
        return Preemptions {
            total,
            of_bid: previous.map_or(0, |s| s.bid_preemptions),
        };
    };
    let same_bid = previous.is_some_and(|s| s.bid_fid.as_deref() == Some(bid.fid.as_str()));
    let counted = if same_bid {
        previous.map_or(0, |s| s.bid_preemptions)
    } else {
        0
    };
    let was_preempting =
        same_bid && previous.and_then(|s| s.phase) == Some(SpotBidPhase::Preempting);
    let sampled = counted + i64::from(bid.status == BidStatus::Preempting && !was_preempting);
    let of_bid = history.map_or(sampled, |history| history.max(counted));
    Preemptions {
        total: total.saturating_add(of_bid - counted),
        of_bid,
    }
}

/// Whether the bid may have been preempted since the previous status without it being seen
/// preempting (a preemption shorter than the poll interval): it was allocated and is open again,
/// or holds other instances than before. Then its history is read to count.
pub fn preemption_suspected(previous: Option<&SpotBidStatus>, bid: &Bid) -> bool {
    let Some(previous) = previous.filter(|s| s.bid_fid.as_deref() == Some(bid.fid.as_str())) else {
        return false;
    };
    let held = matches!(
        previous.phase,
        Some(SpotBidPhase::Allocated | SpotBidPhase::Preempting)
    );
    let instances_replaced = !previous.instances.is_empty()
        && bid.status == BidStatus::Allocated
        && previous
            .instances
            .iter()
            .any(|instance| !bid.instances.contains(&instance.fid));
    held && (bid.status == BidStatus::Open || instances_replaced)
}

fn record_market(status: &mut SpotBidStatus, market: &MarketDecision) {
    let price = &market.price;
    let raise = price.memory.total;
    status.pricing = Some(Box::new(PricingStatus {
        basis: price.basis.clone(),
        market_price: price.market_price.map(|p| p.to_string()),
        target_price: Some(price.target.to_string()),
        preemption_raise: (raise > Price::ZERO).then(|| raise.to_string()),
        raised_preemptions: price.memory.raised_preemptions,
        raised_on: Some(price.raised_on.clone()),
        reason: price.reason.to_string(),
        message: price.message(),
    }));
    status.region = Some(market.region.region.clone());
    status.region_reason = Some(market.region.message());
    status.region_candidate = market.region.candidate.clone();
}

fn phase(bid: Option<&Bid>, sync: &SyncOutcome) -> SpotBidPhase {
    match bid.map(|bid| &bid.status) {
        None if sync.terminal => SpotBidPhase::Failed,
        None => SpotBidPhase::Pending,
        Some(BidStatus::Open) => SpotBidPhase::Open,
        Some(BidStatus::Allocated) => SpotBidPhase::Allocated,
        Some(BidStatus::Preempting) => SpotBidPhase::Preempting,
        Some(BidStatus::Paused) => SpotBidPhase::Paused,
        Some(BidStatus::Terminated) => SpotBidPhase::Terminated,
        // A status this operator does not know yet: the bid exists, nothing more is claimed.
        Some(BidStatus::Unknown(_)) => SpotBidPhase::Pending,
    }
}

fn readiness(
    phase: SpotBidPhase,
    bid: Option<&Bid>,
    ready: i32,
    wanted: i32,
    sync: &SyncOutcome,
) -> (ConditionStatus, Reason, String) {
    use ConditionStatus::{False, True};
    match phase {
        SpotBidPhase::Allocated if ready >= wanted => (
            True,
            Reason::Running,
            format!("all {wanted} instances are running"),
        ),
        SpotBidPhase::Allocated => (
            False,
            Reason::InstancesStarting,
            format!("{ready}/{wanted} instances running"),
        ),
        SpotBidPhase::Open => {
            let limit = bid
                .map(|bid| bid.limit_price.to_string())
                .unwrap_or_default();
            (
                False,
                Reason::WaitingForCapacity,
                format!(
                    "the bid is open at a limit of {limit} and waits for the auction to allocate it"
                ),
            )
        }
        SpotBidPhase::Preempting => (
            False,
            Reason::Preempting,
            "the auction price rose above the limit; Mithril is reclaiming the instances".into(),
        ),
        SpotBidPhase::Paused => (
            False,
            Reason::Paused,
            "the bid is paused and holds no instances".into(),
        ),
        SpotBidPhase::Terminated => (
            False,
            Reason::Terminated,
            "the bid has ended on Mithril".into(),
        ),
        SpotBidPhase::Relocating => (
            False,
            Reason::Relocating,
            "Mithril is moving the instances".into(),
        ),
        SpotBidPhase::Pending | SpotBidPhase::Failed if !sync.synced => {
            (False, Reason::BidNotPlaced, sync.message.clone())
        }
        SpotBidPhase::Pending | SpotBidPhase::Failed => (
            False,
            Reason::BidNotPlaced,
            "the bid is being placed".into(),
        ),
    }
}

fn instance_status(instance: &Instance) -> SpotBidInstance {
    SpotBidInstance {
        fid: instance.fid.clone(),
        name: instance.name.clone(),
        status: instance.status.to_string(),
        private_ip: instance.private_ip.clone(),
        ssh_destination: instance.ssh_destination.clone(),
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
