//! The benchmark's resources: N SpotBids applied at a given concurrency, and waits on what the
//! operator reports in their status (by watching, with a deadline).

use super::error::BenchError;
use super::world::{INSTANCE_TYPE, LIMIT_PRICE, PROJECT, REGION};
use crate::crd::{READY, SpotBid, is_condition_true};
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, PostParams};
use kube::runtime::watcher::{self, Event};
use std::collections::HashSet;
use std::time::Duration;

/// Namespace of the benchmark's resources.
pub const NAMESPACE: &str = "default";

/// The name of the `index`-th benchmark resource.
pub fn resource_name(index: usize) -> String {
    format!("bench-{index:05}")
}

/// A SpotBid for one instance in the benchmark auction.
pub fn spot_bid(name: &str) -> Result<SpotBid, BenchError> {
    let manifest = serde_json::json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": PROJECT,
            "region": REGION,
            "instanceType": INSTANCE_TYPE,
            "instanceQuantity": 1,
            "limitPrice": LIMIT_PRICE,
        },
    });
    serde_json::from_value(manifest)
        .map_err(|error| BenchError::InvalidArgs(format!("benchmark manifest: {error}")))
}

/// Creates resources `0..count` with `concurrency` requests in flight.
pub async fn apply(
    kube: &kube::Client,
    count: usize,
    concurrency: usize,
) -> Result<(), BenchError> {
    let api: Api<SpotBid> = Api::namespaced(kube.clone(), NAMESPACE);
    stream::iter(0..count)
        .map(|index| {
            let api = api.clone();
            async move {
                let resource = spot_bid(&resource_name(index))?;
                api.create(&PostParams::default(), &resource).await?;
                Ok::<_, BenchError>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

/// Whether the operator reports the resource Ready (its instances run).
pub fn is_ready(resource: &SpotBid) -> bool {
    resource
        .status
        .as_ref()
        .is_some_and(|status| is_condition_true(&status.conditions, READY))
}

/// Watches the namespace's SpotBids until `count` of them satisfy `condition` at once.
pub async fn wait_for_count(
    kube: &kube::Client,
    count: usize,
    what: &str,
    within: Duration,
    condition: impl Fn(&SpotBid) -> bool,
) -> Result<(), BenchError> {
    let api: Api<SpotBid> = Api::namespaced(kube.clone(), NAMESPACE);
    let watch = async {
        let mut matching: HashSet<String> = HashSet::new();
        let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
        while let Some(event) = events.try_next().await.map_err(kube_watch_error)? {
            match event {
                Event::Apply(resource) | Event::InitApply(resource) => {
                    let name = resource.metadata.name.clone().unwrap_or_default();
                    if condition(&resource) {
                        matching.insert(name);
                    } else {
                        matching.remove(&name);
                    }
                }
                Event::Delete(resource) => {
                    matching.remove(&resource.metadata.name.clone().unwrap_or_default());
                }
                // A relist: the listed objects rebuild the state.
                Event::Init => matching.clear(),
                Event::InitDone => {}
            }
            if matching.len() >= count {
                return Ok(());
            }
        }
        Err(BenchError::Operator("the SpotBid watch ended".into()))
    };
    tokio::time::timeout(within, watch)
        .await
        .map_err(|_| BenchError::Timeout {
            what: what.to_owned(),
            after: within,
        })?
}

fn kube_watch_error(error: watcher::Error) -> BenchError {
    BenchError::Operator(format!("watching SpotBids: {error}"))
}
