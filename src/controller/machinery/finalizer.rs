//! A finalizer guarding cleanup, added and used in one reconcile.
//!
//! kube-runtime's `finalizer` helper adds the finalizer and ends the reconcile, waiting for the
//! watch event of that patch to start the next one: one extra reconcile per new resource. Here the
//! patch's answer is the object as stored, finalizer included, and the same reconcile carries on
//! with it: the finalizer is persisted before any external write (BENCHMARKS.md, round 1).
//!
//! The reconcile's object comes from the controller's cache, which may not yet show a finalizer
//! added a moment ago (a Mithril change can wake the resource before the watch delivers the
//! patch). The patch then fails its `test`; that is no failure of the reconcile (no error, no
//! warning): it is tried again shortly, when the cache has caught up.

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Error, Event};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// How soon a reconcile whose cached object was behind the server runs again: the watch
/// delivers the newer object within milliseconds.
const CACHE_BEHIND_RETRY: Duration = Duration::from_secs(1);

/// Runs `reconcile` for `object` under the finalizer `name`: adds it first when missing (and
/// carries on with the patched object), and removes it after a successful cleanup. A resource
/// being deleted without the finalizer is left alone. The same contract and errors as
/// kube-runtime's `finalizer`.
pub async fn with_finalizer<K, E, F, Fut>(
    api: &Api<K>,
    name: &str,
    object: Arc<K>,
    reconcile: F,
) -> Result<Action, Error<E>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    E: std::error::Error + 'static,
    F: FnOnce(Event<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    let position = object.finalizers().iter().position(|f| f == name);
    let deleting = object.meta().deletion_timestamp.is_some();
    match (position, deleting) {
        (Some(_), false) => reconcile(Event::Apply(object))
            .await
            .map_err(Error::ApplyFailed),
        (Some(position), true) => {
            let action = reconcile(Event::Cleanup(object.clone()))
                .await
                .map_err(Error::CleanupFailed)?;
            remove(api, name, &object, position).await?;
            Ok(action)
        }
        // Being deleted and never guarded (or already cleaned up): nothing of ours to undo.
        (None, true) => Ok(Action::await_change()),
        (None, false) => {
            let Some(object) = add(api, name, &object).await? else {
                tracing::debug!(object = %object.name_any(), "cached object behind the server; finalizer not added yet");
                return Ok(Action::requeue(CACHE_BEHIND_RETRY));
            };
            if object.meta().deletion_timestamp.is_some() {
                // Deleted in the meantime: the next reconcile (the deletion's watch event) cleans up.
                return Ok(Action::await_change());
            }
            reconcile(Event::Apply(Arc::new(object)))
                .await
                .map_err(Error::ApplyFailed)
        }
    }
}

/// Adds the finalizer; returns the stored object, or `None` when `object` (from the cache) is
/// behind the stored one (the patch's `test` failed).
async fn add<K, E>(api: &Api<K>, name: &str, object: &K) -> Result<Option<K>, Error<E>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    E: std::error::Error + 'static,
{
    let finalizers = object.finalizers();
    // `test` the list as read, so a finalizer someone else added meanwhile is neither lost nor
    // duplicated: the patch fails instead.
    let operations = if finalizers.is_empty() {
        serde_json::json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [name] },
        ])
    } else {
        serde_json::json!([
            { "op": "test", "path": "/metadata/finalizers", "value": finalizers },
            { "op": "add", "path": "/metadata/finalizers/-", "value": name },
        ])
    };
    let patch: json_patch::Patch =
        serde_json::from_value(operations).map_err(|_| Error::InvalidFinalizer)?;
    let object_name = object.name_any();
    match api
        .patch(
            &object_name,
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(patched) => Ok(Some(patched)),
        Err(error) if is_stale(&error) => Ok(None),
        Err(error) => Err(Error::AddFinalizer(error)),
    }
}

/// A failed JSON-patch `test` (422) or a conflicting write (409): the object changed since read.
fn is_stale(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 422 || status.code == 409)
}

async fn remove<K, E>(api: &Api<K>, name: &str, object: &K, position: usize) -> Result<(), Error<E>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    E: std::error::Error + 'static,
{
    // By index, with a `test`: never remove someone else's finalizer that moved into its place.
    let path = format!("/metadata/finalizers/{position}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        { "op": "test", "path": path, "value": name },
        { "op": "remove", "path": path },
    ]))
    .map_err(|_| Error::InvalidFinalizer)?;
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(patch),
    )
    .await
    .map_err(Error::RemoveFinalizer)?;
    Ok(())
}
