//! The SpotPool reconcile: read the pool's SpotBids, plan (pure), make at most one write to them,
//! apply the status once, publish events once. The pool never talks to Mithril: its SpotBids'
//! controller places, patches and cancels their bids.
//!
//! - The SpotBids are listed from the API server on every reconcile (by the pool's label, kept
//!   only when the pool is their controller owner), never from a cache: a write just made is
//!   always seen, so a SpotBid is never created twice. New names are deterministic as well, so a
//!   create whose answer was lost answers "already exists" when repeated.
//! - Deleting a pool deletes its SpotBids through the API (their finalizer cancels or orphans
//!   each bid) and keeps the pool's own finalizer until none is left: no garbage collector needed.

use super::children::{child_view, in_place_patch, is_owned_by, new_child, template_hash};
use super::plan::{Child, PoolInput, PoolPlan, Step, plan};
use super::report::{Outcome, Report, events, status};
use crate::controller::machinery::events::publish_event;
use crate::controller::machinery::finalizer::with_finalizer;
use crate::controller::{Context, Error, status::apply_status};
use crate::crd::{POOL_LABEL, SpotBid, SpotPool, SpotPoolStatus, Time, status_changed};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::Event as Finalized;
use kube::{Api, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The controller's name in metrics and logs.
pub const CONTROLLER: &str = "spotpool";
/// The finalizer that deletes a pool's SpotBids before the pool goes.
pub const FINALIZER: &str = "mithril.ai/spot-pool";
/// How soon a pool with more steps to take, or SpotBids still going, is looked at again (their
/// watch events usually come sooner).
const NEXT_STEP: Duration = Duration::from_secs(2);

/// Entry point for kube-runtime: times the reconcile and resets backoff on success.
pub async fn reconcile(pool: Arc<SpotPool>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!("reconcile", controller = CONTROLLER, namespace = pool.namespace().unwrap_or_default(), name = %pool.name_any());
    let result = tracing::Instrument::instrument(reconcile_pool(pool.clone(), &ctx), span).await;
    ctx.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(|error| error.reason().label()),
    );
    if result.is_ok() {
        ctx.backoff.succeeded(&pool.uid().unwrap_or_default());
    }
    result
}

