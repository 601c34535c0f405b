//! Why reconciles run: counts every reconcile kube-runtime starts by its trigger.
//!
//! kube-runtime keeps the reason of a reconcile (a watch event, a requeue, a retry, an external
//! trigger) away from the reconciler on purpose, but names it in the `reconciling object` span it
//! opens around each reconcile. A tracing layer that sees that span is the one place the reason
//! can be counted, whatever the log level. The counts tell where reconciles come from, which is
//! what keeps the operator's own writes from turning into reconcile storms at scale.

use super::labels::snake_case;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::fmt;
use std::sync::LazyLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};

/// The span kube-runtime's controller opens around every reconcile.
const RECONCILE_SPAN: &str = "reconciling object";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TriggerLabels {
    /// The resource kind in lower case (`spotbid`, `instanceschedule`), as in every metric.
    kind: String,
    /// kube-runtime's reason in snake_case: `object_updated` (watch), `unknown` (the Mithril
    /// observers' changes), `reconciler_requested_retry` (requeue),
    /// `error_policy_requested_retry`, `related_object_updated`, `bulk_reconcile_requested`.
    reason: String,
}

/// Process-wide, because the tracing subscriber is: every [`super::metrics::Metrics`] exports it.
pub(crate) static TRIGGERS: LazyLock<Family<TriggerLabels, Counter>> =
    LazyLock::new(Family::default);

/// The layer to add to the subscriber (it sees only kube-runtime's reconcile spans).
pub fn layer<S>() -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    ReconcileTriggers.with_filter(ReconcileSpansOnly)
}

struct ReconcileTriggers;

impl<S: Subscriber> Layer<S> for ReconcileTriggers {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if let Some(labels) = fields.labels() {
            TRIGGERS.get_or_create(&labels).inc();
        }
    }
}

/// Enables kube-runtime's reconcile span for this layer only, whatever the log filter says.
struct ReconcileSpansOnly;

impl<S> Filter<S> for ReconcileSpansOnly {
    fn enabled(&self, meta: &Metadata<'_>, _ctx: &Context<'_, S>) -> bool {
        is_reconcile_span(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if is_reconcile_span(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}

fn is_reconcile_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == RECONCILE_SPAN && meta.target().starts_with("kube_runtime")
}

#[derive(Default)]
struct SpanFields {
    object: Option<String>,
    reason: Option<String>,
}

impl SpanFields {
    fn labels(self) -> Option<TriggerLabels> {
        let object = self.object?;
        let reason = self.reason?;
        Some(TriggerLabels {
            kind: kind_of(&object).to_ascii_lowercase(),
            reason: snake_case(bounded_reason(&reason)),
        })
    }
}

impl SpanFields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "object.ref" => self.object = Some(value),
            "object.reason" => self.reason = Some(value),
            _ => {}
        }
    }
}

impl Visit for SpanFields {
    // kube-runtime records both fields with `%` (Display), which arrives here.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
}

/// An object reference reads `Kind.version.group/name.namespace`: the kind is bounded, the rest
/// is not.
fn kind_of(object_ref: &str) -> &str {
    object_ref.split('.').next().unwrap_or(object_ref)
}

/// `related object updated: <ref>` names an object; keep only the reason.
fn bounded_reason(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            kind_of("SpotBid.v1.mithril.ai/bench-00001.bench"),
            "SpotBid"
        );
        assert_eq!(
            bounded_reason("related object updated: Secret.v1./key.ns"),
            "related object updated"
        );
        assert_eq!(bounded_reason("object updated"), "object updated");
    }

    #[test]
    fn counts_kube_runtime_reconcile_spans_by_kind_and_reason() {
        use tracing_subscriber::layer::SubscriberExt;
        let labels = |reason: &str| TriggerLabels {
            kind: "triggertestkind".to_owned(),
            reason: reason.to_owned(),
        };
        let count = |reason: &str| TRIGGERS.get_or_create(&labels(reason)).get();
        let (updated, retried) = (count("object_updated"), count("reconciler_requested_retry"));
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            for reason in [
                "object updated",
                "object updated",
                "reconciler requested retry",
            ] {
                let _span = tracing::info_span!(
                    target: "kube_runtime::controller",
                    "reconciling object",
                    "object.ref" = "TriggerTestKind.v1.example.com/a.ns",
                    object.reason = %reason
                );
            }
            // Spans of other names and targets are not reconciles.
            let _other = tracing::info_span!(
                "reconciling object",
                "object.ref" = "TriggerTestKind.v1.example.com/a.ns",
                object.reason = "object updated"
            );
        });
        assert_eq!(count("object_updated") - updated, 2);
        assert_eq!(count("reconciler_requested_retry") - retried, 1);
    }

    /// kube-runtime names the trigger in a span of its own: a kube-runtime upgrade that renames
    /// the span or its fields would silently stop the counts, which this catches.
    #[tokio::test]
    async fn a_kube_runtime_controller_s_reconciles_are_counted_by_trigger() {
        use futures::StreamExt;
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{Api, ObjectMeta, PostParams};
        use kube::runtime::controller::{Action, Controller};
        use kube::runtime::watcher;
        use kube_emulator::Emulator;
        use std::sync::Arc;
        use std::time::Duration;
        use tracing_subscriber::layer::SubscriberExt;

        // The test's runtime polls the controller on this thread: the subscriber sees its spans.
        let _subscriber =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(layer()));
        let count = |reason: &str| {
            TRIGGERS
                .get_or_create(&TriggerLabels {
                    kind: "configmap".to_owned(),
                    reason: reason.to_owned(),
                })
                .get()
        };
        let (updated, retried) = (count("object_updated"), count("reconciler_requested_retry"));
        let api: Api<ConfigMap> = Api::namespaced(Emulator::new().client(), "default");
        let watched = ConfigMap {
            metadata: ObjectMeta {
                name: Some("watched".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        api.create(&PostParams::default(), &watched).await.unwrap();
        let controller = Controller::new(api, watcher::Config::default())
            .run(
                |_, _| async {
                    Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_millis(10)))
                },
                |_, _: &std::convert::Infallible, _| Action::await_change(),
                Arc::new(()),
            )
            .for_each(|_| async {});
        let counted = async {
            while count("object_updated") == updated
                || count("reconciler_requested_retry") == retried
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            () = controller => panic!("the controller stopped"),
            () = counted => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => panic!(
                "not counted: object_updated {} -> {}, reconciler_requested_retry {} -> {}",
                updated, count("object_updated"), retried, count("reconciler_requested_retry"),
            ),
        }
    }
}
