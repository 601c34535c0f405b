//! Fixtures shared by the controllers' unit tests.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;

/// A ConfigMap named `name` in namespace `team`: any namespaced resource will do for the
/// generic wiring (filters, gates, resyncs), which only reads its metadata.
pub fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("team".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}
