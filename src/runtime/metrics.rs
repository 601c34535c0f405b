//! Prometheus metrics (prometheus-client): reconciles (and their triggers), Mithril requests, resources by phase, leadership.
//!
//! Label values are bounded: controller names, phases, error reasons and Mithril path templates
//! (never FIDs or resource names), so cardinality stays fixed at any scale.

use crate::mithril::{AttemptOutcome, AttemptReport, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    method: String,
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BidCancelLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    controller: String,
    phase: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the operator exports. Cheap to clone; all clones feed one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Histograms<ControllerLabels>,
    mithril_requests: Family<RequestLabels, Counter>,
    mithril_request_duration: Histograms<EndpointLabels>,
    resources: Family<PhaseLabels, Gauge>,
    phases_seen: Arc<Mutex<BTreeSet<(String, String)>>>,
    leader: Gauge,
    safety_cancels: Family<BidCancelLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `mithril_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mithril_operator");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration =
            Histograms::<ControllerLabels>::new_with_constructor(latency_histogram);
        let mithril_requests = Family::<RequestLabels, Counter>::default();
        let mithril_request_duration =
            Histograms::<EndpointLabels>::new_with_constructor(latency_histogram);
        let resources = Family::<PhaseLabels, Gauge>::default();
        let leader = Gauge::default();
        let safety_cancels = Family::<BidCancelLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles run, per controller",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_triggers",
            "Reconciles started, per resource kind and kube-runtime trigger reason",
            super::reconcile_triggers::TRIGGERS.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, per controller and reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile took, per controller",
            reconcile_duration.clone(),
        );
        registry.register(
            "mithril_requests",
            "HTTP attempts to Mithril, per endpoint and status (error kind when no status came back)",
            mithril_requests.clone(),
        );
        registry.register(
            "mithril_request_duration_seconds",
            "Latency of HTTP attempts to Mithril, per endpoint",
            mithril_request_duration.clone(),
        );
        registry.register(
            "resources",
            "Resources by controller and phase",
            resources.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "safety_bid_cancels",
            "Bids cancelled because they should not exist, by reason (DuplicateBidCancelled, OrphanBidCancelled)",
            safety_cancels.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            reconcile_errors,
            reconcile_duration,
            mithril_requests,
            mithril_request_duration,
            resources,
            phases_seen: Arc::default(),
            leader,
            safety_cancels,
        }
    }

    /// Counts a bid cancelled because it should not exist (a duplicate, an orphan).
    pub fn safety_cancel(&self, reason: &str) {
        let labels = BidCancelLabels {
            reason: reason.to_owned(),
        };
        self.safety_cancels.get_or_create(&labels).inc();
    }

    /// Bids cancelled so far for `reason` (see [`Self::safety_cancel`]).
    pub fn safety_cancels(&self, reason: &str) -> u64 {
        let labels = BidCancelLabels {
            reason: reason.to_owned(),
        };
        self.safety_cancels.get_or_create(&labels).get()
    }

    /// Records one reconcile of `controller` that took `elapsed`; `error` is its failure reason.
    pub fn reconciled(&self, controller: &str, elapsed: Duration, error: Option<&str>) {
        let labels = ControllerLabels {
            controller: controller.to_owned(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = error {
            let labels = ErrorLabels {
                controller: controller.to_owned(),
                reason: reason.to_owned(),
            };
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }

    /// Replaces the per-phase resource counts of `controller` (phases absent from `counts` go to 0).
    pub fn set_phase_counts(&self, controller: &str, counts: &BTreeMap<String, i64>) {
        let mut seen = self
            .phases_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.extend(
            counts
                .keys()
                .map(|phase| (controller.to_owned(), phase.clone())),
        );
        // A phase seen before and absent now reads 0 rather than its last count.
        for (seen_controller, phase) in seen.iter().filter(|(c, _)| c == controller) {
            let labels = PhaseLabels {
                controller: seen_controller.clone(),
                phase: phase.clone(),
            };
            self.resources
                .get_or_create(&labels)
                .set(counts.get(phase).copied().unwrap_or(0));
        }
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The observer to hand the Mithril client, so every HTTP attempt is counted.
    pub fn mithril_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::new(self.clone())
    }

    /// The registry in the Prometheus text format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl RequestObserver for Metrics {
    fn on_attempt(&self, report: &AttemptReport<'_>) {
        let status = match report.outcome {
            AttemptOutcome::Status(code) => code.to_string(),
            AttemptOutcome::Error(kind) => kind.as_str().to_owned(),
        };
        let method = report.method.as_str().to_owned();
        let endpoint = report.path_template.to_owned();
        self.mithril_requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                endpoint: endpoint.clone(),
                status,
            })
            .inc();
        self.mithril_request_duration
            .get_or_create(&EndpointLabels { method, endpoint })
            .observe(report.latency.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mithril::TransportErrorKind;
    use http::Method;

    #[test]
    fn counts_reconciles_requests_phases_and_leadership() {
        let metrics = Metrics::new();
        metrics.reconciled("spotbid", Duration::from_millis(3), None);
        metrics.reconciled(
            "spotbid",
            Duration::from_millis(5),
            Some("MithrilUnavailable"),
        );
        let observer = metrics.mithril_observer();
        for outcome in [
            AttemptOutcome::Status(200),
            AttemptOutcome::Status(200),
            AttemptOutcome::Error(TransportErrorKind::Timeout),
        ] {
            observer.on_attempt(&AttemptReport {
                method: &Method::GET,
                path_template: "/v2/spot/bids",
                outcome,
                latency: Duration::from_millis(12),
                retry: 0,
            });
        }
        metrics.set_phase_counts(
            "spotbid",
            &BTreeMap::from([("Open".into(), 3), ("Allocated".into(), 2)]),
        );
        metrics.set_phase_counts("spotbid", &BTreeMap::from([("Allocated".into(), 5)]));
        metrics.set_leader(true);

        let text = metrics.encode();
        let has = |line: &str| {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            )
        };
        has(r#"mithril_operator_reconciles_total{controller="spotbid"} 2"#);
        has(
            r#"mithril_operator_reconcile_errors_total{controller="spotbid",reason="MithrilUnavailable"} 1"#,
        );
        has(
            r#"mithril_operator_mithril_requests_total{method="GET",endpoint="/v2/spot/bids",status="200"} 2"#,
        );
        has(
            r#"mithril_operator_mithril_requests_total{method="GET",endpoint="/v2/spot/bids",status="timeout"} 1"#,
        );
        has(
            r#"mithril_operator_mithril_request_duration_seconds_count{method="GET",endpoint="/v2/spot/bids"} 3"#,
        );
        has(r#"mithril_operator_resources{controller="spotbid",phase="Open"} 0"#);
        has(r#"mithril_operator_resources{controller="spotbid",phase="Allocated"} 5"#);
        has("mithril_operator_leader 1");
    }
}
