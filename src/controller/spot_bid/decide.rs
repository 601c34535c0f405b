//! What a SpotBid reconcile decides around the plan: the bid the spec asks for, when not to
//! place yet, whether a refusal is final, and the events to publish, with their texts.
//!
//! Pure: the reconcile passes what it read and what Mithril answered; these return data (sync
//! outcomes, failures, events) and the reconcile carries them out.

use super::plan::{Action, Blocker, DesiredBid, MarketDecision, MarketView, Plan};
use super::pricing::{PriceReason, PricingError, PricingPolicy, RaiseMemory};
use super::regions::{RegionMarket, RegionPolicy};
use super::report::{SyncOutcome, preemption_count};
use super::tracking::{CREATE_REFUSED, Tracking, replacement_wait};
use crate::controller::Problem;
use crate::crd::{Reason, SYNCED, SpotBidSpec, SpotBidStatus, find_condition};
use jiff::Timestamp;
use kube::runtime::events::{Event, EventType};
use mithril_api::{
    Bid, BidStatus, CreateBidRequest, LaunchSpecification, MithrilError, Price, UpdateBidRequest,
};
use std::time::Duration;

/// The spec's pricing and region rules, parsed once per reconcile.
pub struct Policies {
    pub pricing: PricingPolicy,
    pub regions: RegionPolicy,
}

/// The spec's pricing and region rules, or the user's problem with them.
pub fn policies(spec: &SpotBidSpec) -> Result<Policies, Problem> {
    let pricing = PricingPolicy::from_spec(spec).map_err(|error| {
        let reason = match error {
            // The reason a bad fixed price has always had.
            PricingError::InvalidPrice {
                field: "spec.limitPrice",
                ..
            } => Reason::InvalidLimitPrice,
            _ => Reason::InvalidPricing,
        };
        Problem::new(reason, error.to_string())
    })?;
    let regions = RegionPolicy::from_spec(spec)
        .map_err(|error| Problem::new(Reason::InvalidRegionChange, error.to_string()))?;
    Ok(Policies { pricing, regions })
}

/// What the resource's names resolved to on Mithril.
pub struct BidNames {
    /// The deterministic bid name.
    pub name: String,
    pub project_fid: String,
    pub instance_type_fid: String,
}

/// What the reconcile saw of the market and the bid.
pub struct MarketSeen<'a> {
    /// Whether the observer has read the market yet.
    pub observed: bool,
    /// The auctions of the listed regions.
    pub auctions: Vec<RegionMarket>,
    /// The bid the resource manages.
    pub bid: Option<&'a Bid>,
    /// Preemptions of `bid` as its history counts them, when it was read.
    pub history_preemptions: Option<i64>,
    pub now: Timestamp,
}

/// The market as the planner sees it: the auctions seen, and what the status remembers.
pub fn market_view(previous: Option<&SpotBidStatus>, seen: MarketSeen<'_>) -> MarketView {
    let pricing = previous.and_then(|s| s.pricing.as_ref());
    MarketView {
        observed: seen.observed,
        auctions: seen.auctions,
        preemptions: preemption_count(previous, seen.bid, seen.history_preemptions).total,
        raises: RaiseMemory {
            total: pricing
                .and_then(|p| p.preemption_raise.as_deref())
                .and_then(|raise| raise.parse::<Price>().ok())
                .unwrap_or(Price::ZERO),
            raised_preemptions: pricing.map_or(0, |p| p.raised_preemptions),
        },
        raised_on: pricing.and_then(|p| p.raised_on.clone()),
        region_candidate: previous.and_then(|s| s.region_candidate.clone()),
        now: seen.now,
    }
}

/// The bid the spec asks for, under its resolved names, in the market as seen.
pub fn desired(
    spec: &SpotBidSpec,
    names: BidNames,
    policies: &Policies,
    market: MarketView,
) -> DesiredBid {
    let launch = &spec.launch_specification;
    DesiredBid {
        name: names.name,
        project_fid: names.project_fid,
        instance_type_fid: names.instance_type_fid,
        regions: policies.regions.clone(),
        instance_quantity: i64::from(spec.instance_quantity),
        pricing: policies.pricing,
        paused: spec.paused,
        launch_specification: LaunchSpecification {
            volumes: launch.volumes.clone(),
            ssh_keys: launch.ssh_keys.clone(),
            startup_script: launch.startup_script.clone(),
            kubernetes_cluster: launch.kubernetes_cluster.clone(),
            image_version: launch.image_version.clone(),
            memory_gb: launch.memory_gb,
        },
        adopt_fid: spec.bid_fid.clone(),
        market,
    }
}

