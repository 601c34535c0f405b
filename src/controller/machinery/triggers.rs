//! A controller whose every trigger is named: kube-runtime's `Controller::reconcile_on` calls each
//! trigger of the operator's own `unknown`; here each stream says what it is (`mithril change`,
//! `paced resync`, `secret changed`, ...), which kube-runtime's reconcile span carries into the
//! trigger metric. The rest is kube-runtime's own `applier`, run as `Controller::run` runs it.

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt, future};
use kube::Resource;
use kube::runtime::controller::{Action, ReconcileReason, ReconcileRequest};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::CancelableJoinHandle;
use kube::runtime::{Config, applier, watcher};
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use tracing::Instrument;

/// The resource's own watch event (kube-runtime's `object updated`), when it waits in a gate.
pub const OBJECT_UPDATED: &str = "object updated";
/// Changes seen on Mithril by the observers (through the trigger gate for SpotBids).
pub const MITHRIL_CHANGE: &str = "mithril change";
/// The periodic revisit of every resource ([`super::resync`]).
pub const PACED_RESYNC: &str = "paced resync";
/// A key Secret a resource names was created, changed or deleted.
pub const SECRET_CHANGED: &str = "secret changed";
/// Another schedule's claims on instances changed (it was deleted or no longer selects them).
pub const CLAIMS_CHANGED: &str = "claims changed";
/// A driven schedule clock moved (tests): what has come due is reconciled.
pub const CLOCK_MOVED: &str = "clock moved";

type Queue<K> = BoxStream<'static, Result<ReconcileRequest<K>, watcher::Error>>;

/// The streams that wake a controller's reconciles, each with its name.
pub struct Triggers<K: Resource> {
    queues: Vec<Queue<K>>,
}

impl<K> Triggers<K>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Default + Debug + Eq + Hash + Clone + Unpin + Send + Sync,
{
    /// The resources' own watch events (kube-runtime's `object updated`).
    pub fn watch(
        resources: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    ) -> Self {
        let queue = resources
            .map_ok(|resource| ReconcileRequest {
                obj_ref: ObjectRef::from_obj(&resource),
                reason: ReconcileReason::ObjectUpdated,
            })
            .boxed();
        Self {
            queues: vec![queue],
        }
    }

    /// Reconciles of the resources `trigger` names, counted as `reason`.
    pub fn named(
        self,
        reason: &'static str,
        trigger: impl Stream<Item = ObjectRef<K>> + Send + 'static,
    ) -> Self {
        self.each_named(trigger.map(move |obj_ref| (obj_ref, reason)))
    }

    /// Reconciles of the resources `trigger` names, each counted as the reason it comes with.
    pub fn each_named(
        mut self,
        trigger: impl Stream<Item = (ObjectRef<K>, &'static str)> + Send + 'static,
    ) -> Self {
        let queue = trigger
            .map(|(obj_ref, reason)| {
                Ok(ReconcileRequest {
                    obj_ref,
                    reason: ReconcileReason::Custom {
                        reason: reason.to_owned(),
                    },
                })
            })
            .boxed();
        self.queues.push(queue);
        self
    }

    /// Runs `reconcile` over `store`'s resources, `concurrency` at a time, until `shutdown`
    /// completes; in-flight reconciles finish first (as `Controller::graceful_shutdown_on`).
    pub async fn run<Ctx, E, Fut>(
        self,
        store: Store<K>,
        concurrency: u16,
        shutdown: impl Future<Output = ()> + Send + 'static,
        mut reconcile: impl FnMut(Arc<K>, Arc<Ctx>) -> Fut,
        error_policy: impl Fn(Arc<K>, &E, Arc<Ctx>) -> Action,
        ctx: Arc<Ctx>,
    ) where
        Ctx: Send + Sync + 'static,
        E: std::error::Error + Send + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
    {
        let queue = stream::select_all(self.queues).take_until(shutdown);
        applier(
            // Each reconcile is a task of its own, as `Controller::run` spawns it.
            move |resource, ctx| {
                CancelableJoinHandle::spawn(
                    reconcile(resource, ctx).in_current_span(),
                    &tokio::runtime::Handle::current(),
                )
            },
            error_policy,
            ctx,
            store,
            queue,
            Config::default().concurrency(concurrency),
        )
        .for_each(|_| future::ready(()))
        .await;
    }
}
