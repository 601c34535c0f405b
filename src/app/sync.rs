//! When the operator counts as synced (for `/readyz`): once every watched namespace's SpotBids
//! have been listed in full, the same initial list the controllers' reflectors make.

use crate::crd::SpotBid;
use futures::StreamExt;
use kube::api::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

/// Completes once every namespace watched (all: empty `namespaces`) has been listed, retrying
/// with backoff while the API server refuses.
pub async fn initial_lists(client: Client, namespaces: Vec<String>) {
    let apis: Vec<Api<PartialObjectMeta<SpotBid>>> = if namespaces.is_empty() {
        vec![Api::all(client)]
    } else {
        namespaces
            .iter()
            .map(|namespace| Api::namespaced(client.clone(), namespace))
            .collect()
    };
    futures::future::join_all(apis.into_iter().map(listed)).await;
}

/// A metadata-only watch (`PartialObjectMeta`: paged initial list, no object bodies), dropped as soon as the list is
/// complete: nothing is kept, only the fact that the list went through.
async fn listed(api: Api<PartialObjectMeta<SpotBid>>) {
    let mut events = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::InitDone) => return,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "listing SpotBids for readiness"),
        }
    }
}
