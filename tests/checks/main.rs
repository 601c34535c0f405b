//! What the project ships, checked: CRDs (drift, examples), deploy/ and the chart, RBAC, the Argo CD health check, the module graph, and what the image build compiles.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod argocd_health;
mod crd_drift;
mod crd_examples;
mod dependencies;
mod helm;
mod manifests;
mod module_graph;
mod rbac;

/// A test without `tool` says why it skipped (on stderr, past the output capture), or fails when
/// `MITHRIL_REQUIRE_TOOLS` (a comma-separated list, set by `.ci/run`) names the tool.
fn skip_without_tool(tool: &str, why: &str) {
    let required = std::env::var("MITHRIL_REQUIRE_TOOLS").unwrap_or_default();
    assert!(
        !required.split(',').any(|name| name.trim() == tool),
        "{tool} is required here (MITHRIL_REQUIRE_TOOLS={required}): {why}"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}
