//! The SpotBid reconcile: observe (memory first), plan (pure), act (one Mithril write), report.

use super::cancelling::cancel_bid;
use super::decide::{self, BidNames, Failure, MarketSeen, Placements, Policies, policies};
use super::index::BidIndex;
use super::names::bid_name;
use super::phases::PhaseTally;
use super::plan::{Action as BidAction, DesiredBid, Intent, MarketDecision, Plan, plan};
use super::regions::{RegionMarket, RegionPolicy};
use super::report::{
    Observation, StatusInputs, SyncOutcome, preemption_suspected, spend_increase, status,
};
use super::tracking::{
    OwnBid, Sightings, Tracking, adoption_conflict, create_refused_for_this_spec, late_adoption,
    left_to_holder, track,
};
use super::watched::{Watched, watched_ref};
use crate::controller::error::{classify, mithril_reason};
use crate::controller::machinery::events;
use crate::controller::machinery::finalizer::with_finalizer;
use crate::controller::machinery::trigger_gate::TriggerGate;
use crate::controller::usage::User;
use crate::controller::{Context, Error, Problem, status::apply_status};
use crate::crd::{DeletionPolicy, Reason, SpotBid, Time, status_changed};
use crate::digest::digest;
use crate::observe::MithrilObserver;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::Event;
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use mithril_api::{ApiKey, Bid, BidEventType, BidStatus, MithrilClient, MithrilError, Price};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Per resource uid (its digest), what this replica remembers between reconciles.
    memory: Mutex<HashMap<u64, Remembered>>,
    /// When this controller started (it runs only while leading): a resource created before
    /// then may have had a create of the previous leader in flight.
    started: (Instant, Timestamp),
}

/// What a reconcile leaves for the next ones of the same resource.
#[derive(Debug, Default)]
struct Remembered {
    /// A create whose answer was lost, and when it was sent.
    uncertain_since: Option<Instant>,
    /// A create was sent (whatever its answer): `spec.bidFid` can no longer be taken up.
    create_sent: bool,
    /// Bids Mithril ended on its own in a row, and when the last replacement was placed.
    endings: u32,
    last_placed: Option<Instant>,
    /// The bid this operator cancelled to move it: its ending is no reason to wait.
    relocated: Option<String>,
    /// This replica added the finalizer: every create for the resource went through it.
    finalized_here: bool,
}

impl SpotBidContext {
    pub fn new(shared: Arc<Context>) -> Self {
        // One trigger per worker: the rest waits in the gate at a pointer and a digest each.
        let gate_limit = usize::from(shared.config.concurrency);
        let gate = TriggerGate::new(gate_limit)
            .with_waiting_gauge(shared.metrics.gate_waiting(CONTROLLER));
        Self {
            shared,
            index: BidIndex::default(),
            phases: PhaseTally::default(),
            gate: Arc::new(gate),
            memory: Mutex::default(),
            started: (Instant::now(), Timestamp::now()),
        }
    }

    fn remember<T>(&self, uid: &str, change: impl FnOnce(&mut Remembered) -> T) -> T {
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        change(memory.entry(digest(uid)).or_default())
    }

    /// Forgets a resource that is gone: its index entries, what it used, what was remembered.
    pub(super) fn forget(&self, reference: &ObjectRef<Watched>, uid: Option<&str>) {
        self.index.forget(reference);
        let namespace = reference.namespace.clone().unwrap_or_default();
        let user = User::new(CONTROLLER_KIND, namespace, reference.name.clone());
        self.shared.released(&user);
        if let Some(uid) = uid {
            self.memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&digest(uid));
        }
    }

    /// Forgets every resource of `namespace` (all: `None`) that `store` no longer holds: after a
    /// relist, those deleted while the watch was down, whose deletion no watch event reports.
    /// (The controllers of other namespaces share the context, not the store.)
    pub(super) fn forget_vanished(&self, store: &Store<Watched>, namespace: Option<&str>) {
        let users = self
            .shared
            .users_of(CONTROLLER_KIND, namespace)
            .into_iter()
            .map(|user| Arc::new(ObjectRef::<Watched>::new(&user.name).within(&user.namespace)));
        for reference in self.index.resources().into_iter().chain(users) {
            if store.get(&reference).is_none() {
                self.forget(&reference, None);
            }
        }
        let live: HashSet<u64> = store
            .state()
            .iter()
            .filter_map(|resource| resource.metadata.uid.as_deref().map(digest))
            .collect();
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|uid, _| live.contains(uid));
    }

    /// A create whose answer this replica lost may still show up (within the grace).
    fn create_lost_here(&self, resource: &SpotBid) -> bool {
        let grace = self.shared.config.create_grace;
        self.remember(&resource.uid().unwrap_or_default(), |r| r.uncertain_since)
            .is_some_and(|since| since.elapsed() < grace)
    }

    /// How much longer placement must wait for a create that may still show up: one whose
    /// answer was lost here, or one a previous leader may have sent (the resource is older than
    /// this controller and already had the finalizer, which goes on before any create). `None`
    /// once the grace has passed.
    fn create_uncertain(&self, resource: &SpotBid) -> Option<Duration> {
        let grace = self.shared.config.create_grace;
        let (lost, finalized_here) = self.remember(&resource.uid().unwrap_or_default(), |r| {
            (r.uncertain_since, r.finalized_here)
        });
        // Creation times have whole seconds: a resource of the controller's first second counts
        // as older.
        let older = !finalized_here
            && resource
                .metadata
                .creation_timestamp
                .as_ref()
                .is_none_or(|created| {
                    created.0 < self.started.1 + jiff::SignedDuration::from_secs(1)
                });
        let since = lost.or(older.then_some(self.started.0))?;
        grace
            .checked_sub(since.elapsed())
            .filter(|left| !left.is_zero())
    }
}

