//! Wiring the SpotBid controller: watch (managedFields stripped), Mithril change triggers, run.

use super::reconcile::{CONTROLLER, SpotBidContext, error_policy, reconcile};
use crate::controller::Context;
use crate::controller::wiring::{export_phase_counts, scoped_api};
use crate::crd::SpotBid;
use futures::{StreamExt, future, stream};
use kube::runtime::controller::Config;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use std::future::Future;
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
        // managedFields are a large share of each object and never read: at 10,000 resources the
        // cache would hold megabytes of them.
        .modify(|resource: &mut SpotBid| resource.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();

    let ctx = Arc::new(SpotBidContext::new(shared.clone()));
    let triggers = {
        let (ctx, store) = (ctx.clone(), store.clone());
        shared
            .registry
            .subscribe()
            .flat_map(move |change| stream::iter(ctx.index.resources_for(&change, &store)))
    };
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