/// An event about the resource.
fn event(type_: EventType, reason: Reason, action: &str, note: String) -> Event {
    Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    }
}

fn normal(reason: Reason, action: &str, note: String) -> Event {
    event(EventType::Normal, reason, action, note)
}

fn warning(reason: Reason, action: &str, note: String) -> Event {
    event(EventType::Warning, reason, action, note)
}

/// The reason of the `Synced` condition the resource was last reported with (`None`: none, or
/// not one of ours).
pub fn synced_reason(status: Option<&SpotBidStatus>) -> Option<Reason> {
    status
        .and_then(|s| find_condition(&s.conditions, SYNCED))
        .and_then(|c| Reason::parse(&c.reason))
}

/// What an update changes, in words: `limit price $12.50, paused`.
pub fn describe(request: &UpdateBidRequest) -> String {
    let mut changes = Vec::new();
    if let Some(price) = &request.limit_price {
        changes.push(format!("limit price {price}"));
    }
    if let Some(paused) = request.paused {
        changes.push(if paused {
            "paused".to_owned()
        } else {
            "resumed".to_owned()
        });
    }
    if let Some(volumes) = &request.volumes {
        changes.push(format!("volumes [{}]", volumes.join(", ")));
    }
    if let Some(memory) = request.memory_gb {
        changes.push(format!("memory {memory} GB"));
    }
    changes.join(", ")
}

/// What an action would do, in words (for observe-only).
pub fn summary(action: &Action) -> String {
    match action {
        Action::Create(request) => format!("place bid {:?}", request.name),
        Action::Update { fid, request } => format!("update bid {fid}: {}", describe(request)),
        Action::Cancel { fid } => format!("cancel bid {fid}"),
        Action::Relocate { fid, from, to } => {
            format!("move bid {fid} from {from} to {to}")
        }
    }
}

/// How an action failed.
#[derive(Debug)]
pub enum Failure {
    /// Mithril refused the request as such (422, 400): retrying the same request cannot help.
    Problem(Problem),
    /// Mithril refused it, and it is retried with backoff all the same (a resource must not be
    /// left without the bid it had).
    Retry(Problem),
    /// No answer that settles it: retried with backoff.
    Failed(MithrilError),
}

/// A refusal (400, 422, not a lost answer) is the user's problem under `reason`; anything else a
/// failure to retry.
pub fn refusal_or_failure(error: MithrilError, reason: Reason) -> Failure {
    match error.status() {
        Some(400 | 422) if !error.is_ambiguous_write() => {
            Failure::Problem(Problem::new(reason, error.to_string()))
        }
        _ => Failure::Failed(error),
    }
}

/// A failed create. Refusing a replacement is not final: the resource had a bid, and must not be
/// left without one until its spec changes.
pub fn create_failure(error: MithrilError, replacing: bool) -> Failure {
    match refusal_or_failure(error, CREATE_REFUSED) {
        Failure::Problem(problem) if replacing => Failure::Retry(problem),
        failure => failure,
    }
}

/// A failed update: a refused price and any other refused change have their own reasons.
pub fn update_failure(error: MithrilError, request: &UpdateBidRequest) -> Failure {
    let reason = if request.limit_price.is_some() {
        Reason::PriceRejected
    } else {
        Reason::UpdateRejected
    };
    refusal_or_failure(error, reason)
}

