//! The custom resource types and their generated CustomResourceDefinitions.
//!
//! API group `mithril.ai`, version `v1alpha1`: [`SpotBid`], [`InstanceSchedule`] and [`SpotPool`],
//! all namespaced, all in the `mithril` category (`kubectl get mithril`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub mod condition;
pub mod instance_schedule;
pub mod reason;
mod schema;
pub mod secret_ref;
pub mod spot_bid;
pub mod spot_pool;
pub mod time;

pub use condition::{
    Condition, ConditionStatus, READY, SYNCED, find_condition, is_condition_true, set_condition,
    status_changed,
};
pub use instance_schedule::{
    InstanceAction, InstanceFilter, InstanceSchedule, InstanceScheduleSpec, InstanceScheduleStatus,
    InstanceSelector, OutsideWindows, ScheduleAction, ScheduleWindow, ScheduledInstance,
    SelectorError, WantedState, Weekday,
};
pub use reason::{Category, Reason};
pub use secret_ref::{ApiKeySecretRef, DEFAULT_API_KEY_KEY};
pub use spot_bid::{
    DeletionPolicy, LaunchSpecification, SpotBid, SpotBidInstance, SpotBidPhase, SpotBidSpec,
    SpotBidStatus,
};
pub use spot_pool::{POOL_LABEL, SpotPool, SpotPoolSpec, SpotPoolStatus};
pub use time::Time;

/// The CustomResourceDefinitions of every kind, as one multi-document YAML (what `crds` prints).
///
/// Each document starts with `---`, in a stable order (SpotBid, InstanceSchedule, SpotPool), so the
/// output can be compared byte for byte with the files in `crds/`.
pub fn crds_yaml() -> String {
    crds().iter().map(crd_yaml).collect()
}

/// The CustomResourceDefinitions of every kind, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![SpotBid::crd(), InstanceSchedule::crd(), SpotPool::crd()]
}

/// The file, under the repository's `crds/` folder, that holds a CustomResourceDefinition:
/// `<singular>.yaml`, e.g. `spotbid.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    let names = &crd.spec.names;
    let singular = names
        .singular
        .clone()
        .unwrap_or_else(|| names.kind.to_lowercase());
    format!("{singular}.yaml")
}

/// One CustomResourceDefinition as a YAML document starting with `---`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    // A CustomResourceDefinition is plain data (strings, maps, JSON values): it always serializes.
    // Long one-line strings (CEL rules, descriptions) stay on one line rather than folded, so
    // a rule reads in the file exactly as the API server sees it.
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
    let body = serde_saphyr::to_string_with_options(crd, options).unwrap_or_default();
    format!("---\n{body}")
}
