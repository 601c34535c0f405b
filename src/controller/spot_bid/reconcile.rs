//! The SpotBid reconcile: observe (memory first), plan (pure), act (one Mithril write), report.

use super::controller::{Watched, watched_ref};
use super::index::BidIndex;
use super::names::bid_name;
use super::phases::PhaseTally;
use super::plan::{
    Action as BidAction, DesiredBid, Intent, MarketDecision, MarketView, Plan, plan,
};
use super::pricing::{PriceReason, PricingPolicy, RaiseMemory};
use super::regions::{RegionMarket, RegionPolicy};
use super::report::{Observation, SyncOutcome, preemption_count, status};
use crate::controller::error::mithril_reason;
use crate::controller::finalizer::with_finalizer;
use crate::controller::trigger_gate::TriggerGate;
use crate::controller::{Context, Error, Problem, events, status::apply_status};
use crate::crd::{DeletionPolicy, SpotBid, Time, status_changed};
use crate::mithril::{
    ApiKey, Bid, BidStatus, LaunchSpecification, MithrilClient, MithrilError, Price,
    UpdateBidRequest,
};
use crate::observe::{MithrilObserver, ObserveError};
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// The controller's name in metrics and logs.
pub const CONTROLLER: &str = "spotbid";
/// Cancels the bid before the resource goes (unless `deletionPolicy: Orphan`).
pub const FINALIZER: &str = "mithril.ai/cancel-bid";
/// `"true"`: report what Mithril shows, never write to Mithril (no finalizer either).
pub const OBSERVE_ONLY_ANNOTATION: &str = "mithril.ai/observe-only";
/// `"true"`: leave the resource alone entirely (no Mithril writes, no status updates but the
/// condition saying so) until the annotation goes.
pub const RECONCILE_PAUSED_ANNOTATION: &str = "mithril.ai/reconcile-paused";

/// The SpotBid controller's state beside the shared [`Context`].
pub struct SpotBidContext {
    pub shared: Arc<Context>,
    pub index: BidIndex,
    pub phases: PhaseTally,
    /// Mithril-side changes waiting for the controller ([`TriggerGate`]).
    pub gate: Arc<TriggerGate<Watched>>,
    /// Resources (by uid) whose last create may have reached Mithril without an answer: the
    /// next attempt looks the bid up by name on Mithril itself before any POST.
    uncertain_creates: Mutex<HashSet<String>>,
}

impl SpotBidContext {
    pub fn new(shared: Arc<Context>) -> Self {
        // A few reconciles' worth per worker keeps every worker busy, and the rest waits in
        // the gate at a pointer and a digest each.
        let gate_limit = usize::from(shared.config.concurrency).saturating_mul(4);
        Self {
            shared,
            index: BidIndex::default(),
            phases: PhaseTally::default(),
            gate: Arc::new(TriggerGate::new(gate_limit)),
            uncertain_creates: Mutex::default(),
        }
    }

    fn mark_uncertain(&self, uid: &str, uncertain: bool) {
        let mut set = self
            .uncertain_creates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if uncertain {
            set.insert(uid.to_owned());
        } else {
            set.remove(uid);
        }
    }

    fn is_uncertain(&self, uid: &str) -> bool {
        self.uncertain_creates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }
}

/// Entry point for kube-runtime: reads the resource, times the reconcile and resets backoff on
/// success. The controller caches metadata only ([`super::controller`]): the resource is read
/// here, so the reconcile acts on what it says now.
pub async fn reconcile(watched: Arc<Watched>, ctx: Arc<SpotBidContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    ctx.gate
        .started(watched.metadata.namespace.as_deref(), &name);
    let span = tracing::info_span!("reconcile", controller = CONTROLLER, namespace = %namespace, name = %name);
    let result = tracing::Instrument::instrument(
        async {
            let api: Api<SpotBid> = Api::namespaced(ctx.shared.kube.clone(), &namespace);
            match api.get_opt(&name).await? {
                Some(resource) => reconcile_resource(&api, Arc::new(resource), &ctx).await,
                // Deleted since the watch saw it: nothing of ours is left to act on.
                None => {
                    ctx.index.forget(&ObjectRef::from_obj(watched.as_ref()));
                    Ok(Action::await_change())
                }
            }
        },
        span,
    )
    .await;
    let shared = &ctx.shared;
    shared.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(Error::reason),
    );
    if result.is_ok() {
        shared.backoff.succeeded(&watched.uid().unwrap_or_default());
    }
    result
}

