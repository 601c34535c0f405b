//! OpenAPI v3 documents for registered CRDs (`/openapi/v3`), for `kubectl apply` and `kubectl explain`.
//! INTERFACE (filled in by the schema work; the core calls exactly these):

use serde_json::Value;

/// One served version of a custom resource.
#[derive(Debug, Clone)]
pub struct ResourceDoc<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub list_kind: &'a str,
    pub plural: &'a str,
    pub namespaced: bool,
    /// The version's `openAPIV3Schema`.
    pub schema: &'a Value,
}

/// The `/openapi/v3/apis/{group}/{version}` document for these resources (all of one group/version).
pub fn group_version_document(_group: &str, _version: &str, _resources: &[ResourceDoc<'_>]) -> Value {
    Value::Null
}
