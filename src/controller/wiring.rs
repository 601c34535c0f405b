//! Wiring every controller shares: the API scope and the per-phase resource counts for metrics.

use crate::runtime::metrics::Metrics;
use kube::api::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// The phase a resource is counted as before its phase is known.
pub const UNKNOWN_PHASE: &str = "Unknown";

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

/// A reference to `resource` for scheduling a reconcile: its uid and resourceVersion take no
/// part in scheduling (nor in comparing references), and would be two more strings per pending
/// reconcile.
pub fn scheduling_ref<K: Resource<DynamicType = ()>>(resource: &K) -> ObjectRef<K> {
    let mut reference = ObjectRef::from_obj(resource);
    reference.extra = Default::default();
    reference
}

/// Prefix of the annotations the operator reads; the others are never looked at.
const OPERATOR_ANNOTATION_PREFIX: &str = "mithril.ai/";

/// Drops from a watched object's metadata what no controller reads before it is cached: the
/// cache holds every resource for as long as the operator runs, so each byte here is a byte per
/// resource. managedFields are often the largest part of an object (and set to `None`, not
/// emptied: an emptied vector keeps its buffer); labels and foreign annotations, such as
/// `kubectl.kubernetes.io/last-applied-configuration` (a second copy of the whole manifest),
/// are the user's. Writes never send the cached metadata back (status is applied on its own,
/// finalizers are patched), so nothing dropped here is lost on the server.
pub fn trim_cached_metadata(metadata: &mut ObjectMeta) {
    metadata.managed_fields = None;
    metadata.labels = None;
    if let Some(annotations) = &mut metadata.annotations {
        annotations.retain(|key, _| key.starts_with(OPERATOR_ANNOTATION_PREFIX));
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
}

/// Exports, every few seconds until aborted, how many resources of `controller` are in each
/// phase; `count` counts the cached resources (see [`count_by`]).
pub async fn export_phase_counts<K>(
    metrics: Metrics,
    controller: &'static str,
    store: Store<K>,
    count: impl Fn(&[Arc<K>]) -> BTreeMap<String, i64>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let mut tick = tokio::time::interval(COUNTS_EVERY);
    loop {
        tick.tick().await;
        metrics.set_phase_counts(controller, &count(&store.state()));
    }
}

/// Counts `resources` by the phase `phase` reads off each (`None`: not reported yet, counted
/// as `Unknown`).
pub fn count_by<K>(
    resources: &[Arc<K>],
    phase: impl Fn(&K) -> Option<String>,
) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for resource in resources {
        let label = phase(resource).unwrap_or_else(|| UNKNOWN_PHASE.to_owned());
        *counts.entry(label).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn cached_metadata_keeps_what_controllers_read_and_nothing_else() {
        let annotations = [
            ("mithril.ai/observe-only", "true"),
            (
                "kubectl.kubernetes.io/last-applied-configuration",
                "{\"spec\":{}}",
            ),
        ];
        let mut metadata = ObjectMeta {
            name: Some("train".into()),
            namespace: Some("ml".into()),
            uid: Some("uid-1".into()),
            generation: Some(3),
            finalizers: Some(vec!["mithril.ai/spot-bid".into()]),
            labels: Some([("team".to_owned(), "ml".to_owned())].into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            managed_fields: Some(vec![ManagedFieldsEntry::default()]),
            ..ObjectMeta::default()
        };
        let kept = ObjectMeta {
            annotations: Some([("mithril.ai/observe-only".to_owned(), "true".to_owned())].into()),
            labels: None,
            managed_fields: None,
            ..metadata.clone()
        };
        trim_cached_metadata(&mut metadata);
        assert_eq!(metadata, kept);

        let mut foreign_only = ObjectMeta {
            annotations: Some([("example.com/note".to_owned(), "x".to_owned())].into()),
            ..ObjectMeta::default()
        };
        trim_cached_metadata(&mut foreign_only);
        assert_eq!(foreign_only.annotations, None);
    }
}