/// Entry point for kube-runtime: reads the resource, times the reconcile and resets backoff on
/// success. The controller caches metadata only ([`super::controller`]): the resource is read
/// here, so the reconcile acts on what it says now.
pub async fn reconcile(watched: Arc<Watched>, ctx: Arc<SpotBidContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = watched.namespace().unwrap_or_default();
    let name = watched.name_any();
    // Held to the end: the gate lets the next trigger through when this reconcile is over.
    let _running = ctx
        .gate
        .started(watched.metadata.namespace.as_deref(), &name);
    let span = tracing::info_span!("reconcile", controller = CONTROLLER, namespace = %namespace, name = %name);
    let result = tracing::Instrument::instrument(
        async {
            let api: Api<SpotBid> = Api::namespaced(ctx.shared.kube.clone(), &namespace);
            match api.get_opt(&name).await? {
                Some(resource) => reconcile_resource(&api, Arc::new(resource), &ctx).await,
                // Deleted since the watch saw it: nothing of ours is left to act on (the watch's
                // deletion, or the next relist, forgets it).
                None => Ok(Action::await_change()),
            }
        },
        span,
    )
    .await;
    let shared = &ctx.shared;
    shared.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(|error| error.reason().label()),
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
            Reason::ReconcilePaused,
            format!(
                "the {RECONCILE_PAUSED_ANNOTATION} annotation is set: the operator leaves this resource alone"
            ),
            false,
        );
        let paused = Report {
            resolved: None,
            bid: None,
            market: None,
            history_preemptions: None,
            sync,
            events: Vec::new(),
        };
        report(api, &resource, ctx, paused).await?;
        return Ok(Action::await_change());
    }
    if annotated(&resource, OBSERVE_ONLY_ANNOTATION) {
        return observe_only(api, resource, ctx).await;
    }
    if resource.metadata.deletion_timestamp.is_some() {
        if !resource.finalizers().iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        return match cleanup(api, &resource, ctx).await? {
            Some(wait) => Ok(wait),
            // Forgotten when the watch sees it gone.
            None => {
                remove_finalizer(api, &resource).await?;
                Ok(Action::await_change())
            }
        };
    }
    if !resource.finalizers().iter().any(|f| f == FINALIZER) {
        ctx.remember(&resource.uid().unwrap_or_default(), |r| {
            r.finalized_here = true
        });
    }
    // The finalizer is added and the bid placed in one reconcile.
    with_finalizer(api, FINALIZER, resource, |event| async {
        match event {
            FinalizerEvent::Apply(resource) => apply(api, resource, ctx).await,
            // Handled above, before the finalizer helper.
            FinalizerEvent::Cleanup(_) => Ok(Action::await_change()),
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

/// The kind's name in what a resource uses of Mithril (keys, observers).
pub(super) const CONTROLLER_KIND: &str = "SpotBid";

fn user_of(resource: &SpotBid) -> User {
    User::new(
        CONTROLLER_KIND,
        resource.namespace().unwrap_or_default(),
        resource.name_any(),
    )
}

/// The resource's API key; [`Error::Problem`] for what only the user can fix.
async fn resolve_key(resource: &SpotBid, ctx: &SpotBidContext) -> Result<ApiKey, Error> {
    let namespace = resource.namespace().unwrap_or_default();
    let reference = resource.spec.api_key_secret_ref.as_ref();
    ctx.shared.keys.named_by(&user_of(resource), reference);
    ctx.shared.keys.key_for(&namespace, reference).await
}

/// The problem of a key Mithril rejected.
fn rejected_key(message: String) -> Problem {
    Problem::new(Reason::InvalidApiKey, message)
}

/// Resolves key, project and instance type; [`Error::Problem`] for what only the user can fix.
async fn resolve(resource: &SpotBid, ctx: &SpotBidContext) -> Result<Resolved, Error> {
    let shared = &ctx.shared;
    let namespace = resource.namespace().unwrap_or_default();
    let spec = &resource.spec;
    let key = resolve_key(resource, ctx).await?;
    let project_fid = shared
        .registry
        .resolve_project(&key, &spec.project)
        .await
        .map_err(|error| {
            classify(error, rejected_key, || {
                Problem::new(
                    Reason::ProjectNotFound,
                    format!("Mithril has no project {:?} for this API key", spec.project),
                )
            })
        })?;
    let instance_type_fid = shared
        .registry
        .resolve_instance_type(&key, &spec.instance_type)
        .await
        .map_err(|error| {
            classify(error, rejected_key, || {
                Problem::new(
                    Reason::InstanceTypeNotFound,
                    format!("Mithril has no instance type {:?}", spec.instance_type),
                )
            })
        })?;
    shared.uses(&user_of(resource), &key, &project_fid);
    let observer = shared.registry.observer(&key, &project_fid)?;
    let client = shared.registry.client(&key)?;
    let bid_name = bid_name(
        &shared.config.cluster,
        &namespace,
        &resource.name_any(),
        &resource.uid().unwrap_or_default(),
    );
    Ok(Resolved {
        client,
        observer,
        project_fid,
        instance_type_fid,
        bid_name,
    })
}

/// The names the resource's bids may carry: today's, and the one the status remembers if it
/// differs (a bid placed before names carried the cluster).
fn bid_names(resource: &SpotBid, resolved: &Resolved) -> Vec<String> {
    let mut names = vec![resolved.bid_name.clone()];
    let remembered = resource.status.as_ref().and_then(|s| s.bid_name.clone());
    names.extend(remembered.filter(|name| *name != resolved.bid_name));
    names
}

/// The bid of a known FID. The observer's lists may lag behind Mithril or skip a bid that moved
/// between pages, so a bid missing from them is asked for; only that answer says it is gone.
async fn confirmed_bid(
    client: &MithrilClient,
    observer: Option<&MithrilObserver>,
    fid: &str,
) -> Result<Option<Bid>, Error> {
    if let Some(bid) = observer.and_then(|observer| observer.bid_by_fid(fid)) {
        return Ok(Some(bid));
    }
    match client.get_bid(fid).await {
        Ok(bid) => {
            if let Some(observer) = observer {
                // This reconcile reports it: no wake-up for it.
                observer.record_own_bid(bid.clone());
            }
            Ok(Some(bid))
        }
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Bids under the resource's names: from the observer's memory once it has synced, from
/// Mithril itself while it has not or while a create may still show up.
async fn named_bids(
    resource: &SpotBid,
    resolved: &Resolved,
    direct: bool,
) -> Result<Vec<Bid>, Error> {
    let observer = &resolved.observer;
    let mut bids = Vec::new();
    for name in bid_names(resource, resolved) {
        if direct || !observer.is_synced() {
            let found = resolved
                .client
                .find_bids_by_name(&resolved.project_fid, &name)
                .await?;
            for bid in &found {
                observer.record_own_bid(bid.clone());
            }
            bids.extend(found);
        } else {
            bids.extend(observer.bids_by_name(&name));
        }
    }
    Ok(bids)
}

/// What Mithril shows of the resource's bids, and which one it manages ([`track`]).
async fn sight(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
) -> Result<Tracking, Error> {
    let adopting = resource.spec.bid_fid.is_some();
    let known_fid = resource
        .spec
        .bid_fid
        .clone()
        .or_else(|| resource.status.as_ref().and_then(|s| s.bid_fid.clone()));
    let known = match known_fid {
        Some(fid) => {
            let bid = confirmed_bid(&resolved.client, Some(&resolved.observer), &fid).await?;
            Some((fid, bid))
        }
        None => None,
    };
    // A live known bid settles it: nothing is placed, and its twins show in the cache.
    let known_live = known
        .as_ref()
        .and_then(|(_, bid)| bid.as_ref())
        .is_some_and(|bid| bid.status != BidStatus::Terminated);
    let uncertain = !adopting && !known_live && ctx.create_uncertain(resource).is_some();
    let named = if adopting {
        Vec::new()
    } else {
        // While a create may still show up, only Mithril itself is fresh enough.
        named_bids(resource, resolved, uncertain).await?
    };
    let tracking = track(Sightings {
        known,
        adopting,
        named,
        create_uncertain: uncertain,
    });
    if tracking
        .bid
        .as_ref()
        .is_some_and(|bid| bid.status != BidStatus::Terminated)
    {
        ctx.remember(&resource.uid().unwrap_or_default(), |r| {
            r.uncertain_since = None;
            if tracking.bid.as_ref().map(|b| &b.status) == Some(&BidStatus::Allocated) {
                r.endings = 0;
            }
        });
    }
    Ok(tracking)
}

/// The bid the spec asks for, with the market as the observer's memory and the status show it.
fn desired(
    resource: &SpotBid,
    resolved: &Resolved,
    policies: &Policies,
    bid: Option<&Bid>,
    history_preemptions: Option<i64>,
    now: Timestamp,
) -> DesiredBid {
    let observer = &resolved.observer;
    let auctions = policies
        .regions
        .regions
        .iter()
        .filter_map(|region| observer.auction(region, &resolved.instance_type_fid))
        .map(|auction| RegionMarket::from(&auction))
        .collect();
    let market = decide::market_view(
        resource.status.as_ref(),
        MarketSeen {
            observed: observer.is_synced(),
            auctions,
            bid,
            history_preemptions,
            now,
        },
    );
    let names = BidNames {
        name: resolved.bid_name.clone(),
        project_fid: resolved.project_fid.clone(),
        instance_type_fid: resolved.instance_type_fid.clone(),
    };
    decide::desired(&resource.spec, names, policies, market)
}
/// What observing led to: the reconcile goes on with what it found, or it is over (a problem
/// was reported).
enum Observed {
    Found(Box<(Resolved, Tracking, Policies)>),
    Reported(Action),
}

/// Resolves and reads the bids; a problem is reported on the resource and ends the reconcile.
async fn observe(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
) -> Result<Observed, Error> {
    let resolved = match resolve(resource, ctx).await {
        Ok(resolved) => resolved,
        Err(error) => {
            let problem = error.into_problem()?;
            return Ok(Observed::Reported(
                report_problem(api, resource, ctx, None, problem, Vec::new()).await?,
            ));
        }
    };
    let policies = match policies(&resource.spec) {
        Ok(policies) => policies,
        Err(problem) => {
            let action =
                report_problem(api, resource, ctx, Some(&resolved), problem, Vec::new()).await?;
            return Ok(Observed::Reported(action));
        }
    };
    if let Some(problem) = late_adoption_of(resource, &resolved, ctx) {
        let action =
            report_problem(api, resource, ctx, Some(&resolved), problem, Vec::new()).await?;
        return Ok(Observed::Reported(action));
    }
    if let Some(problem) = claimed_elsewhere(resource, &resolved.observer, ctx).await? {
        let action =
            report_problem(api, resource, ctx, Some(&resolved), problem, Vec::new()).await?;
        return Ok(Observed::Reported(action));
    }
    let tracking = sight(resource, &resolved, ctx).await?;
    let fid = tracking.bid.as_ref().map(|b| b.fid.as_str());
    for name in bid_names(resource, &resolved) {
        ctx.index.record(watched_ref(resource), &name, fid);
    }
    let to_place = resource.spec.bid_fid.is_none()
        && tracking
            .bid
            .as_ref()
            .is_none_or(|b| b.status == BidStatus::Terminated);
    if to_place && let Some(problem) = unknown_region(&resolved.observer, &policies.regions) {
        let action =
            report_problem(api, resource, ctx, Some(&resolved), problem, Vec::new()).await?;
        return Ok(Observed::Reported(action));
    }
    Ok(Observed::Found(Box::new((resolved, tracking, policies))))
}

/// [`late_adoption`] with what the cache shows under the resource's own names and what this
/// replica sent.
fn late_adoption_of(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
) -> Option<Problem> {
    let adopt = resource.spec.bid_fid.as_deref()?;
    let live_named = bid_names(resource, resolved)
        .iter()
        .flat_map(|name| resolved.observer.bids_by_name(name))
        .find(|bid| bid.status != BidStatus::Terminated && bid.fid != adopt);
    let create_sent = ctx.remember(&resource.uid().unwrap_or_default(), |r| r.create_sent);
    late_adoption(
        resource,
        OwnBid {
            live_named: live_named.as_ref().map(|bid| bid.fid.as_str()),
            create_sent,
        },
    )
}

/// For an adopting SpotBid: whether another SpotBid holds the bid ([`adoption_conflict`]). The
/// other SpotBids of every watched namespace are read while this one does not show the bid in
/// its status yet, or when another resource is known to manage it. Observe-only SpotBids write
/// nothing: they neither hold a bid nor are refused one.
async fn claimed_elsewhere(
    resource: &SpotBid,
    observer: &MithrilObserver,
    ctx: &SpotBidContext,
) -> Result<Option<Problem>, Error> {
    let Some(fid) = resource.spec.bid_fid.as_deref() else {
        return Ok(None);
    };
    if annotated(resource, OBSERVE_ONLY_ANNOTATION) {
        return Ok(None);
    }
    let holds = resource.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(fid);
    if holds && !managed_elsewhere(resource, fid, ctx) {
        return Ok(None);
    }
    let bid = observer.bid_by_fid(fid);
    Ok(adoption_conflict(
        resource,
        bid.as_ref(),
        &claimants(fid, ctx).await?,
    ))
}

/// Every SpotBid of the watched namespaces that claims the bid of FID `fid` (shows it in status
/// or names it in `spec.bidFid`), observe-only ones aside.
async fn claimants(fid: &str, ctx: &SpotBidContext) -> Result<Vec<SpotBid>, Error> {
    let kube = &ctx.shared.kube;
    let scopes: Vec<Api<SpotBid>> = match ctx.shared.config.namespaces.as_slice() {
        [] => vec![Api::all(kube.clone())],
        namespaces => namespaces
            .iter()
            .map(|namespace| Api::namespaced(kube.clone(), namespace))
            .collect(),
    };
    let mut claimants = Vec::new();
    for api in scopes {
        let listed = api.list(&kube::api::ListParams::default()).await?;
        claimants.extend(listed.items.into_iter().filter(|other| {
            !annotated(other, OBSERVE_ONLY_ANNOTATION)
                && (other.spec.bid_fid.as_deref() == Some(fid)
                    || other.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(fid))
        }));
    }
    Ok(claimants)
}

/// For a deleted resource: whether another SpotBid holds the bid its status shows
/// ([`left_to_holder`]). Asked of the API server when the resource adopted the bid or another
/// resource is known to manage it.
async fn held_elsewhere(
    resource: &SpotBid,
    bid: &Bid,
    ctx: &SpotBidContext,
) -> Result<Option<Problem>, Error> {
    let fid = bid.fid.as_str();
    let adopted = resource.spec.bid_fid.as_deref() == Some(fid);
    if !adopted && !managed_elsewhere(resource, fid, ctx) {
        return Ok(None);
    }
    Ok(left_to_holder(resource, bid, &claimants(fid, ctx).await?))
}

/// Whether the index records another resource as managing the bid of FID `fid`.
fn managed_elsewhere(resource: &SpotBid, fid: &str, ctx: &SpotBidContext) -> bool {
    ctx.index
        .holder_of(fid)
        .is_some_and(|holder| *holder != watched_ref(resource))
}

/// A listed region the spot market does not know, caught before a create Mithril would refuse.
/// Only once auctions have been observed: until then Mithril's answer to the create decides.
fn unknown_region(observer: &MithrilObserver, regions: &RegionPolicy) -> Option<Problem> {
    let (unknown, known) = observer.unknown_regions(&regions.regions)?;
    (!unknown.is_empty()).then(|| {
        Problem::new(
            Reason::RegionNotFound,
            format!(
                "Mithril runs no spot auction in {}; regions with auctions: {}",
                unknown.join(", "),
                known.join(", ")
            ),
        )
    })
}

async fn apply(
    api: &Api<SpotBid>,
    resource: Arc<SpotBid>,
    ctx: &SpotBidContext,
) -> Result<Action, Error> {
    let (resolved, tracking, policies) = match observe(api, &resource, ctx).await? {
        Observed::Found(found) => *found,
        Observed::Reported(action) => return Ok(action),
    };
    let observed = tracking.bid.clone();
    let history_preemptions = match &observed {
        Some(bid) if preemption_suspected(resource.status.as_ref(), bid) => {
            Some(preemptions_in_history(&resolved.client, &bid.fid).await?)
        }
        _ => None,
    };
    let report_of = |sync| Report {
        resolved: Some(&resolved),
        bid: observed.as_ref(),
        market: None,
        history_preemptions,
        sync,
        events: Vec::new(),
    };
    // Money first: a twin of the managed bid is cancelled before anything else is done.
    if let Some(twin) = tracking.duplicates.first() {
        let cancelled = cancel_duplicate(&resolved, ctx, twin, observed.as_ref()).await?;
        let report_now = Report {
            events: vec![cancelled],
            ..report_of(SyncOutcome::in_sync())
        };
        report(api, &resource, ctx, report_now).await?;
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let now = (ctx.shared.clock)();
    let desired = desired(
        &resource,
        &resolved,
        &policies,
        observed.as_ref(),
        history_preemptions,
        now,
    );
    let plan = plan(&Intent::Present(Box::new(desired)), observed.as_ref());
    let synced = decide::synced_reason(resource.status.as_ref());
    let mut events = decide::plan_events(&plan, synced);
    if matches!(plan.action, Some(BidAction::Create(_))) {
        if let Some(problem) = create_refused_for_this_spec(&resource) {
            return report_problem(api, &resource, ctx, Some(&resolved), problem, events).await;
        }
        if let Some((sync, wait)) = decide::placement_wait(&tracking, &placements(&resource, ctx)) {
            let report_now = Report {
                events,
                ..report_of(sync)
            };
            report(api, &resource, ctx, report_now).await?;
            return Ok(Action::requeue(wait));
        }
    }
    let (acted, done) = act(&resource, &resolved, ctx, &plan, observed.as_ref()).await;
    events.extend(done);
    let bid = match acted {
        Ok(bid) => bid.or_else(|| observed.clone()),
        Err(Failure::Problem(problem)) => {
            return report_problem(api, &resource, ctx, Some(&resolved), problem, events).await;
        }
        Err(Failure::Retry(problem)) => {
            let retried = problem.clone();
            report_problem(api, &resource, ctx, Some(&resolved), retried, events).await?;
            return Err(Error::Problem(problem));
        }
        Err(Failure::Failed(error)) => {
            let sync = SyncOutcome::failed(mithril_reason(&error), error.to_string(), false);
            // The decisions were not carried out: the status keeps remembering the old ones.
            let report_now = Report {
                events,
                ..report_of(sync)
            };
            report(api, &resource, ctx, report_now).await?;
            return Err(error.into());
        }
    };
    if let Some(market) = &plan.market {
        events.extend(decide::raise_events(market, observed.as_ref()));
    }
    let sync = SyncOutcome::from_plan(&Plan {
        action: None,
        ..plan.clone()
    });
    report(
        api,
        &resource,
        ctx,
        Report {
            bid: bid.as_ref(),
            market: plan.market.as_ref(),
            events,
            ..report_of(sync)
        },
    )
    .await?;
    // Revisited by the controller's paced resync, not by a pending requeue per resource.
    Ok(Action::await_change())
}

/// Preemptions of a bid as its history counts them.
async fn preemptions_in_history(client: &MithrilClient, fid: &str) -> Result<i64, Error> {
    let history = client.bid_history(fid).await?;
    let preempted = history
        .events
        .iter()
        .filter(|event| event.event_type == BidEventType::Preempted)
        .count();
    Ok(i64::try_from(preempted).unwrap_or(i64::MAX))
}

/// What this replica remembers of the resource's placements, for [`decide::placement_wait`].
fn placements(resource: &SpotBid, ctx: &SpotBidContext) -> Placements {
    let config = &ctx.shared.config;
    let (endings, last_placed, relocated) = ctx
        .remember(&resource.uid().unwrap_or_default(), |r| {
            (r.endings, r.last_placed, r.relocated.clone())
        });
    Placements {
        uncertain_left: ctx.create_uncertain(resource),
        endings,
        since_last_placed: last_placed.map(|placed| placed.elapsed()),
        relocated,
        backoff_base: config.backoff_base,
        backoff_max: config.backoff_max,
    }
}

/// Publishes the events the pure steps decided on, in order.
async fn publish(
    ctx: &SpotBidContext,
    resource: &SpotBid,
    events: impl IntoIterator<Item = Event>,
) {
    for event in events {
        events::publish_event(&ctx.shared.recorder, resource, &event).await;
    }
}

/// Cancels a live twin of the managed bid (several bids under one resource's names); returns the
/// event that says so.
async fn cancel_duplicate(
    resolved: &Resolved,
    ctx: &SpotBidContext,
    twin: &str,
    kept: Option<&Bid>,
) -> Result<Event, Error> {
    cancel_bid(&resolved.client, Some(&resolved.observer), twin).await?;
    ctx.shared
        .metrics
        .safety_cancel(Reason::DuplicateBidCancelled);
    Ok(decide::duplicate_cancelled(twin, kept))
}
/// Carries out the plan's write; returns the bid Mithril answered with, and the event that says
/// what was done or what failed.
async fn act(
    resource: &SpotBid,
    resolved: &Resolved,
    ctx: &SpotBidContext,
    plan: &Plan,
    observed: Option<&Bid>,
) -> (Result<Option<Bid>, Failure>, Option<Event>) {
    let uid = resource.uid().unwrap_or_default();
    match &plan.action {
        None => (Ok(None), None),
        Some(BidAction::Create(request)) => {
            ctx.remember(&uid, |r| r.create_sent = true);
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
                    ctx.remember(&uid, |r| {
                        r.uncertain_since = None;
                        // A bid Mithril ended on its own counts toward waiting before the next.
                        let ours = r.relocated.take();
                        if observed.is_some_and(|ended| ours.as_deref() != Some(ended.fid.as_str()))
                        {
                            r.endings = r.endings.saturating_add(1);
                        }
                        r.last_placed = Some(Instant::now());
                    });
                    let created = decide::created(&bid, request, &resource.spec.instance_type);
                    (Ok(Some(bid)), Some(created))
                }
                Err(error) => {
                    // A lost answer: the bid may exist, or appear later. No POST until it
                    // shows or the grace has passed.
                    if error.is_ambiguous_write() {
                        ctx.remember(&uid, |r| r.uncertain_since = Some(Instant::now()));
                    }
                    let failed = decide::create_failed(&error);
                    (
                        Err(decide::create_failure(error, observed.is_some())),
                        Some(failed),
                    )
                }
            }
        }
        Some(BidAction::Update { fid, request }) => {
            match resolved.client.update_bid(fid, request).await {
                Ok(bid) => {
                    // This reconcile reports the bid: no wake-up for it.
                    resolved.observer.record_own_bid(bid.clone());
                    let updated = decide::updated(fid, request, plan.market.as_ref());
                    (Ok(Some(bid)), Some(updated))
                }
                Err(error) => {
                    let failed = decide::update_failed(&error);
                    (Err(decide::update_failure(error, request)), Some(failed))
                }
            }
        }
        Some(BidAction::Cancel { fid }) => {
            let (result, event) = cancel(&resolved.client, Some(&resolved.observer), fid).await;
            (result.map(|()| None).map_err(Failure::Failed), Some(event))
        }
        Some(BidAction::Relocate { fid, from, to }) => {
            match resolved.client.cancel_bid(fid).await {
                Ok(()) | Err(MithrilError::NotFound { .. }) => {
                    resolved.observer.record_cancelled(fid);
                    ctx.remember(&uid, |r| r.relocated = Some(fid.clone()));
                    let relocated = decide::relocated(fid, from, to, plan.market.as_ref());
                    (Ok(resolved.observer.bid_by_fid(fid)), Some(relocated))
                }
                Err(error) => {
                    let failed = decide::relocate_failed(fid, from, to, &error);
                    (Err(Failure::Failed(error)), Some(failed))
                }
            }
        }
    }
}
/// Cancels a bid; returns the outcome and the event that says it.
async fn cancel(
    client: &MithrilClient,
    observer: Option<&MithrilObserver>,
    fid: &str,
) -> (Result<(), MithrilError>, Event) {
    let result = cancel_bid(client, observer, fid).await;
    let event = match &result {
        Ok(()) => decide::cancelled(fid),
        Err(error) => decide::cancel_failed(error),
    };
    (result, event)
}

/// Cancels a bid of a resource being deleted, and says so at once (no status follows).
async fn cancel_now(
    resource: &SpotBid,
    client: &MithrilClient,
    observer: Option<&MithrilObserver>,
    ctx: &SpotBidContext,
    fid: &str,
) -> Result<(), MithrilError> {
    let (result, event) = cancel(client, observer, fid).await;
    publish(ctx, resource, [event]).await;
    result
}
/// A deleted resource whose bid may be live and cannot be cancelled now: reported (what is wrong
/// and how to let it go), kept, and retried with backoff.
async fn hold_finalizer(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
    problem: Problem,
) -> Error {
    let fid = resource.status.as_ref().and_then(|s| s.bid_fid.as_deref());
    let problem = decide::finalizer_held(problem, fid, FINALIZER);
    match report_problem(api, resource, ctx, None, problem.clone(), Vec::new()).await {
        Ok(_) => Error::Problem(problem),
        Err(error) => error,
    }
}

/// Cancels what the resource placed before it goes. `None`: nothing of it is left (or
/// `Orphan`), the finalizer can go; `Some(action)`: keep it and look again.
///
/// The FID in the status is cancelled before anything is resolved by name, so a renamed project
/// or instance type never lets a live bid go unnoticed; a resource that never placed anything
/// (no FID, no create in doubt) goes at once, whatever its key.
async fn cleanup(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
) -> Result<Option<Action>, Error> {
    let known_fid = resource.status.as_ref().and_then(|s| s.bid_fid.clone());
    if resource.spec.deletion_policy == DeletionPolicy::Orphan {
        publish(ctx, resource, [decide::orphaned(known_fid.as_deref())]).await;
        return Ok(None);
    }
    let uncertain = ctx.create_uncertain(resource);
    // Without a key nothing can be looked up: only a FID or a create this replica lost says
    // something was placed (a previous leader's possible create does not hold the resource).
    let placed_something = known_fid.is_some() || ctx.create_lost_here(resource);
    let key = match resolve_key(resource, ctx).await {
        Ok(key) => key,
        Err(Error::Problem(_)) if !placed_something => return Ok(None),
        Err(Error::Problem(problem)) => {
            return Err(hold_finalizer(api, resource, ctx, problem).await);
        }
        Err(error) => return Err(error),
    };
    let client = ctx.shared.registry.client(&key)?;
    // The project resolves the observer (its cache and the names); a project Mithril no longer
    // shows by that name leaves the FID as the only way to the bid.
    let resolved = match resolve(resource, ctx).await {
        Ok(resolved) => Some(resolved),
        Err(Error::Problem(problem)) if problem.reason.is_not_found() => None,
        Err(Error::Problem(problem)) => {
            return Err(hold_finalizer(api, resource, ctx, problem).await);
        }
        Err(error) => return Err(error),
    };
    let observer = resolved.as_ref().map(|r| &r.observer);
    let cancelled = async {
        if let Some(fid) = &known_fid
            && let Some(bid) = confirmed_bid(&client, observer, fid).await?
            && bid.status != BidStatus::Terminated
        {
            // A status restored from a backup or written by hand may show another's bid.
            if let Some(problem) = held_elsewhere(resource, &bid, ctx).await? {
                publish(ctx, resource, decide::problem_event(None, &problem)).await;
            } else {
                cancel_now(resource, &client, observer, ctx, fid).await?;
                return Ok(true);
            }
        }
        if let Some(resolved) = &resolved {
            // Asked of Mithril itself: a twin the cache has not listed yet must not be left.
            let named = named_bids(resource, resolved, true).await?;
            if let Some(live) = named.iter().find(|bid| bid.status != BidStatus::Terminated) {
                cancel_now(resource, &client, observer, ctx, &live.fid).await?;
                return Ok(true);
            }
        }
        Ok::<bool, Error>(false)
    };
    match cancelled.await {
        // Looked again at once: a twin or a late create may be next.
        Ok(true) => return Ok(Some(Action::requeue(Duration::ZERO))),
        Ok(false) => {}
        Err(Error::Mithril(error)) if error.is_auth() => {
            let problem = rejected_key(format!("Mithril rejected the API key: {error}"));
            return Err(hold_finalizer(api, resource, ctx, problem).await);
        }
        Err(error) => return Err(error),
    }
    if let Some(left) = uncertain {
        // A create may still show up: cancelling it needs the resource (and its finalizer).
        return Ok(Some(Action::requeue(
            left.clamp(Duration::from_millis(200), Duration::from_secs(5)),
        )));
    }
    Ok(None)
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
    let (resolved, tracking, policies) = match observe(api, &resource, ctx).await? {
        Observed::Found(found) => *found,
        Observed::Reported(action) => return Ok(action),
    };
    let observed = tracking.bid.as_ref();
    let desired = desired(
        &resource,
        &resolved,
        &policies,
        observed,
        None,
        (ctx.shared.clock)(),
    );
    let plan = plan(&Intent::Present(Box::new(desired)), observed);
    let sync = decide::observe_only_outcome(&tracking, &plan);
    // Nothing was carried out: the status keeps remembering what it did.
    let report_now = Report {
        resolved: Some(&resolved),
        bid: observed,
        market: None,
        history_preemptions: None,
        sync,
        events: Vec::new(),
    };
    report(api, &resource, ctx, report_now).await?;
    // Revisited by the controller's paced resync, not by a pending requeue per resource.
    Ok(Action::await_change())
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
    .map_err(|error| Error::Problem(Problem::new(Reason::Internal, error.to_string())))?;
    api.patch(
        &resource.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Json::<()>(patch),
    )
    .await?;
    Ok(())
}

/// Reports a problem only the user can fix (said once as an event), and looks again later.
async fn report_problem(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
    resolved: Option<&Resolved>,
    problem: Problem,
    mut events: Vec<Event>,
) -> Result<Action, Error> {
    let synced = decide::synced_reason(resource.status.as_ref());
    events.extend(decide::problem_event(synced, &problem));
    let sync = SyncOutcome::failed(problem.reason, problem.message, true);
    let bid = match resolved {
        Some(resolved) => resource
            .status
            .as_ref()
            .and_then(|s| s.bid_fid.as_deref())
            .and_then(|fid| resolved.observer.bid_by_fid(fid)),
        None => None,
    };
    let problem_report = Report {
        resolved,
        bid: bid.as_ref(),
        market: None,
        history_preemptions: None,
        sync,
        events,
    };
    report(api, resource, ctx, problem_report).await?;
    Ok(Action::requeue(ctx.shared.config.problem_recheck))
}

/// What a reconcile reports: what it observed and decided, and how syncing went.
struct Report<'a> {
    resolved: Option<&'a Resolved>,
    bid: Option<&'a Bid>,
    /// The market decisions carried out (`None` keeps what the status remembers).
    market: Option<&'a MarketDecision>,
    history_preemptions: Option<i64>,
    sync: SyncOutcome,
    /// What the reconcile decided to say, published before the status says it.
    events: Vec<Event>,
}

/// The `kind` a bid's spend is counted under: the pool's when a SpotPool controls the SpotBid.
fn spend_kind(resource: &SpotBid) -> &'static str {
    let pooled = resource
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.controller == Some(true) && owner.kind == "SpotPool");
    if pooled { "spotpool" } else { "spotbid" }
}

/// Publishes the events decided, then writes the status when it changed; a new preemption is
/// also an event.
async fn report(
    api: &Api<SpotBid>,
    resource: &SpotBid,
    ctx: &SpotBidContext,
    what: Report<'_>,
) -> Result<(), Error> {
    let Report {
        resolved,
        bid,
        market,
        history_preemptions,
        sync,
        events: decided,
    } = what;
    publish(ctx, resource, decided).await;
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
    let now = (ctx.shared.clock)();
    let (cost_so_far, events) = match (resolved, bid) {
        (Some(resolved), Some(bid)) => (
            resolved
                .observer
                .cost_so_far(&bid.fid, now)
                .map(|cost| cost.price()),
            resolved.observer.bid_events(&bid.fid),
        ),
        _ => (None, Vec::new()),
    };
    let observation = Observation {
        bid,
        instances: &instances,
        clearing_price,
        market,
        history_preemptions,
        cost_so_far,
        events: &events,
    };
    let previous = resource.status.as_ref();
    let bid_name = resolved.map(|resolved| resolved.bid_name.as_str());
    let new = status(StatusInputs {
        previous,
        spec: &resource.spec,
        generation: resource.metadata.generation,
        bid_name,
        observed: observation,
        sync: &sync,
        now: Time::new(now),
    });
    if !status_changed(previous, &new) {
        return Ok(());
    }
    apply_status(api, resource, &new).await?;
    let spent = spend_increase(previous, &new);
    if spent > Price::ZERO {
        ctx.shared.metrics.spent(
            &resource.namespace().unwrap_or_default(),
            spend_kind(resource),
            spent.cents() as f64 / 100.0,
        );
    }
    ctx.phases
        .record(&resource.uid().unwrap_or_default(), new.phase);
    publish(ctx, resource, decide::preempted(previous, &new)).await;
    Ok(())
}
