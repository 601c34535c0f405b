//! Wiring the SpotBid controller: a metadata-only watch (unread metadata trimmed), Mithril change
//! triggers and the paced resync through the trigger gate, run.
//!
//! The controller caches each SpotBid's metadata only, and every reconcile reads the whole
//! resource from the API server first. At 10,000 resources the cached objects were the largest
//! share of the operator's memory (about 2.3 KB each, spec and status with their strings, where
//! the metadata is about a quarter of that), and a reconcile of a resource whose spec or
//! deletion changed reads it anyway to act on what it says now; the read costs one GET on the
//! API server per reconcile, never a Mithril request.
//!
//! Not every watch event is worth a reconcile. The operator's own writes (the status after every
//! reconcile, the finalizer it adds before placing a bid) come back through the watch; at 10,000
//! resources reconciling again for each would double or triple the work while converging, and
//! each such reconcile reads a status the reconcile before it has just written. Mithril-side
//! changes arrive through the observers' change stream instead, and every resource is revisited
//! once each resync interval as a safety net, paced over the interval
//! ([`crate::controller::machinery::resync`]). All three wait in one trigger gate
//! ([`crate::controller::machinery::trigger_gate`]), oldest first, until a worker is free.

use super::cancelling::cancel_bid;
use super::names::{parse_bid_name, uid_tag};
use super::reconcile::{
    CONTROLLER, CONTROLLER_KIND, FINALIZER, OBSERVE_ONLY_ANNOTATION, RECONCILE_PAUSED_ANNOTATION,
    SpotBidContext, error_policy, reconcile,
};
use super::sweep::{Scope, Sweeper};
use super::watched::Watched;
use crate::controller::Context;
use crate::controller::machinery::resync::paced_resync;
use crate::controller::machinery::triggers::{
    MITHRIL_CHANGE, OBJECT_UPDATED, PACED_RESYNC, SECRET_CHANGED, Triggers,
};
use crate::controller::machinery::worthy_changes::worthy_changes;
use crate::controller::secret_wakeups::secret_wakeups;
use crate::controller::wiring::{
    export_phase_counts, scheduling_ref, scoped_api, trim_cached_metadata,
};
use crate::crd::Reason;
use crate::digest::digest;
use futures::{StreamExt, TryStreamExt, future};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;

/// Runs the SpotBid controller over `namespace` (all namespaces: `None`) until `shutdown`
/// completes; in-flight reconciles finish first.
pub async fn run(
    shared: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    // An API of metadata: kube asks for PartialObjectMetadata in every list and watch.
    let api: Api<Watched> = scoped_api(shared.kube.clone(), namespace);
    let (store, writer) = reflector::store();
    // The store's own readiness wakes a single waiter (the controller's), so the sweeper is told
    // here that the first list is in.
    let (listed, first_list) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(SpotBidContext::new(shared.clone()));
    let forget = (ctx.clone(), store.clone(), namespace.map(str::to_owned));
    let gate = ctx.gate.clone();
    let resources = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|resource: &mut Watched| trim_cached_metadata(&mut resource.metadata))
        .reflect(writer)
        .inspect_ok(move |event| match event {
            // A deleted resource is never reconciled again (kube-runtime skips what left the
            // cache): what it used is let go of here.
            watcher::Event::Delete(resource) => {
                let reference = ObjectRef::from_obj(resource);
                forget
                    .0
                    .forget(&reference, resource.metadata.uid.as_deref());
            }
            // A relist shows no deletion made while the watch was down: what it no longer
            // lists is gone.
            watcher::Event::InitDone => {
                forget.0.forget_vanished(&forget.1, forget.2.as_deref());
                gate.list_done();
                listed.send_replace(true);
            }
            // The list's resources reach the cache at its end: triggers wait until then.
            watcher::Event::Init => gate.list_started(),
            _ => {}
        });
    // The store above keeps every version; only changes a reconcile acts on wake one, and they
    // wait in the gate with the rest (oldest first), the watch yielding only its errors.
    let resources = {
        let gate = ctx.gate.clone();
        worthy_changes(resources, reconcile_worthy).filter_map(move |event| {
            future::ready(match event {
                Ok(resource) => {
                    gate.push(Arc::new(scheduling_ref(&resource)), OBJECT_UPDATED);
                    None
                }
                Err(error) => Some(Err(error)),
            })
        })
    };
    // Mithril-side changes are read as they come (a subscriber that falls behind gets a resync
    // of everything), and the paced resync comes due: both wait in the gate.
    // Every task beside the controller ends with it, also when its future is dropped mid-flight.
    let forward_task = {
        let (ctx, store) = (ctx.clone(), store.clone());
        let mut changes = shared.registry.subscribe();
        AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                for resource in ctx.index.resources_for(&change, &store) {
                    ctx.gate.push(resource, MITHRIL_CHANGE);
                }
            }
        }))
    };
    let resync_task = {
        let gate = ctx.gate.clone();
        let due = paced_resync(store.clone(), shared.config.resync);
        AbortOnDropHandle::new(tokio::spawn(async move {
            let mut due = std::pin::pin!(due);
            while let Some(resource) = due.next().await {
                gate.push_background(Arc::new(resource), PACED_RESYNC);
            }
        }))
    };
    let _sweep_task = shared.config.orphan_grace.map(|grace| {
        AbortOnDropHandle::new(tokio::spawn(sweep_orphans(
            shared.clone(),
            namespace.map(str::to_owned),
            (store.clone(), first_list),
            grace,
        )))
    });
    let metrics_task = {
        let ctx = ctx.clone();
        AbortOnDropHandle::new(tokio::spawn(export_phase_counts(
            shared.metrics.clone(),
            CONTROLLER,
            store.clone(),
            move |resources: &[Arc<Watched>]| {
                ctx.phases
                    .count(resources.iter().filter_map(|r| r.metadata.uid.as_deref()))
            },
        )))
    };

    Triggers::watch(resources)
        .each_named(ctx.gate.clone().triggers(store.clone()))
        .named(
            SECRET_CHANGED,
            secret_wakeups(shared.clone(), namespace, CONTROLLER_KIND),
        )
        .run(
            store,
            shared.config.concurrency,
            shutdown,
            reconcile,
            error_policy,
            ctx,
        )
        .await;
    drop((metrics_task, forward_task, resync_task));
}