/// What the reconcile remembers of the resource's placements, for [`placement_wait`].
#[derive(Debug, Clone, Default)]
pub struct Placements {
    /// How long a create that may still show up is waited for (`None`: none is in doubt).
    pub uncertain_left: Option<Duration>,
    /// Bids Mithril ended on its own in a row.
    pub endings: u32,
    /// How long ago the last replacement was placed.
    pub since_last_placed: Option<Duration>,
    /// The bid this operator cancelled to move it.
    pub relocated: Option<String>,
    /// The replacement backoff: base and ceiling.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// Why a bid must not be placed now, and when to look again: a create that may still show up,
/// or Mithril ending this resource's bids again and again.
pub fn placement_wait(
    tracking: &Tracking,
    placements: &Placements,
) -> Option<(SyncOutcome, Duration)> {
    if tracking.hold {
        let left = placements.uncertain_left.unwrap_or_default();
        let sync = SyncOutcome::failed(
            Reason::CreateOutcomeUnknown,
            format!(
                "a bid placed for this resource may not show on Mithril yet; placing again only if none shows within {}s",
                left.as_secs().max(1)
            ),
            false,
        );
        return Some((
            sync,
            left.clamp(Duration::from_millis(200), Duration::from_secs(5)),
        ));
    }
    let ended = tracking.bid.as_ref()?;
    if placements.relocated.as_deref() == Some(ended.fid.as_str()) {
        return None;
    }
    let endings = placements.endings;
    let wait = replacement_wait(endings + 1, placements.backoff_base, placements.backoff_max);
    let left = wait.checked_sub(placements.since_last_placed?)?;
    (!left.is_zero()).then(|| {
        let sync = SyncOutcome::failed(
            Reason::BidEndedByMithril,
            format!(
                "Mithril ended bid {} ({} in a row); placing a new one in {}s",
                ended.fid,
                endings + 1,
                left.as_secs().max(1)
            ),
            false,
        );
        (sync, left)
    })
}

/// What observe-only reports: what the operator would do, or the plan's outcome if nothing.
pub fn observe_only_outcome(tracking: &Tracking, plan: &Plan) -> SyncOutcome {
    let would = match (tracking.duplicates.first(), &plan.action) {
        (Some(twin), _) => Some(format!(
            "cancel bid {twin}, a second live bid for this resource"
        )),
        (None, Some(action)) => Some(summary(action)),
        (None, None) => None,
    };
    match would {
        Some(would) => SyncOutcome::failed(
            Reason::ObserveOnly,
            format!("observe-only: the operator would {would}"),
            false,
        ),
        None => SyncOutcome::from_plan(plan),
    }
}

/// The events a plan calls for before it is carried out: immutable fields that changed, and a
/// blocker only a spec change can lift (said once, as for problems).
pub fn plan_events(plan: &Plan, synced: Option<Reason>) -> Vec<Event> {
    let mut events = Vec::new();
    if !plan.drift.is_empty() {
        let outcome = SyncOutcome::from_plan(&Plan {
            action: None,
            ..plan.clone()
        });
        events.push(warning(
            Reason::ImmutableFieldChanged,
            "Plan",
            outcome.message,
        ));
    }
    if plan.blocker.as_ref().is_some_and(Blocker::is_terminal) {
        let outcome = SyncOutcome::from_plan(plan);
        if synced != Some(outcome.reason) {
            events.push(warning(outcome.reason, "Plan", outcome.message));
        }
    }
    events
}

/// A problem only the user can fix is said once: not again while the condition says it.
pub fn problem_event(synced: Option<Reason>, problem: &Problem) -> Option<Event> {
    (synced != Some(problem.reason))
        .then(|| warning(problem.reason, "Reconcile", problem.message.clone()))
}

/// A deleted resource's bid that cannot be cancelled now: what is wrong and how to let it go.
pub fn finalizer_held(problem: Problem, fid: Option<&str>, finalizer: &str) -> Problem {
    let fid = fid.unwrap_or("(a create in doubt)");
    Problem::new(
        problem.reason,
        format!(
            "{}; bid {fid} may still be live, so the resource keeps its finalizer {finalizer} until it is cancelled: \
             fix the key, or set spec.deletionPolicy: Orphan to leave the bid on Mithril",
            problem.message
        ),
    )
}

/// A bid placed.
pub fn created(bid: &Bid, request: &CreateBidRequest, instance_type: &str) -> Event {
    normal(
        Reason::BidCreated,
        "Create",
        format!(
            "placed bid {} for {} x {instance_type} in {} at a limit of {}",
            bid.fid, request.instance_quantity, request.region, request.limit_price
        ),
    )
}

/// A create that failed.
pub fn create_failed(error: &MithrilError) -> Event {
    warning(Reason::CreateFailed, "Create", error.to_string())
}

/// A bid updated, with why the price moved when the market moved it.
pub fn updated(fid: &str, request: &UpdateBidRequest, market: Option<&MarketDecision>) -> Event {
    let why = match (&request.limit_price, market) {
        (Some(_), Some(market)) if market.price.reason != PriceReason::Fixed => {
            format!(" ({})", market.price.message())
        }
        _ => String::new(),
    };
    normal(
        Reason::BidUpdated,
        "Update",
        format!("updated bid {fid}: {}{why}", describe(request)),
    )
}

/// An update that failed.
pub fn update_failed(error: &MithrilError) -> Event {
    warning(Reason::UpdateFailed, "Update", error.to_string())
}

/// A bid cancelled to be placed in another region.
pub fn relocated(fid: &str, from: &str, to: &str, market: Option<&MarketDecision>) -> Event {
    let why = market
        .map(|market| market.region.message())
        .unwrap_or_default();
    normal(
        Reason::RegionChanged,
        "Relocate",
        format!("cancelled bid {fid} in {from} to place it in {to}: {why}"),
    )
}

/// A move whose cancel failed.
pub fn relocate_failed(fid: &str, from: &str, to: &str, error: &MithrilError) -> Event {
    warning(
        Reason::CancelFailed,
        "Relocate",
        format!("moving bid {fid} from {from} to {to}: {error}"),
    )
}

/// A bid cancelled.
pub fn cancelled(fid: &str) -> Event {
    normal(
        Reason::BidCancelled,
        "Cancel",
        format!("cancelled bid {fid}"),
    )
}

/// A cancel that failed: the resource stays until it succeeds.
pub fn cancel_failed(error: &MithrilError) -> Event {
    warning(
        Reason::CancelFailed,
        "Cancel",
        format!(
            "{error}; the resource stays until the bid is cancelled (set deletionPolicy: Orphan to let it go)"
        ),
    )
}

/// A bid left on Mithril as the resource goes (`deletionPolicy: Orphan`).
pub fn orphaned(fid: Option<&str>) -> Event {
    let fid = fid.unwrap_or("(none placed)");
    normal(
        Reason::BidOrphaned,
        "Delete",
        format!("left bid {fid} on Mithril (deletionPolicy: Orphan)"),
    )
}

/// A second live bid of the resource, cancelled.
pub fn duplicate_cancelled(twin: &str, kept: Option<&Bid>) -> Event {
    let kept = kept.map_or("none", |bid| bid.fid.as_str());
    warning(
        Reason::DuplicateBidCancelled,
        "Cancel",
        format!("cancelled bid {twin}: a second live bid for this resource (kept {kept})"),
    )
}

/// A raise after a preemption is an event of its own: it changes what the bid may cost. So is
/// dropping the raises when the user restates the price.
pub fn raise_events(market: &MarketDecision, observed: Option<&Bid>) -> Vec<Event> {
    let price = &market.price;
    let mut events = Vec::new();
    if let Some(dropped) = price.dropped_raise {
        events.push(normal(
            Reason::RaiseReset,
            "Reprice",
            format!(
                "the price was restated ({}): the {dropped} raised after earlier preemptions no longer applies",
                price.raised_on
            ),
        ));
    }
    if price.raised_by.is_none() {
        return events;
    }
    let preemption = price.memory.raised_preemptions;
    let before = observed
        .filter(|bid| bid.status != BidStatus::Terminated)
        .map(|bid| bid.limit_price);
    events.push(match before {
        // Nothing left to raise: say so, since the bid may stay outbid.
        Some(before) if price.limit <= before => warning(
            Reason::LimitAtMaxPrice,
            "Reprice",
            format!(
                "preemption {preemption}: the limit stays at {before}, the most spec.pricing.maxPrice allows"
            ),
        ),
        _ => {
            let from = before.map_or_else(|| "none".to_owned(), |p| p.to_string());
            let ceiling = if price.capped { " (maxPrice)" } else { "" };
            normal(
                Reason::LimitRaised,
                "Reprice",
                format!(
                    "preemption {preemption}: raised the limit from {from} to {}{ceiling} to win the capacity back",
                    price.limit
                ),
            )
        }
    });
    events
}

/// A new preemption, seen by comparing the stored status with the new one.
pub fn preempted(previous: Option<&SpotBidStatus>, new: &SpotBidStatus) -> Option<Event> {
    (new.preemption_count > previous.map_or(0, |s| s.preemption_count)).then(|| {
        let fid = new.bid_fid.clone().unwrap_or_default();
        warning(
            Reason::Preempted,
            "Observe",
            format!(
                "the auction price rose above the limit of bid {fid}; Mithril is reclaiming its instances and the bid returns to Open"
            ),
        )
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
