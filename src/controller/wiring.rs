//! Wiring every controller shares: the API scope and the per-phase resource counts for metrics.

use crate::runtime::metrics::Metrics;
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

/// How often resource counts per phase are exported.
const COUNTS_EVERY: Duration = Duration::from_secs(15);

/// The API of `K` in `namespace`, or across all namespaces when `None`.
pub fn scoped_api<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    }
}

/// Exports, every few seconds until aborted, how many resources of `controller` are in each
/// phase; `phase` reads it from a resource (`None`: not reported yet, counted as `Unknown`).
pub async fn export_phase_counts<K>(
    metrics: Metrics,
    controller: &'static str,
    store: Store<K>,
    phase: impl Fn(&K) -> Option<String>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let mut tick = tokio::time::interval(COUNTS_EVERY);
    loop {
        tick.tick().await;
        let mut counts = BTreeMap::new();
        for resource in store.state() {
            let label = phase(&resource).unwrap_or_else(|| "Unknown".to_owned());
            *counts.entry(label).or_insert(0) += 1;
        }
        metrics.set_phase_counts(controller, &counts);
    }
}
