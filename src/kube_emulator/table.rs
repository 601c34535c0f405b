//! The `meta.k8s.io/v1` Table format (`kubectl get`), with a CRD's printer columns.
//! INTERFACE (filled in by the schema work; the core calls exactly these):

use serde_json::Value;

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: i32,
    pub json_path: String,
}

/// How much of each object a row carries (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// A Table of these objects: a Name column, then `columns` (none given: Name and Age, as kube-apiserver does).
/// `list_metadata` is the ListMeta (resourceVersion, continue) to carry.
pub fn table(_columns: &[PrinterColumn], _objects: &[Value], _include: IncludeObject, _list_metadata: Value) -> Value {
    Value::Null
}
