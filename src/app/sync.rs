//! When the operator counts as synced (for `/readyz`): once every watched namespace's resources
//! of each enabled kind have been listed in full, the same initial lists the controllers'
//! reflectors make.

use crate::crd::{InstanceSchedule, SpotBid, SpotPool};
use futures::StreamExt;
use futures::future::BoxFuture;
use kube::api::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Completes once every enabled kind in every namespace watched (all: empty `namespaces`) has
/// been listed, retrying with backoff while the API server refuses.
pub async fn initial_lists(
    client: Client,
    namespaces: Vec<String>,
    spot_bids: bool,
    instance_schedules: bool,
    spot_pools: bool,
) {
    let mut lists: Vec<BoxFuture<'static, ()>> = Vec::new();
    if spot_bids {
        lists.extend(apis::<SpotBid>(&client, &namespaces).map(listed));
    }
    if instance_schedules {
        lists.extend(apis::<InstanceSchedule>(&client, &namespaces).map(listed));
    }
    if spot_pools {
        lists.extend(apis::<SpotPool>(&client, &namespaces).map(listed));
    }
    futures::future::join_all(lists).await;
}

fn apis<K>(
    client: &Client,
    namespaces: &[String],
) -> impl Iterator<Item = Api<PartialObjectMeta<K>>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    let all = namespaces.is_empty().then(|| Api::all(client.clone()));
    let each = namespaces
        .iter()
        .map(|namespace| Api::namespaced(client.clone(), namespace))
        .collect::<Vec<_>>();
    all.into_iter().chain(each)
}

/// A metadata-only watch (`PartialObjectMeta`: paged initial list, no object bodies), dropped
/// as soon as the list is complete: nothing is kept, only the fact that the list went through.
fn listed<K>(api: Api<PartialObjectMeta<K>>) -> BoxFuture<'static, ()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    Box::pin(async move {
        let kind = K::kind(&()).into_owned();
        let mut events = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitDone) => return,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, kind, "listing for readiness"),
            }
        }
    })
}
