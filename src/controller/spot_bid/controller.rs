//! Wiring the SpotBid controller: watch (unread metadata trimmed), Mithril change triggers, run.
//!
//! Not every watch event is worth a reconcile. The operator's own writes (the status after every
//! reconcile, the finalizer it adds before placing a bid) come back through the watch; at 10,000
//! resources reconciling again for each would double or triple the work while converging, and
//! each such reconcile reads a status the reconcile before it has just written. Mithril-side
//! changes arrive through the observers' change stream instead, and every resource is revisited
//! once each resync interval as a safety net, paced over the interval ([`crate::controller::resync`]).

use super::reconcile::{
    CONTROLLER, FINALIZER, OBSERVE_ONLY_ANNOTATION, RECONCILE_PAUSED_ANNOTATION, SpotBidContext,
    error_policy, reconcile,
};
use crate::controller::Context;
use crate::controller::resync::paced_resync;
use crate::controller::wiring::{export_phase_counts, scoped_api, trim_cached_metadata};
use crate::crd::SpotBid;
use futures::{StreamExt, future, stream};
use kube::runtime::controller::Config;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Runs the SpotBid controller over `namespace` (all namespaces: `None`) until `shutdown`
/// completes; in-flight reconciles finish first.
pub async fn run(
    shared: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<SpotBid> = scoped_api(shared.kube.clone(), namespace);
    let (store, writer) = reflector::store();
    let resources = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|resource: &mut SpotBid| trim_cached_metadata(&mut resource.metadata))
        .reflect(writer)
        .touched_objects()
        // The store above keeps every version; only changes a reconcile acts on wake one.
        .predicate_filter(reconcile_worthy, Default::default());

    let ctx = Arc::new(SpotBidContext::new(shared.clone()));
    let triggers = {
        let (ctx, store) = (ctx.clone(), store.clone());
        shared
            .registry
            .subscribe()
            .flat_map(move |change| stream::iter(ctx.index.resources_for(&change, &store)))
    };
    let triggers = stream::select(triggers, paced_resync(store.clone(), shared.config.resync));
    let metrics_task = tokio::spawn(export_phase_counts(
        shared.metrics.clone(),
        CONTROLLER,
        store.clone(),
        |resource: &SpotBid| resource.status.as_ref()?.phase.map(|p| format!("{p:?}")),
    ));

    Controller::for_stream(resources, store)
        .with_config(Config::default().concurrency(shared.config.concurrency))
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
    metrics_task.abort();
}

/// What of a SpotBid's metadata and spec a reconcile acts on, hashed: the spec (its generation),
/// deletion, other controllers' finalizers and the annotations the reconcile reads. Status and
/// this operator's own finalizer are left out: the operator writes them itself, in the reconcile
/// that already acted on them. (Someone removing the operator's finalizer by hand is noticed at
/// the next resync.)
fn reconcile_worthy(resource: &SpotBid) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    resource.metadata.generation.hash(&mut hasher);
    resource
        .metadata
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    for finalizer in resource.finalizers().iter().filter(|f| *f != FINALIZER) {
        finalizer.hash(&mut hasher);
    }
    for annotation in [OBSERVE_ONLY_ANNOTATION, RECONCILE_PAUSED_ANNOTATION] {
        resource.annotations().get(annotation).hash(&mut hasher);
    }
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{SpotBidSpec, SpotBidStatus};
    use kube::api::ObjectMeta;

    fn spot_bid() -> SpotBid {
        let spec: SpotBidSpec = serde_json::from_value(serde_json::json!({
            "project": "proj", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "limitPrice": "$2.00", "instanceQuantity": 1,
        }))
        .expect("a valid spec");
        let mut resource = SpotBid::new("bid", spec);
        resource.metadata = ObjectMeta {
            name: Some("bid".into()),
            namespace: Some("team".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        };
        resource
    }

    #[test]
    fn the_operators_own_writes_do_not_wake_the_resource() {
        let created = spot_bid();
        let mut written = created.clone();
        written.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
        written.metadata.resource_version = Some("42".into());
        written.status = Some(SpotBidStatus::default());
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
