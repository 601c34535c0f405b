//! What the project ships, checked: CRDs (drift, examples), deploy/ and the chart, RBAC, the Argo CD health check, and the module graph.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod argocd_health;
mod crd_drift;
mod crd_examples;
mod helm;
mod manifests;
mod module_graph;
mod rbac;
