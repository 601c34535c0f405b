//! Wiring the InstanceSchedule controller: the watch (managedFields stripped), Mithril instance
//! changes, wake-ups from other schedules' claims and from the schedule clock, run.

use super::index::ScheduleKey;
use super::index::USER_KIND;
use super::reconcile::{CONTROLLER, ScheduleContext, error_policy, reconcile};
use crate::controller::Context;
use crate::controller::machinery::listed::touched_when_cached;
use crate::controller::machinery::triggers::{
    CLAIMS_CHANGED, CLOCK_MOVED, MITHRIL_CHANGE, SECRET_CHANGED, Triggers,
};
use crate::controller::secret_wakeups::secret_wakeups;
use crate::controller::wiring::{count_by, export_phase_counts, scoped_api, trim_cached_metadata};
use crate::crd::InstanceSchedule;
use futures::{Stream, StreamExt, stream};
use kube::Api;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Runs the InstanceSchedule controller over `namespace` (all namespaces: `None`) until
/// `shutdown` completes; in-flight reconciles finish first.
pub async fn run(
    shared: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    run_with_clock_moves(shared, namespace, shutdown, stream::pending()).await;
}

/// [`run`], for a schedule clock that jumps (a simulated clock in tests): each item of
/// `clock_moved` says the clock moved, and every schedule whose next transition, backoff or
/// recheck has come by the clock is reconciled. The system clock needs none of this: each
/// reconcile requeues itself for the instant it is next due.
pub async fn run_with_clock_moves(
    shared: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    clock_moved: impl Stream<Item = ()> + Send + 'static,
) {
    let api: Api<InstanceSchedule> = scoped_api(shared.kube.clone(), namespace);
    let (store, writer) = reflector::store();
    let (wake, woken) = mpsc::unbounded_channel::<ScheduleKey>();
    let ctx = Arc::new(ScheduleContext::new(shared.clone(), store.clone(), wake));

    let (forget, scope) = (ctx.clone(), namespace.map(str::to_owned));
    // Each schedule reaches the controller once its cache shows it (a relist's at the list's end).
    let schedules = touched_when_cached(
        watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|schedule: &mut InstanceSchedule| trim_cached_metadata(&mut schedule.metadata))
            .reflect(writer)
            .inspect(move |event| match event {
                // A deleted schedule is never reconciled again; the schedules it conflicted with
                // must hear that the instances are theirs now.
                Ok(watcher::Event::Delete(schedule)) => {
                    forget.forget(&ObjectRef::from_obj(schedule))
                }
                // A relist (the store already holds it) shows no deletion made while the watch was
                // down: what it no longer lists is gone.
                Ok(watcher::Event::InitDone) => forget.forget_vanished(scope.as_deref()),
                _ => {}
            }),
    );

    let changes = {
        let (ctx, store) = (ctx.clone(), store.clone());
        shared
            .registry
            .subscribe()
            .flat_map(move |change| stream::iter(ctx.index.resources_for(&change, &store)))
    };
    let due = {
        let ctx = ctx.clone();
        clock_moved.flat_map(move |()| stream::iter(ctx.index.due((ctx.shared.clock)())))
    };
    // Schedules are counted by the state they want their instances in.
    // Ends with the controller, also when its future is dropped mid-flight.
    let metrics_task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(export_phase_counts(
        shared.metrics.clone(),
        CONTROLLER,
        store.clone(),
        |schedules: &[Arc<InstanceSchedule>]| {
            count_by(schedules, |schedule| {
                let wanted = schedule.status.as_ref()?.wanted_state;
                wanted.map(|w| format!("{w:?}"))
            })
        },
    )));

    Triggers::watch(schedules)
        .named(MITHRIL_CHANGE, changes)
        .named(CLAIMS_CHANGED, UnboundedReceiverStream::new(woken))
        .named(CLOCK_MOVED, due)
        .named(
            SECRET_CHANGED,
            secret_wakeups(shared.clone(), namespace, USER_KIND),
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
    drop(metrics_task);
}
