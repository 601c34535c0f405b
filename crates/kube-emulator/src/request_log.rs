//! The record of API requests served, in Kubernetes authorization terms (verb, group, resource,
//! subresource, namespace): what an RBAC Role must allow.

use std::sync::Mutex;

/// One resource request, as kube-apiserver's authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestRecord {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
}

/// Keeps the most recent `capacity` records.
#[derive(Debug)]
pub struct RequestLog {
    records: Mutex<std::collections::VecDeque<RequestRecord>>,
    capacity: usize,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            records: Mutex::new(Default::default()),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&self, record: RequestRecord) {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}
