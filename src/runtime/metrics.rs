//! Prometheus metrics (prometheus-client): reconciles (and their triggers), Mithril requests and
//! observation cycles, resources by phase, the trigger gate, leadership, build and memory.
//!
//! Label values are bounded: kinds, phases, snake_case reasons, Mithril path templates, project
//! FIDs and key names (the Secret a key came from, never the key), so cardinality stays fixed at
//! any scale. The resource kind is labelled `kind` everywhere, lower case (`spotbid`).

use super::labels::snake_case;
use crate::crd::Reason;
use crate::observe::{CycleListener, PollReport};
use mithril_api::{ApiKey, AttemptOutcome, AttemptReport, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
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
    kind: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpendLabels {
    namespace: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObserverLabels {
    /// [`KeyLabels::label`] of the observer's API key.
    key: String,
    /// The project FID.
    project: String,
}

fn spend_labels(namespace: &str, kind: &str) -> SpendLabels {
    SpendLabels {
        namespace: namespace.to_owned(),
        kind: kind.to_owned(),
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn cycle_histogram() -> Histogram {
    // 10 ms to about 80 s: a cycle reads one page per 100 bids, at the rate limit.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// Names of API keys in metric labels: `namespace/name` of the Secret a key was read from, or
/// `default` for the operator's own key. Never the key itself. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct KeyLabels {
    // Few keys, and [`ApiKey`] deliberately offers no hash: a list is enough.
    names: Arc<Mutex<Vec<(ApiKey, String)>>>,
}

impl KeyLabels {
    /// The label of a key nobody named (never expected: keys are named as they are read).
    pub const UNNAMED: &'static str = "unnamed";

    /// Names `key` `label`, unless it already has a name (the first Secret read keeps it, so a
    /// key in two Secrets keeps one series). Another key that had this label (the Secret now
    /// holds a new key) loses it.
    pub fn name(&self, key: &ApiKey, label: &str) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        names.retain(|(named, name)| named == key || name != label);
        if !names.iter().any(|(named, _)| named == key) {
            names.push((key.clone(), label.to_owned()));
        }
    }

    /// The label of `key`.
    pub fn label(&self, key: &ApiKey) -> String {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(named, _)| named == key)
            .map_or_else(|| Self::UNNAMED.to_owned(), |(_, name)| name.clone())
    }
}

/// Resident memory of this process in bytes: `VmRSS` of `/proc/self/status` (Linux only).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kilobytes.checked_mul(1024)
}

/// Every metric the operator exports. Cheap to clone; all clones feed one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<KindLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Histograms<KindLabels>,
    mithril_requests: Family<RequestLabels, Counter>,
    mithril_request_duration: Histograms<EndpointLabels>,
    observer_last_success: Family<ObserverLabels, Gauge<f64, AtomicU64>>,
    observer_cycle_duration: Histograms<ObserverLabels>,
    key_labels: KeyLabels,
    resources: Family<PhaseLabels, Gauge>,
    phases_seen: Arc<Mutex<BTreeSet<(String, String)>>>,
    gate_waiting: Family<KindLabels, Gauge>,
    leader: Gauge,
    safety_cancels: Family<BidCancelLabels, Counter>,
    spend: Family<SpendLabels, Counter<f64, AtomicU64>>,
    resident_memory: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `mithril_operator` prefix, and
    /// the process's memory under the name Prometheus' process collectors use.
    pub fn new() -> Self {
        let mut root = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Histograms::<KindLabels>::new_with_constructor(latency_histogram);
        let mithril_requests = Family::<RequestLabels, Counter>::default();
        let mithril_request_duration =
            Histograms::<EndpointLabels>::new_with_constructor(latency_histogram);
        let observer_last_success = Family::<ObserverLabels, Gauge<f64, AtomicU64>>::default();
        let observer_cycle_duration =
            Histograms::<ObserverLabels>::new_with_constructor(cycle_histogram);
        let resources = Family::<PhaseLabels, Gauge>::default();
        let gate_waiting = Family::<KindLabels, Gauge>::default();
        let leader = Gauge::default();
        let safety_cancels = Family::<BidCancelLabels, Counter>::default();
        let spend = Family::<SpendLabels, Counter<f64, AtomicU64>>::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        let resident_memory = Gauge::default();
        let registry = root.sub_registry_with_prefix("mithril_operator");
        registry.register(
            "build_info",
            "Always 1; the operator's version in the label",
            build_info,
        );
        registry.register(
            "reconciles",
            "Reconciles run, per resource kind",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_triggers",
            "Reconciles started, per resource kind and kube-runtime trigger reason",
            super::reconcile_triggers::TRIGGERS.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, per resource kind and reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile took, per resource kind",
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
            "mithril_observer_last_success_timestamp_seconds",
            "End of the latest successful observation cycle (Unix time), per key and project",
            observer_last_success.clone(),
        );
        registry.register(
            "mithril_observer_cycle_duration_seconds",
            "Time a successful observation cycle took, per key and project",
            observer_cycle_duration.clone(),
        );
        registry.register(
            "resources",
            "Resources by kind and phase",
            resources.clone(),
        );
        registry.register(
            "trigger_gate_waiting",
            "Reconciles waiting in the trigger gate for the controller to take them, per kind",
            gate_waiting.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "safety_bid_cancels",
            "Bids cancelled because they should not exist, by reason (duplicate_bid_cancelled, orphan_bid_cancelled)",
            safety_cancels.clone(),
        );
        registry.register(
            "spend_dollars",
            "Dollars paid on Mithril, per namespace and kind of the resource that placed the bid (spotpool for a pool's SpotBids)",
            spend.clone(),
        );
        root.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes (Linux; 0 elsewhere)",
            resident_memory.clone(),
        );
        Self {
            registry: Arc::new(root),
            reconciles,
            reconcile_errors,
            reconcile_duration,
            mithril_requests,
            mithril_request_duration,
            observer_last_success,
            observer_cycle_duration,
            key_labels: KeyLabels::default(),
            resources,
            phases_seen: Arc::default(),
            gate_waiting,
            leader,
            safety_cancels,
            spend,
            resident_memory,
        }
    }

    /// Counts a bid cancelled because it should not exist (a duplicate, an orphan).
    pub fn safety_cancel(&self, reason: Reason) {
        let labels = BidCancelLabels {
            reason: reason.label().to_owned(),
        };
        self.safety_cancels.get_or_create(&labels).inc();
    }

    /// Bids cancelled so far for `reason` (see [`Self::safety_cancel`]).
    pub fn safety_cancels(&self, reason: &str) -> u64 {
        let labels = BidCancelLabels {
            reason: snake_case(reason),
        };
        self.safety_cancels.get_or_create(&labels).get()
    }

    /// Adds `dollars` paid by a bid of a `kind` resource in `namespace`.
    pub fn spent(&self, namespace: &str, kind: &str, dollars: f64) {
        if dollars > 0.0 && dollars.is_finite() {
            self.spend
                .get_or_create(&spend_labels(namespace, kind))
                .inc_by(dollars);
        }
    }

    /// Dollars counted so far for `namespace` and `kind` (see [`Self::spent`]).
    pub fn spend(&self, namespace: &str, kind: &str) -> f64 {
        self.spend
            .get_or_create(&spend_labels(namespace, kind))
            .get()
    }

    /// Records one reconcile of `kind` that took `elapsed`; `error` is its failure reason (a
    /// [`Reason::label`], or any reason text, labelled in snake_case).
    pub fn reconciled(&self, kind: &str, elapsed: Duration, error: Option<&str>) {
        let labels = KindLabels {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = error {
            let labels = ErrorLabels {
                kind: kind.to_owned(),
                reason: snake_case(reason),
            };
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }

    /// Replaces the per-phase resource counts of `kind` (phases absent from `counts` go to 0).
    pub fn set_phase_counts(&self, kind: &str, counts: &BTreeMap<String, i64>) {
        let mut seen = self
            .phases_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.extend(counts.keys().map(|phase| (kind.to_owned(), phase.clone())));
        // A phase seen before and absent now reads 0 rather than its last count.
        for (seen_kind, phase) in seen.iter().filter(|(k, _)| k == kind) {
            let labels = PhaseLabels {
                kind: seen_kind.clone(),
                phase: phase.clone(),
            };
            self.resources
                .get_or_create(&labels)
                .set(counts.get(phase).copied().unwrap_or(0));
        }
    }

    /// The gauge of reconciles of `kind` waiting in a trigger gate; the gates of one kind (one
    /// per watched namespace) add to it.
    pub fn gate_waiting(&self, kind: &str) -> Gauge {
        self.gate_waiting
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .clone()
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The names API keys go by in labels; whoever reads a key names it there.
    pub fn key_labels(&self) -> KeyLabels {
        self.key_labels.clone()
    }

    /// The observer to hand the Mithril client, so every HTTP attempt is counted.
    pub fn mithril_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::new(self.clone())
    }

    /// The listener to hand the observers' registry, so every observation cycle is recorded.
    pub fn cycle_listener(&self) -> Arc<dyn CycleListener> {
        Arc::new(self.clone())
    }

    fn observer_labels(&self, key: &ApiKey, project: &str) -> ObserverLabels {
        ObserverLabels {
            key: self.key_labels.label(key),
            project: project.to_owned(),
        }
    }

    /// The registry in the Prometheus text format (OpenMetrics), the memory read just before.
    pub fn encode(&self) -> String {
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl CycleListener for Metrics {
    fn cycle_completed(
        &self,
        key: &ApiKey,
        project: &str,
        report: &PollReport,
        at: jiff::Timestamp,
    ) {
        let labels = self.observer_labels(key, project);
        self.observer_cycle_duration
            .get_or_create(&labels)
            .observe(report.duration.as_secs_f64());
        let seconds = at.as_millisecond() as f64 / 1000.0;
        self.observer_last_success
            .get_or_create(&labels)
            .set(seconds);
    }

    fn observer_stopped(&self, key: &ApiKey, project: &str) {
        // A stopped observer's series go: its last success would read as ever more stale.
        let labels = self.observer_labels(key, project);
        self.observer_last_success.remove(&labels);
        self.observer_cycle_duration.remove(&labels);
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
    use http::Method;
    use mithril_api::TransportErrorKind;

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
        has(r#"mithril_operator_reconciles_total{kind="spotbid"} 2"#);
        has(
            r#"mithril_operator_reconcile_errors_total{kind="spotbid",reason="mithril_unavailable"} 1"#,
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
        has(r#"mithril_operator_resources{kind="spotbid",phase="Open"} 0"#);
        has(r#"mithril_operator_resources{kind="spotbid",phase="Allocated"} 5"#);
        has("mithril_operator_leader 1");
        has(&format!(
            r#"mithril_operator_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ));
        assert!(
            !text.contains("controller="),
            "one label name for the kind:\n{text}"
        );
    }

    #[test]
    fn spend_is_a_counter_in_dollars_per_namespace_and_kind() {
        let metrics = Metrics::new();
        metrics.spent("ml-team", "spotbid", 1.25);
        metrics.spent("ml-team", "spotbid", 0.5);
        metrics.spent("ml-team", "spotpool", 12.0);
        metrics.spent("ml-team", "spotbid", -3.0);
        assert_eq!(
            metrics.spend("ml-team", "spotbid"),
            1.75,
            "it never goes down"
        );
        let text = metrics.encode();
        assert!(
            text.lines()
                .any(|l| l == r#"mithril_operator_spend_dollars_total{namespace="ml-team",kind="spotpool"} 12.0"#),
            "{text}"
        );
    }

    #[test]
    fn safety_cancels_are_labelled_in_snake_case() {
        let metrics = Metrics::new();
        metrics.safety_cancel(Reason::OrphanBidCancelled);
        assert_eq!(metrics.safety_cancels("OrphanBidCancelled"), 1);
        assert!(metrics.encode().contains(
            r#"mithril_operator_safety_bid_cancels_total{reason="orphan_bid_cancelled"} 1"#
        ));
    }

    #[test]
    fn observation_cycles_are_labelled_by_key_name_and_project_never_by_key() {
        let metrics = Metrics::new();
        let (own, team) = (
            ApiKey::new("fkey_own_secret_material").unwrap(),
            ApiKey::new("fkey_team_secret_material").unwrap(),
        );
        metrics.key_labels().name(&own, "default");
        metrics.key_labels().name(&team, "ml/mithril-key");
        let report = PollReport {
            requests: 3,
            bids: 1,
            instances: 2,
            changed: 0,
            full_instance_refresh: true,
            duration: Duration::from_millis(250),
        };
        let at: jiff::Timestamp = "2026-01-01T00:00:00.5Z".parse().unwrap();
        let listener = metrics.cycle_listener();
        listener.cycle_completed(&own, "proj_a", &report, at);
        listener.cycle_completed(&team, "proj_b", &report, at);
        let text = metrics.encode();
        assert!(!text.contains("secret_material"), "{text}");
        assert!(
            text.contains(
                r#"mithril_operator_mithril_observer_last_success_timestamp_seconds{key="default",project="proj_a"} 1767225600.5"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mithril_operator_mithril_observer_cycle_duration_seconds_count{key="ml/mithril-key",project="proj_b"} 1"#
            ),
            "{text}"
        );
        listener.observer_stopped(&team, "proj_b");
        let text = metrics.encode();
        assert!(!text.contains(r#"project="proj_b""#), "{text}");
        assert!(text.contains(r#"project="proj_a""#), "{text}");
    }

    #[test]
    fn a_key_keeps_its_first_name_and_a_name_follows_its_secret() {
        let labels = KeyLabels::default();
        let (old, new) = (
            ApiKey::new("fkey_old").unwrap(),
            ApiKey::new("fkey_new").unwrap(),
        );
        assert_eq!(labels.label(&old), KeyLabels::UNNAMED);
        labels.name(&old, "ml/key");
        labels.name(&old, "other/key");
        assert_eq!(
            labels.label(&old),
            "ml/key",
            "the first Secret read names it"
        );
        // The Secret now holds another key: the name moves with it.
        labels.name(&new, "ml/key");
        assert_eq!(labels.label(&new), "ml/key");
        assert_eq!(labels.label(&old), KeyLabels::UNNAMED);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_and_exported() {
        let bytes = resident_memory_bytes().expect("VmRSS on Linux");
        // A test process holds at least a megabyte and, here, far less than a terabyte.
        assert!((1 << 20..1 << 40).contains(&bytes), "{bytes}");
        let text = Metrics::new().encode();
        let exported: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
            .expect("exported without the prefix")
            .parse()
            .unwrap();
        assert!(exported >= 1 << 20, "{text}");
    }
}
