//! The emulator's mutable state, behind one lock: served types and stored objects change together
//! (a CRD write registers its types in the same step).

use super::object::now_rfc3339;
use super::registry::Registry;
use super::store::{ObjectKey, Store};
use serde_json::json;

/// Namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-node-lease"];

/// Storage key of Namespaces.
pub const NAMESPACES: &str = "/namespaces";

/// Storage key of CustomResourceDefinitions.
pub const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

pub struct State {
    pub registry: Registry,
    pub store: Store,
}

impl State {
    pub fn new(history_limit: usize, watcher_buffer: usize) -> Self {
        let mut store = Store::new(history_limit, watcher_buffer);
        let now = now_rfc3339();
        for name in INITIAL_NAMESPACES {
            let namespace = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now,
                    "labels": {"kubernetes.io/metadata.name": name},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            store.put(NAMESPACES, ObjectKey::new(None, name), namespace);
        }
        Self {
            registry: Registry::default(),
            store,
        }
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.store
            .get(NAMESPACES, &ObjectKey::new(None, namespace))
            .is_some()
    }
}