/// Entry point for kube-runtime on failure: per-object exponential backoff.
pub fn error_policy(watched: Arc<Watched>, error: &Error, ctx: Arc<SpotBidContext>) -> Action {
    let wait = ctx
        .shared
        .backoff
        .failed(&watched.uid().unwrap_or_default());
    tracing::warn!(namespace = watched.namespace().unwrap_or_default(), name = %watched.name_any(), %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

fn annotated(resource: &SpotBid, annotation: &str) -> bool {
    resource
        .annotations()
        .get(annotation)
        .is_some_and(|value| value == "true")
}

async fn reconcile_resource(
    api: &Api<SpotBid>,
    resource: Arc<SpotBid>,
    ctx: &SpotBidContext,
) -> Result<Action, Error> {
    ctx.phases.record(
        &resource.uid().unwrap_or_default(),
        resource.status.as_ref().and_then(|status| status.phase),
    );
    if annotated(&resource, RECONCILE_PAUSED_ANNOTATION) {
        let sync = SyncOutcome::failed(
            "ReconcilePaused",
            format!(
                "the {RECONCILE_PAUSED_ANNOTATION} annotation is set: the operator leaves this resource alone"
            ),
            false,
        );
        report(api, &resource, ctx, None, None, None, &sync).await?;
        return Ok(Action::await_change());
    }
    if annotated(&resource, OBSERVE_ONLY_ANNOTATION) {
        return observe_only(api, resource, ctx).await;
    }
    // The finalizer is added and the bid placed in one reconcile.
    with_finalizer(api, FINALIZER, resource, |event| async {
        match event {
            FinalizerEvent::Apply(resource) => apply(api, resource, ctx).await,
            FinalizerEvent::Cleanup(resource) => cleanup(api, resource, ctx).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// Everything a resource's names resolve to on Mithril.
struct Resolved {
    client: MithrilClient,
    observer: MithrilObserver,
    project_fid: String,
    instance_type_fid: String,
    bid_name: String,
}

/// Resolves key, project and instance type. `Ok(Err(problem))` for what only the user can fix.
async fn resolve(
    resource: &SpotBid,
    ctx: &SpotBidContext,
) -> Result<Result<Resolved, Problem>, Error> {
    let shared = &ctx.shared;
    let namespace = resource.namespace().unwrap_or_default();
    let spec = &resource.spec;
    let key: ApiKey = match shared
        .keys
        .key_for(&namespace, spec.api_key_secret_ref.as_ref())
        .await?
    {
        Ok(key) => key,
        Err(problem) => return Ok(Err(problem)),
    };
    let project_fid = match shared.registry.resolve_project(&key, &spec.project).await {
        Ok(fid) => fid,
        Err(error) => {
            return classify(error, "ProjectNotFound", || {
                format!("Mithril has no project {:?} for this API key", spec.project)
            });
        }
    };
    let instance_type_fid = match shared
        .registry
        .resolve_instance_type(&key, &spec.instance_type)
        .await
    {
        Ok(fid) => fid,
        Err(error) => {
            return classify(error, "InstanceTypeNotFound", || {
                format!("Mithril has no instance type {:?}", spec.instance_type)
            });
        }
    };
    let observer = shared.registry.observer(&key, &project_fid)?;
    let client = shared.registry.client(&key)?;
    let bid_name = bid_name(
        &namespace,
        &resource.name_any(),
        &resource.uid().unwrap_or_default(),
    );
    Ok(Ok(Resolved {
        client,
        observer,
        project_fid,
        instance_type_fid,
        bid_name,
    }))
}

/// A failed lookup: a rejected key or an unknown name is a problem for the user; anything else
/// (Mithril down, rate limited) an error to retry.
fn classify<T>(
    error: ObserveError,
    not_found_reason: &'static str,
    not_found: impl FnOnce() -> String,
) -> Result<Result<T, Problem>, Error> {
    if error.is_auth() {
        Ok(Err(Problem::new(
            "InvalidApiKey",
            format!("Mithril rejected the API key: {error}"),
        )))
    } else if error.is_not_found() {
        Ok(Err(Problem::new(not_found_reason, not_found())))
    } else {
        Err(error.into())
    }
}

/// The bid this resource manages, from memory when the observer has synced.
async fn find_bid(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
) -> Result<Option<Bid>, Error> {
    let observer = &resolved.observer;
    let known_fid = resource
        .spec
        .bid_fid
        .clone()
        .or_else(|| resource.status.as_ref().and_then(|s| s.bid_fid.clone()));
    let adopted = resource.spec.bid_fid.is_some();
    // Our own bid that has ended (cancelled outside the operator, or left for another region):
    // a replacement placed under the same name is the bid to manage now, so look the name up
    // before trusting it. Without this, a reconcile that read the status from before the
    // replacement would keep finding the ended bid, place again ("name already used") and
    // write the ended bid back into the status.
    let mut ended = None;
    if let Some(fid) = &known_fid {
        let known = match observer.bid_by_fid(fid) {
            Some(bid) => Some(bid),
            None if !observer.is_synced() => match resolved.client.get_bid(fid).await {
                Ok(bid) => {
                    observer.record_bid(bid.clone());
                    Some(bid)
                }
                Err(error) if error.is_not_found() => None,
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        match known {
            Some(bid) if adopted || bid.status != BidStatus::Terminated => return Ok(Some(bid)),
            Some(bid) => ended = Some(bid),
            None if adopted => return Ok(None),
            None => {}
        }
    }
    let uid = resource.uid().unwrap_or_default();
    // The cache answers for bids that existed when it last listed, and for our own writes; only a
    // create whose outcome is unknown, or a cache not yet filled, needs Mithril itself.
    if !observer.is_synced() || ctx.is_uncertain(&uid) {
        let bids = resolved
            .client
            .find_bids_by_name(&resolved.project_fid, &resolved.bid_name)
            .await?;
        for bid in &bids {
            observer.record_bid(bid.clone());
        }
        ctx.mark_uncertain(&uid, false);
        return Ok(prefer_live(bids.into_iter().chain(ended).collect()));
    }
    Ok(observer.live_bid_by_name(&resolved.bid_name).or_else(|| {
        prefer_live(
            observer
                .bids_by_name(&resolved.bid_name)
                .into_iter()
                .chain(ended)
                .collect(),
        )
    }))
}

/// Of several bids with one name, the live one, else the newest.
fn prefer_live(mut bids: Vec<Bid>) -> Option<Bid> {
    bids.sort_by_key(|bid| (bid.status != BidStatus::Terminated, bid.created_at));
    bids.pop()
}

/// The spec's pricing and region rules, parsed once per reconcile.
struct Policies {
    pricing: PricingPolicy,
    regions: RegionPolicy,
}

fn desired(
    resource: &SpotBid,
    resolved: &Resolved,
    policies: &Policies,
    bid: Option<&Bid>,
    now: Timestamp,
) -> DesiredBid {
    let spec = &resource.spec;
    let launch = &spec.launch_specification;
    DesiredBid {
        name: resolved.bid_name.clone(),
        project_fid: resolved.project_fid.clone(),
        instance_type_fid: resolved.instance_type_fid.clone(),
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
        market: market_view(resource, resolved, &policies.regions, bid, now),
    }
}

/// The auctions of the listed regions from the observer's memory, and what the status remembers.
fn market_view(
    resource: &SpotBid,
    resolved: &Resolved,
    regions: &RegionPolicy,
    bid: Option<&Bid>,
    now: Timestamp,
) -> MarketView {
    let observer = &resolved.observer;
    let previous = resource.status.as_ref();
    let auctions = regions
        .regions
        .iter()
        .filter_map(|region| observer.auction(region, &resolved.instance_type_fid))
        .map(|auction| RegionMarket::from(&auction))
        .collect();
    let pricing = previous.and_then(|s| s.pricing.as_ref());
    MarketView {
        observed: observer.is_synced(),
        auctions,
        preemptions: preemption_count(previous, bid),
        raises: RaiseMemory {
            total: pricing
                .and_then(|p| p.preemption_raise.as_deref())
                .and_then(|raise| raise.parse::<Price>().ok())
                .unwrap_or(Price::ZERO),
            raised_preemptions: pricing.map_or(0, |p| p.raised_preemptions),
        },
        raised_on: pricing.and_then(|p| p.raised_on.clone()),
        region_candidate: previous.and_then(|s| s.region_candidate.clone()),
        now,
    }
}

/// Resolves and reads the bid; a problem is reported on the resource and ends the reconcile.
async fn observe(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
) -> Result<Result<(Resolved, Option<Bid>, Policies), Action>, Error> {
    let resolved = match resolve(resource, ctx).await? {
        Ok(resolved) => resolved,
        Err(problem) => return Ok(Err(report_problem(api, resource, ctx, None, problem).await?)),
    };
    let policies = match policies(&resource.spec) {
        Ok(policies) => policies,
        Err(problem) => {
            return Ok(Err(report_problem(
                api,
                resource,
                ctx,
                Some(&resolved),
                problem,
            )
            .await?));
        }
    };
    let bid = find_bid(resource, &resolved, ctx).await?;
    ctx.index.record(
        watched_ref(resource),
        &resolved.bid_name,
        bid.as_ref().map(|b| b.fid.as_str()),
    );
    let to_place = resource.spec.bid_fid.is_none()
        && bid
            .as_ref()
            .is_none_or(|b| b.status == BidStatus::Terminated);
    if to_place && let Some(problem) = unknown_region(&resolved.observer, &policies.regions) {
        return Ok(Err(report_problem(
            api,
            resource,
            ctx,
            Some(&resolved),
            problem,
        )
        .await?));
    }
    Ok(Ok((resolved, bid, policies)))
}

/// A listed region the spot market does not know, caught before a create Mithril would refuse.
/// Only once auctions have been observed: until then Mithril's answer to the create decides.
fn unknown_region(observer: &MithrilObserver, regions: &RegionPolicy) -> Option<Problem> {
    let (unknown, known) = observer.unknown_regions(&regions.regions)?;
    (!unknown.is_empty()).then(|| {
        Problem::new(
            "RegionNotFound",
            format!(
                "Mithril runs no spot auction in {}; regions with auctions: {}",
                unknown.join(", "),
                known.join(", ")
            ),
        )
    })
}

fn policies(spec: &crate::crd::SpotBidSpec) -> Result<Policies, Problem> {
    let pricing = PricingPolicy::from_spec(spec).map_err(|error| {
        let reason = match error {
            // The reason a bad fixed price has always had.
            super::pricing::PricingError::InvalidPrice {
                field: "spec.limitPrice",
                ..
            } => "InvalidLimitPrice",
            _ => "InvalidPricing",
        };
        Problem::new(reason, error.to_string())
    })?;
    let regions = RegionPolicy::from_spec(spec)
        .map_err(|error| Problem::new("InvalidRegionChange", error.to_string()))?;
    Ok(Policies { pricing, regions })
}

async fn apply(
    api: &Api<SpotBid>,
    resource: Arc<SpotBid>,
    ctx: &SpotBidContext,
) -> Result<Action, Error> {
    let (resolved, observed, policies) = match observe(api, &resource, ctx).await? {
        Ok(observed) => observed,
        Err(action) => return Ok(action),
    };
    let now = (ctx.shared.clock)();
    let desired = desired(&resource, &resolved, &policies, observed.as_ref(), now);
    let plan = plan(&Intent::Present(Box::new(desired)), observed.as_ref());
    if !plan.drift.is_empty() {
        let outcome = SyncOutcome::from_plan(&Plan {
            action: None,
            ..plan.clone()
        });
        events::warning(
            &ctx.shared.recorder,
            resource.as_ref(),
            "ImmutableFieldChanged",
            "Plan",
            outcome.message,
        )
        .await;
    }
    // A blocker only a spec change can lift is the user's to fix: say so once, as for problems.
    if plan.blocker.as_ref().is_some_and(|b| b.is_terminal()) {
        let outcome = SyncOutcome::from_plan(&plan);
        if synced_reason(&resource) != Some(outcome.reason.as_str()) {
            events::warning(
                &ctx.shared.recorder,
                resource.as_ref(),
                &outcome.reason,
                "Plan",
                outcome.message,
            )
            .await;
        }
    }
    if matches!(plan.action, Some(BidAction::Create(_)))
        && let Some(problem) = create_refused_for_this_spec(&resource)
    {
        return report_problem(api, &resource, ctx, Some(&resolved), problem).await;
    }
    let bid = match act(&resource, &resolved, ctx, &plan, observed.as_ref()).await {
        Ok(bid) => bid.or_else(|| observed.clone()),
        Err(Acted::Problem(problem)) => {
            return report_problem(api, &resource, ctx, Some(&resolved), problem).await;
        }
        Err(Acted::Failed(error)) => {
            let sync = SyncOutcome::failed(mithril_reason(&error), error.to_string(), false);
            // The decisions were not carried out: the status keeps remembering the old ones.
            report(
                api,
                &resource,
                ctx,
                Some(&resolved),
                observed.as_ref(),
                None,
                &sync,
            )
            .await?;
            return Err(error.into());
        }
    };
    if let Some(market) = &plan.market {
        report_raise(&resource, ctx, market, observed.as_ref()).await;
    }
    report(
        api,
        &resource,
        ctx,
        Some(&resolved),
        bid.as_ref(),
        plan.market.as_ref(),
        &SyncOutcome::from_plan(&Plan {
            action: None,
            ..plan.clone()
        }),
    )
    .await?;
    // Revisited by the controller's paced resync, not by a pending requeue per resource.
    Ok(Action::await_change())
}

/// A raise after a preemption is an event of its own: it changes what the bid may cost. So is
/// dropping the raises when the user restates the price.
async fn report_raise(
    resource: &SpotBid,
    ctx: &SpotBidContext,
    market: &MarketDecision,
    observed: Option<&Bid>,
) {
    let price = &market.price;
    if let Some(dropped) = price.dropped_raise {
        events::normal(
            &ctx.shared.recorder,
            resource,
            "RaiseReset",
            "Reprice",
            format!(
                "the price was restated ({}): the {dropped} raised after earlier preemptions no longer applies",
                price.raised_on
            ),
        )
        .await;
    }
    if price.raised_by.is_none() {
        return;
    }
    let preemption = price.memory.raised_preemptions;
    let before = observed
        .filter(|bid| bid.status != BidStatus::Terminated)
        .map(|bid| bid.limit_price);
    let recorder = &ctx.shared.recorder;
    match before {
        // Nothing left to raise: say so, since the bid may stay outbid.
        Some(before) if price.limit <= before => {
            events::warning(
                recorder,
                resource,
                "LimitAtMaxPrice",
                "Reprice",
                format!(
                    "preemption {preemption}: the limit stays at {before}, the most spec.pricing.maxPrice allows"
                ),
            )
            .await;
        }
        _ => {
            let from = before.map_or_else(|| "none".to_owned(), |p| p.to_string());
            let ceiling = if price.capped { " (maxPrice)" } else { "" };
            events::normal(
                recorder,
                resource,
                "LimitRaised",
                "Reprice",
                format!(
                    "preemption {preemption}: raised the limit from {from} to {}{ceiling} to win the capacity back",
                    price.limit
                ),
            )
            .await;
        }
    }
}

/// Why a create Mithril refused is reported (the condition reason).
const CREATE_REFUSED: &str = "BidRejected";

/// A create Mithril refused as such (400, 422) is final for the spec it was made from: the same
/// request would be refused again, so nothing is sent until the spec changes. The refusal is
/// read back from the status (Synced=False for this generation), so it also holds across
/// restarts and leader changes.
fn create_refused_for_this_spec(resource: &SpotBid) -> Option<Problem> {
    let status = resource.status.as_ref()?;
    let synced = crate::crd::find_condition(&status.conditions, crate::crd::SYNCED)?;
    let generation = synced.observed_generation.or(status.observed_generation);
    (synced.status == crate::crd::ConditionStatus::False
        && synced.reason == CREATE_REFUSED
        && generation == resource.metadata.generation)
        .then(|| Problem::new(CREATE_REFUSED, synced.message.clone()))
}

/// How an action failed.
enum Acted {
    /// Mithril refused the request as such (422, 400): retrying the same request cannot help.
    Problem(Problem),
    Failed(MithrilError),
}

/// Carries out the plan's write; returns the bid Mithril answered with.
async fn act(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
    plan: &Plan,
    observed: Option<&Bid>,
) -> Result<Option<Bid>, Acted> {
    let recorder = &ctx.shared.recorder;
    let uid = resource.uid().unwrap_or_default();
    match &plan.action {
        None => Ok(None),
        Some(BidAction::Create(request)) => {
            // The idempotency key is the deterministic name (a retried POST is the same request),
            // qualified by the bid it replaces, if any: placing anew after a move or an outside
            // cancellation is a different request from the first placement.
            let key = match observed {
                Some(replaced) => format!("{}.{}", request.name, replaced.fid),
                None => request.name.clone(),
            };
            match resolved.client.create_bid(request, &key).await {
                Ok(bid) => {
                    // This reconcile reports the bid: no wake-up for it.
                    resolved.observer.record_own_bid(bid.clone());
                    let note = format!(
                        "placed bid {} for {} x {} in {} at a limit of {}",
                        bid.fid,
                        request.instance_quantity,
                        resource.spec.instance_type,
                        request.region,
                        request.limit_price
                    );
                    events::normal(recorder, resource, "BidCreated", "Create", note).await;
                    Ok(Some(bid))
                }
                Err(error) => {
                    // A lost answer, or "name already used" (another attempt did land): look the
                    // name up on Mithril before any further POST.
                    if error.is_ambiguous_write() || error.status() == Some(400) {
                        ctx.mark_uncertain(&uid, true);
                    }
                    events::warning(
                        recorder,
                        resource,
                        "CreateFailed",
                        "Create",
                        error.to_string(),
                    )
                    .await;
                    Err(refusal_or_failure(error, CREATE_REFUSED))
                }
            }
        }
        Some(BidAction::Update { fid, request }) => {
            match resolved.client.update_bid(fid, request).await {
                Ok(bid) => {
                    // This reconcile reports the bid: no wake-up for it.
                    resolved.observer.record_own_bid(bid.clone());
                    let why = match (&request.limit_price, &plan.market) {
                        (Some(_), Some(market)) if market.price.reason != PriceReason::Fixed => {
                            format!(" ({})", market.price.message())
                        }
                        _ => String::new(),
                    };
                    events::normal(
                        recorder,
                        resource,
                        "BidUpdated",
                        "Update",
                        format!("updated bid {fid}: {}{why}", describe(request)),
                    )
                    .await;
                    Ok(Some(bid))
                }
                Err(error) => {
                    events::warning(
                        recorder,
                        resource,
                        "UpdateFailed",
                        "Update",
                        error.to_string(),
                    )
                    .await;
                    let reason = if request.limit_price.is_some() {
                        "PriceRejected"
                    } else {
                        "UpdateRejected"
                    };
                    Err(refusal_or_failure(error, reason))
                }
            }
        }
        Some(BidAction::Cancel { fid }) => cancel(resource, resolved, ctx, fid)
            .await
            .map(|()| None)
            .map_err(Acted::Failed),
        Some(BidAction::Relocate { fid, from, to }) => {
            match resolved.client.cancel_bid(fid).await {
                Ok(()) | Err(MithrilError::NotFound { .. }) => {
                    resolved.observer.record_cancelled(fid);
                    let why = plan
                        .market
                        .as_ref()
                        .map(|market| market.region.message())
                        .unwrap_or_default();
                    events::normal(
                        recorder,
                        resource,
                        "RegionChanged",
                        "Relocate",
                        format!("cancelled bid {fid} in {from} to place it in {to}: {why}"),
                    )
                    .await;
                    Ok(resolved.observer.bid_by_fid(fid))
                }
                Err(error) => {
                    events::warning(
                        recorder,
                        resource,
                        "CancelFailed",
                        "Relocate",
                        format!("moving bid {fid} from {from} to {to}: {error}"),
                    )
                    .await;
                    Err(Acted::Failed(error))
                }
            }
        }
    }
}

fn refusal_or_failure(error: MithrilError, reason: &'static str) -> Acted {
    match error.status() {
        Some(400 | 422) if !error.is_ambiguous_write() => {
            Acted::Problem(Problem::new(reason, error.to_string()))
        }
        _ => Acted::Failed(error),
    }
}

fn describe(request: &UpdateBidRequest) -> String {
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

async fn cancel(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
    fid: &str,
) -> Result<(), MithrilError> {
    let recorder = &ctx.shared.recorder;
    match resolved.client.cancel_bid(fid).await {
        // Already gone counts as cancelled.
        Ok(()) | Err(MithrilError::NotFound { .. }) => {
            resolved.observer.record_cancelled(fid);
            events::normal(
                recorder,
                resource,
                "BidCancelled",
                "Cancel",
                format!("cancelled bid {fid}"),
            )
            .await;
            Ok(())
        }
        Err(error) => {
            events::warning(recorder, resource, "CancelFailed", "Cancel", format!("{error}; the resource stays until the bid is cancelled (set deletionPolicy: Orphan to let it go)")).await;
            Err(error)
        }
    }
}

async fn cleanup(
    api: &Api<SpotBid>,
    resource: Arc<SpotBid>,
    ctx: &SpotBidContext,
) -> Result<Action, Error> {
    let resource_ref = watched_ref(&resource);
    if resource.spec.deletion_policy == DeletionPolicy::Orphan {
        let fid = resource
            .status
            .as_ref()
            .and_then(|s| s.bid_fid.clone())
            .unwrap_or_else(|| "(none placed)".into());
        events::normal(
            &ctx.shared.recorder,
            resource.as_ref(),
            "BidOrphaned",
            "Delete",
            format!("left bid {fid} on Mithril (deletionPolicy: Orphan)"),
        )
        .await;
        ctx.index.forget(&resource_ref);
        return Ok(Action::await_change());
    }
    let resolved = match resolve(&resource, ctx).await? {
        Ok(resolved) => resolved,
        // No such project or instance type for this key: no bid of ours can exist there.
        Err(problem)
            if problem.reason.ends_with("NotFound") && problem.reason != "ApiKeySecretNotFound" =>
        {
            ctx.index.forget(&resource_ref);
            return Ok(Action::await_change());
        }
        Err(problem) => {
            report_problem(api, &resource, ctx, None, problem.clone()).await?;
            // Keep retrying with backoff: letting go now could leave a paid bid running.
            return Err(Error::Problem(problem));
        }
    };
    let bid = find_bid(&resource, &resolved, ctx).await?;
    if let Some(BidAction::Cancel { fid }) =
        plan(&Intent::Deleting(DeletionPolicy::Delete), bid.as_ref()).action
    {
        cancel(&resource, &resolved, ctx, &fid).await?;
    }
    ctx.index.forget(&resource_ref);
    Ok(Action::await_change())
}

/// Observe-only: report what Mithril shows and what the operator would do; never write to
/// Mithril, and never hold the resource back from deletion.
async fn observe_only(
    api: &Api<SpotBid>,
    resource: Arc<SpotBid>,
    ctx: &SpotBidContext,
) -> Result<Action, Error> {
    if resource.finalizers().iter().any(|f| f == FINALIZER) {
        remove_finalizer(api, &resource).await?;
        return Ok(Action::await_change());
    }
    if resource.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (resolved, observed, policies) = match observe(api, &resource, ctx).await? {
        Ok(observed) => observed,
        Err(action) => return Ok(action),
    };
    let desired = desired(
        &resource,
        &resolved,
        &policies,
        observed.as_ref(),
        (ctx.shared.clock)(),
    );
    let plan = plan(&Intent::Present(Box::new(desired)), observed.as_ref());
    let sync = match &plan.action {
        Some(action) => SyncOutcome::failed(
            "ObserveOnly",
            format!("observe-only: the operator would {}", summary(action)),
            false,
        ),
        None => SyncOutcome::from_plan(&plan),
    };
    // Nothing was carried out: the status keeps remembering what it did.
    report(
        api,
        &resource,
        ctx,
        Some(&resolved),
        observed.as_ref(),
        None,
        &sync,
    )
    .await?;
    // Revisited by the controller's paced resync, not by a pending requeue per resource.
    Ok(Action::await_change())
}

fn summary(action: &BidAction) -> String {
    match action {
        BidAction::Create(request) => format!("place bid {:?}", request.name),
        BidAction::Update { fid, request } => format!("update bid {fid}: {}", describe(request)),
        BidAction::Cancel { fid } => format!("cancel bid {fid}"),
        BidAction::Relocate { fid, from, to } => {
            format!("move bid {fid} from {from} to {to}")
        }
    }
}

async fn remove_finalizer(api: &Api<SpotBid>, resource: &SpotBid) -> Result<(), Error> {
    let Some(position) = resource.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{position}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        { "op": "test", "path": path, "value": FINALIZER },
        { "op": "remove", "path": path },
    ]))
    .map_err(|error| Error::Problem(Problem::new("Internal", error.to_string())))?;
    api.patch(
        &resource.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Json::<()>(patch),
    )
    .await?;
    Ok(())
}

/// Reports a problem only the user can fix, and looks again later.
/// The reason of the `Synced` condition the resource was last reported with.
fn synced_reason(resource: &SpotBid) -> Option<&str> {
    resource
        .status
        .as_ref()
        .and_then(|s| crate::crd::find_condition(&s.conditions, crate::crd::SYNCED))
        .map(|c| c.reason.as_str())
}

async fn report_problem(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
    resolved: Option<&Resolved>,
    problem: Problem,
) -> Result<Action, Error> {
    if synced_reason(resource) != Some(problem.reason) {
        events::warning(
            &ctx.shared.recorder,
            resource,
            problem.reason,
            "Reconcile",
            problem.message.clone(),
        )
        .await;
    }
    let sync = SyncOutcome::failed(problem.reason, problem.message, true);
    let bid = match resolved {
        Some(resolved) => resource
            .status
            .as_ref()
            .and_then(|s| s.bid_fid.as_deref())
            .and_then(|fid| resolved.observer.bid_by_fid(fid)),
        None => None,
    };
    report(api, resource, ctx, resolved, bid.as_ref(), None, &sync).await?;
    Ok(Action::requeue(ctx.shared.config.problem_recheck))
}

/// Writes the status when it changed; a new preemption is also an event.
async fn report(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
    resolved: Option<&Resolved>,
    bid: Option<&Bid>,
    market: Option<&MarketDecision>,
    sync: &SyncOutcome,
) -> Result<(), Error> {
    let instances = match (resolved, bid) {
        (Some(resolved), Some(bid)) => resolved.observer.instances_of_bid(&bid.fid),
        _ => Vec::new(),
    };
    // What the bid pays is the clearing price where it is.
    let region = bid
        .and_then(|bid| bid.region.as_deref())
        .unwrap_or(&resource.spec.region);
    let clearing_price = resolved
        .and_then(|resolved| {
            resolved
                .observer
                .auction(region, &resolved.instance_type_fid)
        })
        .map(|auction| auction.last_instance_price);
    let observation = Observation {
        bid,
        instances: &instances,
        clearing_price,
        market,
    };
    let previous = resource.status.as_ref();
    let bid_name = resolved.map(|resolved| resolved.bid_name.as_str());
    let new = status(
        previous,
        &resource.spec,
        resource.metadata.generation,
        bid_name,
        observation,
        sync,
        Time::new((ctx.shared.clock)()),
    );
    if !status_changed(previous, &new) {
        return Ok(());
    }
    apply_status(api, resource, &new).await?;
    ctx.phases
        .record(&resource.uid().unwrap_or_default(), new.phase);
    if new.preemption_count > previous.map_or(0, |s| s.preemption_count) {
        let fid = new.bid_fid.clone().unwrap_or_default();
        events::warning(&ctx.shared.recorder, resource, "Preempted", "Observe", format!("the auction price rose above the limit of bid {fid}; Mithril is reclaiming its instances and the bid returns to Open")).await;
    }
    Ok(())
}
