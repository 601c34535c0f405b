//! Wiring the SpotBid controller: a metadata-only watch (unread metadata trimmed), Mithril change
//! triggers, run.
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
//! changes arrive through the observers' change stream instead (waiting in a trigger gate,
//! [`crate::controller::trigger_gate`], until the controller is ready for them), and every
//! resource is revisited once each resync interval as a safety net, paced over the interval
//! ([`crate::controller::resync`]).

use super::reconcile::{
    CONTROLLER, FINALIZER, OBSERVE_ONLY_ANNOTATION, RECONCILE_PAUSED_ANNOTATION, SpotBidContext,
    error_policy, reconcile,
};
use crate::controller::Context;
use crate::controller::digest::digest;
use crate::controller::resync::paced_resync;
use crate::controller::wiring::{export_phase_counts, scoped_api, trim_cached_metadata};
use crate::controller::worthy_changes::worthy_changes;
use crate::crd::SpotBid;
use futures::{StreamExt, future, stream};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Config;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use std::future::Future;
use std::sync::Arc;

/// What the controller caches and schedules of a SpotBid: its metadata.
pub type Watched = PartialObjectMeta<SpotBid>;

/// The controller's reference to `resource` (name and namespace: what scheduling compares).
pub fn watched_ref(resource: &SpotBid) -> ObjectRef<Watched> {
    let reference = ObjectRef::new(&resource.name_any());
    match resource.namespace() {
        Some(namespace) => reference.within(&namespace),
        None => reference,
    }
}

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
    let resources = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|resource: &mut Watched| trim_cached_metadata(&mut resource.metadata))
        .reflect(writer);
    // The store above keeps every version; only changes a reconcile acts on wake one.
    let resources = worthy_changes(resources, reconcile_worthy);

    let ctx = Arc::new(SpotBidContext::new(shared.clone()));
    // Mithril-side changes are read as they come (a subscriber that falls behind gets a resync
    // of everything) and wait in the gate until the controller is ready for them.
    let forward_task = {
        let (ctx, store) = (ctx.clone(), store.clone());
        let mut changes = shared.registry.subscribe();
        tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                for resource in ctx.index.resources_for(&change, &store) {
                    ctx.gate.push(resource);
                }
            }
        })
    };
    let triggers = stream::select(
        ctx.gate.clone().triggers(store.clone()),
        paced_resync(store.clone(), shared.config.resync),
    );
    let metrics_task = {
        let ctx = ctx.clone();
        tokio::spawn(export_phase_counts(
            shared.metrics.clone(),
            CONTROLLER,
            store.clone(),
            move |resources: &[Arc<Watched>]| {
                ctx.phases
                    .count(resources.iter().filter_map(|r| r.metadata.uid.as_deref()))
            },
        ))
    };

    Controller::for_stream(resources, store)
        .with_config(Config::default().concurrency(shared.config.concurrency))
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
    metrics_task.abort();
    forward_task.abort();
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

    #[test]
    fn a_resource_and_its_cached_metadata_have_the_same_reference() {
        let spec: crate::crd::SpotBidSpec = serde_json::from_value(serde_json::json!({
            "project": "proj", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "limitPrice": "$2.00", "instanceQuantity": 1,
        }))
        .expect("a valid spec");
        let mut resource = SpotBid::new("train", spec);
        resource.metadata.namespace = Some("ml".into());
        resource.metadata.uid = Some("uid-1".into());
        let watched: Watched = resource.metadata.clone().into_response_partial();
        assert_eq!(watched_ref(&resource), ObjectRef::from_obj(&watched));
    }
}
