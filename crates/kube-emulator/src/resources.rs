//! What the emulator serves: one `ResourceType` per (group, version, plural), built-ins from one table,
//! custom resources from their CustomResourceDefinition.

use super::conversion::View;
use super::schema::CompiledSchema;
use super::table::{BuiltInTable, PrinterColumn};
use serde_json::Value;
use std::sync::Arc;

/// Everything the API layer needs to know about one served resource version.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Writes to the main resource keep `.status`; writes to `/status` change only `.status`.
    pub status_subresource: bool,
    /// The scale subresource's paths, for custom resources that declare one.
    pub scale: Option<ScalePaths>,
    /// Whether `metadata.generation` is maintained (custom resources, Deployments, CRDs).
    pub has_generation: bool,
    /// Structural schema of a custom resource version (None: built-in, stored schemaless).
    pub schema: Option<Arc<CompiledSchema>>,
    /// The raw `openAPIV3Schema`, for the OpenAPI documents.
    pub raw_schema: Option<Arc<Value>>,
    pub printer_columns: Vec<PrinterColumn>,
    /// kube-apiserver's printer of a built-in kind (None: a custom resource's printer columns).
    pub builtin_table: Option<BuiltInTable>,
    /// True for resources defined by a CustomResourceDefinition.
    pub custom: bool,
    /// The collection objects are stored in (`group/plural`, shared by versions and by core/v1 Events
    /// with events.k8s.io/v1 Events).
    pub storage: String,
    /// How stored objects are shaped for this resource.
    pub view: View,
    /// `group/version/Kind` of the stored form: discovery's `storageVersionHash` is its digest.
    pub storage_gvk: String,
    /// A CRD version's `selectableFields` as field labels (`spec.region`).
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// The storage key: one collection per (group, plural) whatever the version; core/v1 Events
    /// share the events.k8s.io/v1 collection.
    pub fn storage_key(&self) -> String {
        self.storage.clone()
    }

    /// `plural.group` (or `plural` in the core group): how kube-apiserver names the resource in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Kind.group` (or `Kind`): how kube-apiserver names the kind in validation messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

/// `group/version`, or `version` for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// One row of the built-in table.
struct BuiltIn {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    /// Categories (`kubectl get all`).
    categories: &'static [&'static str],
    status_subresource: bool,
    has_generation: bool,
}

/// The built-in resources: those the operator uses and those a deployment manifest holds.
/// Stored schemaless (no pruning or validation beyond the few rules in `builtin_rules`).
const BUILT_INS: &[BuiltIn] = &[
    BuiltIn {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        status_subresource: true,
        has_generation: false,
    },
    BuiltIn {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        status_subresource: true,
        has_generation: false,
    },
    BuiltIn {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        status_subresource: true,
        has_generation: true,
    },
    BuiltIn {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        namespaced: true,
        short_names: &["pdb"],
        categories: &[],
        status_subresource: true,
        has_generation: true,
    },
    BuiltIn {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        status_subresource: false,
        has_generation: true,
    },
    BuiltIn {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        has_generation: false,
    },
    BuiltIn {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &[],
        status_subresource: true,
        has_generation: true,
    },
];

/// The built-in resource types.
pub fn built_ins() -> Vec<ResourceType> {
    BUILT_INS
        .iter()
        .map(|b| ResourceType {
            group: b.group.to_string(),
            version: b.version.to_string(),
            kind: b.kind.to_string(),
            list_kind: format!("{}List", b.kind),
            plural: b.plural.to_string(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            status_subresource: b.status_subresource,
            scale: None,
            has_generation: b.has_generation,
            schema: None,
            raw_schema: None,
            printer_columns: Vec::new(),
            builtin_table: Some(BuiltInTable::of(b.group, b.kind)),
            custom: false,
            storage: if (b.group, b.kind) == ("", "Event") {
                "events.k8s.io/events".to_string()
            } else {
                format!("{}/{}", b.group, b.plural)
            },
            view: if (b.group, b.kind) == ("", "Event") {
                View::CoreEvent
            } else {
                View::Native
            },
            // Both Event APIs are stored as core v1 Events.
            storage_gvk: if b.kind == "Event" {
                "/v1/Event".to_string()
            } else {
                format!("{}/{}/{}", b.group, b.version, b.kind)
            },
            selectable_fields: Vec::new(),
        })
        .collect()
}

/// Where a custom resource keeps what its Scale shows (`spec.versions[*].subresources.scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub(crate) spec_replicas: Vec<String>,
    pub(crate) status_replicas: Vec<String>,
    pub(crate) label_selector: Option<Vec<String>>,
}

impl ScalePaths {
    /// The paths a CRD version declares, if it declares a scale subresource.
    pub fn of_version(version: &Value) -> Option<Self> {
        let scale = version["subresources"]["scale"].as_object()?;
        let path = |key: &str| scale.get(key).and_then(Value::as_str).map(parse_path);
        Some(Self {
            spec_replicas: path("specReplicasPath")?,
            status_replicas: path("statusReplicasPath")?,
            label_selector: path("labelSelectorPath"),
        })
    }
}

/// `.spec.replicas` as `["spec", "replicas"]`.
fn parse_path(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|segment| !segment.is_empty())
        .map(str::to_owned)
        .collect()
}
