//! Wakes the resources naming a key Secret when it is created, changed or deleted, so a fixed
//! Secret is acted on within seconds rather than at the next recheck. The watch is of metadata
//! only: no Secret data reaches it; the key is read by the reconcile it wakes.

use super::Context;
use super::wiring::scoped_api;
use futures::{Stream, StreamExt, future, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use std::sync::Arc;

/// The resources of `kind` to reconcile because a Secret they name in `namespace` (all: `None`)
/// changed.
pub fn secret_wakeups<K>(
    shared: Arc<Context>,
    namespace: Option<&str>,
    kind: &'static str,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + 'static,
{
    let secrets = scoped_api::<PartialObjectMeta<Secret>>(shared.kube.clone(), namespace);
    watcher(secrets, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(|event| {
            future::ready(match event {
                // A relist shows what changed while the watch was down as InitApply.
                Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret))
                | Ok(watcher::Event::Delete(secret)) => Some(secret.metadata),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(error) => {
                    tracing::warn!(%error, "watching key Secrets failed; retrying");
                    None
                }
            })
        })
        .flat_map(move |metadata| {
            let (namespace, name) = (
                metadata.namespace.unwrap_or_default(),
                metadata.name.unwrap_or_default(),
            );
            let woken: Vec<ObjectRef<K>> = shared
                .keys
                .secret_changed(&namespace, &name)
                .into_iter()
                .filter(|user| user.kind == kind)
                .map(|user| ObjectRef::new(&user.name).within(&user.namespace))
                .collect();
            stream::iter(woken)
        })
}