/// Entry point for kube-runtime on failure: per-object exponential backoff.
pub fn error_policy(pool: Arc<SpotPool>, error: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.backoff.failed(&pool.uid().unwrap_or_default());
    tracing::warn!(namespace = pool.namespace().unwrap_or_default(), name = %pool.name_any(), %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

async fn reconcile_pool(pool: Arc<SpotPool>, ctx: &Context) -> Result<Action, Error> {
    let namespace = pool.namespace().unwrap_or_default();
    let pools: Api<SpotPool> = Api::namespaced(ctx.kube.clone(), &namespace);
    let spot_bids: Api<SpotBid> = Api::namespaced(ctx.kube.clone(), &namespace);
    if pool.meta().deletion_timestamp.is_some() {
        return delete_children(&pools, &spot_bids, &pool).await;
    }
    let (pools_api, spot_bids_api) = (&pools, &spot_bids);
    with_finalizer(&pools, FINALIZER, pool, move |event| async move {
        match event {
            Finalized::Apply(pool) => apply(pools_api, spot_bids_api, &pool, ctx).await,
            // Deletion is handled above, before the finalizer helper would remove the finalizer.
            Finalized::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// The SpotBids `pool` controls.
async fn children(spot_bids: &Api<SpotBid>, pool: &SpotPool) -> Result<Vec<SpotBid>, Error> {
    let selector = format!("{POOL_LABEL}={}", pool.name_any());
    let listed = spot_bids
        .list(&ListParams::default().labels(&selector))
        .await?;
    Ok(listed
        .items
        .into_iter()
        .filter(|child| is_owned_by(child, pool))
        .collect())
}

async fn apply(
    pools: &Api<SpotPool>,
    spot_bids: &Api<SpotBid>,
    pool: &SpotPool,
    ctx: &Context,
) -> Result<Action, Error> {
    let spec = &pool.spec;
    let found = children(spot_bids, pool).await?;
    let views: Vec<Child> = found
        .iter()
        .map(|child| child_view(child, &spec.template))
        .collect();
    let (name, hash) = (pool.name_any(), template_hash(&spec.template));
    let planned = plan(&PoolInput {
        pool: &name,
        template_hash: &hash,
        replicas: spec.replicas,
        block_size: spec.block_size,
        max_surge: spec.surge(),
        max_unavailable: spec.unavailable(),
        children: &views,
    });
    let written = match planned.steps.first() {
        None => None,
        Some(step) => Some((step, write(spot_bids, pool, &found, step).await)),
    };
    let outcome = match &written {
        None => Outcome::Idle,
        Some((step, Ok(()))) => Outcome::Done((*step).clone()),
        Some((step, Err(error))) => Outcome::Failed {
            step: (*step).clone(),
            error: error.to_string(),
        },
    };
    let phases: BTreeMap<String, Option<String>> = found
        .iter()
        .map(|child| {
            let phase = child.status.as_ref().and_then(|s| s.phase);
            (child.name_any(), phase.map(|p| format!("{p:?}")))
        })
        .collect();
    report(pools, pool, ctx, &views, &phases, &planned, &outcome).await?;
    if let Some((_, Err(error))) = written {
        // Reported in the status; retried with the pool's backoff.
        return Err(error.into());
    }
    Ok(if planned.steps.is_empty() && planned.hold.is_none() {
        Action::requeue(ctx.config.resync)
    } else {
        Action::requeue(NEXT_STEP)
    })
}

/// Makes one step. A create finding its SpotBid already there (a repeat after a lost answer)
/// and a delete finding it gone are done.
async fn write(
    spot_bids: &Api<SpotBid>,
    pool: &SpotPool,
    found: &[SpotBid],
    step: &Step,
) -> Result<(), kube::Error> {
    let result = match step {
        Step::Create { name, quantity } => spot_bids
            .create(&PostParams::default(), &new_child(pool, name, *quantity))
            .await
            .map(drop),
        Step::Update { name } => {
            let Some(patch) = found
                .iter()
                .find(|child| child.name_any() == *name)
                .and_then(|child| in_place_patch(&child.spec, &pool.spec.template))
            else {
                return Ok(());
            };
            spot_bids
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Step::Delete { name, .. } => spot_bids
            .delete(name, &DeleteParams::default())
            .await
            .map(drop),
    };
    match result {
        Err(kube::Error::Api(status))
            if (status.code == 409 && matches!(step, Step::Create { .. }))
                || (status.code == 404 && matches!(step, Step::Delete { .. })) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Writes the status when it changed, then publishes the events it calls for.
#[allow(clippy::too_many_arguments)]
async fn report(
    pools: &Api<SpotPool>,
    pool: &SpotPool,
    ctx: &Context,
    views: &[Child],
    phases: &BTreeMap<String, Option<String>>,
    planned: &PoolPlan,
    outcome: &Outcome,
) -> Result<(), Error> {
    let previous: Option<&SpotPoolStatus> = pool.status.as_ref();
    let new = status(
        previous,
        &Report {
            pool: &pool.name_any(),
            replicas: pool.spec.replicas,
            children: views,
            phases,
            plan: planned,
            outcome,
            generation: pool.metadata.generation,
            now: Time::new((ctx.clock)()),
        },
    );
    if status_changed(previous, &new) {
        apply_status(pools, pool, &new).await?;
    }
    for event in events(previous, &new, outcome) {
        publish_event(&ctx.recorder, pool, &event).await;
    }
    Ok(())
}

/// The pool is being deleted: deletes its SpotBids, and lets the pool go once none is left.
async fn delete_children(
    pools: &Api<SpotPool>,
    spot_bids: &Api<SpotBid>,
    pool: &SpotPool,
) -> Result<Action, Error> {
    let Some(position) = pool.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(Action::await_change());
    };
    let found = children(spot_bids, pool).await?;
    if let Some(child) = found
        .iter()
        .find(|child| child.meta().deletion_timestamp.is_none())
    {
        match spot_bids
            .delete(&child.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
        return Ok(Action::requeue(NEXT_STEP));
    }
    if !found.is_empty() {
        // Their finalizers are cancelling (or orphaning) the bids; their deletion wakes the pool.
        return Ok(Action::requeue(NEXT_STEP));
    }
    // By index, with a `test`: never remove another finalizer that moved into its place.
    let path = format!("/metadata/finalizers/{position}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        { "op": "test", "path": path, "value": FINALIZER },
        { "op": "remove", "path": path },
    ]))
    .expect("a well-formed JSON patch");
    match pools
        .patch(
            &pool.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(error.into()),
    }
}
