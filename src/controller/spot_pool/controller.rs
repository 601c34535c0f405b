//! Wiring the SpotPool controller: a watch of the pools, and of their SpotBids' metadata (any
//! change to a SpotBid wakes the pool controlling it), run.

use super::reconcile::{CONTROLLER, error_policy, reconcile};
use crate::controller::Context;
use crate::controller::machinery::listed::touched_when_cached;
use crate::controller::wiring::{count_by, export_phase_counts, scoped_api, trim_cached_metadata};
use crate::crd::{POOL_LABEL, SpotBid, SpotPool};
use futures::{StreamExt, future};
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Config;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use std::future::Future;
use std::sync::Arc;
use tokio_util::task::AbortOnDropHandle;

/// Runs the SpotPool controller over `namespace` (all namespaces: `None`) until `shutdown`
/// completes; in-flight reconciles finish first.
pub async fn run(
    shared: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<SpotPool> = scoped_api(shared.kube.clone(), namespace);
    let (store, writer) = reflector::store();
    // Each pool reaches the controller once its cache shows it (a relist's at the list's end).
    let pools = touched_when_cached(
        watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|pool: &mut SpotPool| trim_cached_metadata(&mut pool.metadata))
            .reflect(writer),
    );
    // Only SpotBids carrying the pool label; the owner reference says which pool.
    let spot_bids: Api<PartialObjectMeta<SpotBid>> = scoped_api(shared.kube.clone(), namespace);
    let children = watcher(
        spot_bids,
        watcher::Config::default().labels(POOL_LABEL).any_semantic(),
    )
    .default_backoff()
    .touched_objects();
    // Pools are counted by whether they are Ready.
    let metrics_task = AbortOnDropHandle::new(tokio::spawn(export_phase_counts(
        shared.metrics.clone(),
        CONTROLLER,
        store.clone(),
        |pools: &[Arc<SpotPool>]| {
            count_by(pools, |pool| {
                let status = pool.status.as_ref()?;
                let ready = crate::crd::find_condition(&status.conditions, crate::crd::READY)?;
                Some(ready.reason.clone())
            })
        },
    )));

    Controller::for_stream(pools, store)
        .owns_stream(children)
        .with_config(Config::default().concurrency(shared.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, shared)
        .for_each(|_| future::ready(()))
        .await;
    drop(metrics_task);
}