/// Cancels the live bids this cluster placed whose SpotBid is gone ([`Sweeper`]), looking every
/// quarter of the grace. Only synced observers and a filled cache are judged: nothing is an
/// orphan for want of looking. With no resource left to carry an event, each cancel is a log
/// line and a metric.
async fn sweep_orphans(
    shared: Arc<Context>,
    namespace: Option<String>,
    (store, mut first_list): (
        reflector::Store<Watched>,
        tokio::sync::watch::Receiver<bool>,
    ),
    grace: Duration,
) {
    if first_list.wait_for(|listed| *listed).await.is_err() {
        return;
    }
    let mut sweeper = Sweeper::new(grace);
    let every = (grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let cluster = shared.config.cluster.clone();
    loop {
        tokio::time::sleep(every).await;
        let uids: HashSet<String> = store
            .state()
            .iter()
            .filter_map(|resource| resource.metadata.uid.as_deref().map(uid_tag))
            .collect();
        let scope = Scope {
            cluster: &cluster,
            namespace: namespace.as_deref(),
            uids: &uids,
        };
        // Only the candidates are copied out of the cache: this cluster's bids whose uid no
        // SpotBid has (the sweeper checks the namespace and the grace).
        let ours = |name: &str| {
            parse_bid_name(name).is_some_and(|parsed| {
                parsed.cluster == Some(cluster.as_str()) && !uids.contains(parsed.uid)
            })
        };
        let observers: Vec<_> = shared
            .registry
            .observers()
            .into_iter()
            .filter(|observer| observer.is_synced())
            .map(|observer| {
                let live = observer.live_bids_named(ours);
                (observer, live)
            })
            .collect();
        let live = observers
            .iter()
            .flat_map(|(_, live)| live.iter().map(|(fid, name)| (fid.as_str(), name.as_str())));
        for fid in sweeper.due(&scope, live, tokio::time::Instant::now()) {
            let Some((observer, live)) = observers
                .iter()
                .find(|(_, live)| live.iter().any(|(f, _)| *f == fid))
            else {
                continue;
            };
            let name = live
                .iter()
                .find(|(f, _)| *f == fid)
                .map_or("", |(_, name)| name.as_str());
            match cancel_bid(observer.client(), Some(observer), &fid).await {
                Ok(()) => {
                    sweeper.cancelled(&fid);
                    shared.metrics.safety_cancel(Reason::OrphanBidCancelled);
                    tracing::warn!(bid = %fid, name, project = observer.project(), "cancelled a bid whose SpotBid no longer exists");
                }
                Err(error) => {
                    tracing::warn!(bid = %fid, name, %error, "could not cancel an orphaned bid; trying again");
                }
            }
        }
    }
}

/// What of a SpotBid's metadata a reconcile acts on, hashed: the spec (its generation), deletion,
/// other controllers' finalizers and the annotations the reconcile reads. The resourceVersion
/// (moved by every status the operator writes) and the operator's own finalizer (which it adds
/// itself) are left out: both change in a reconcile that already acted on the resource. (Someone
/// removing the operator's finalizer by hand is noticed at the next resync.)
fn reconcile_worthy(resource: &Watched) -> u64 {
    let others: Vec<&String> = resource
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let annotations = [OBSERVE_ONLY_ANNOTATION, RECONCILE_PAUSED_ANNOTATION]
        .map(|a| resource.annotations().get(a));
    digest(&(
        resource.metadata.generation,
        resource.metadata.deletion_timestamp.is_some(),
        others,
        annotations,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;
    use kube::core::PartialObjectMetaExt;

    fn spot_bid() -> Watched {
        ObjectMeta {
            name: Some("bid".into()),
            namespace: Some("team".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        }
        .into_response_partial()
    }

    #[test]
    fn the_operators_own_writes_do_not_wake_the_resource() {
        let created = spot_bid();
        let mut written = created.clone();
        written.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
        written.metadata.resource_version = Some("42".into());
        assert_eq!(reconcile_worthy(&created), reconcile_worthy(&written));
    }

    #[test]
    fn spec_deletion_annotations_and_other_finalizers_wake_the_resource() {
        let created = spot_bid();
        let mut edited = created.clone();
        edited.metadata.generation = Some(2);
        let mut deleting = created.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        let mut paused = created.clone();
        paused
            .annotations_mut()
            .insert(RECONCILE_PAUSED_ANNOTATION.into(), "true".into());
        let mut observe_only = created.clone();
        observe_only
            .annotations_mut()
            .insert(OBSERVE_ONLY_ANNOTATION.into(), "true".into());
        let mut guarded = created.clone();
        guarded.metadata.finalizers = Some(vec!["example.com/other".into()]);
        let mut unrelated = created.clone();
        unrelated
            .annotations_mut()
            .insert("example.com/note".into(), "x".into());
        for changed in [&edited, &deleting, &paused, &observe_only, &guarded] {
            assert_ne!(reconcile_worthy(&created), reconcile_worthy(changed));
        }
        assert_eq!(reconcile_worthy(&created), reconcile_worthy(&unrelated));
    }
}
