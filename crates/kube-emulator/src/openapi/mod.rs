//! OpenAPI v3 documents for registered CRDs (`/openapi/v3`), for `kubectl apply` and `kubectl explain`,
//! shaped like kube-apiserver's: the kind and its List under reverse-domain names
//! (`ai.mithril.v1alpha1.SpotBid`) tagged with `x-kubernetes-group-version-kind`, the CRD schema
//! with its descriptions, `metadata` referring to ObjectMeta, and the resource's paths.
//! Not published: `/status` subresource paths (the document does not know which kinds have one).

mod meta_schemas;
mod paths;

use meta_schemas::{
    API_VERSION_DESCRIPTION, KIND_DESCRIPTION, LIST_META, LIST_METADATA_DESCRIPTION, OBJECT_META,
    OBJECT_METADATA_DESCRIPTION,
};
use serde_json::{Map, Value, json};

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

/// The name of a kind's schema in the components: `mithril.ai`, `v1alpha1`, `SpotBid` →
/// `ai.mithril.v1alpha1.SpotBid`.
pub fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

fn group_version_kind(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

/// The CRD schema as published: apiVersion, kind and metadata described, the GVK attached.
fn kind_schema(resource: &ResourceDoc<'_>) -> Value {
    let mut schema = resource.schema.clone();
    if !schema.is_object() {
        schema = json!({"type": "object"});
    }
    if let Some(object) = schema.as_object_mut() {
        let properties = object.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert(
                "apiVersion".into(),
                json!({"description": API_VERSION_DESCRIPTION, "type": "string"}),
            );
            properties.insert(
                "kind".into(),
                json!({"description": KIND_DESCRIPTION, "type": "string"}),
            );
            let mut metadata = meta_schemas::reference(OBJECT_META);
            metadata["description"] = json!(OBJECT_METADATA_DESCRIPTION);
            metadata["default"] = json!({});
            properties.insert("metadata".into(), metadata);
        }
        object.insert(
            "x-kubernetes-group-version-kind".into(),
            group_version_kind(resource.group, resource.version, resource.kind),
        );
    }
    schema
}

fn list_schema(resource: &ResourceDoc<'_>, kind_schema_name: &str) -> Value {
    let mut metadata = meta_schemas::reference(LIST_META);
    metadata["description"] = json!(LIST_METADATA_DESCRIPTION);
    metadata["default"] = json!({});
    json!({
        "description": format!("{} is a list of {}", resource.list_kind, resource.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", resource.plural),
                "type": "array",
                "items": {"$ref": format!("#/components/schemas/{kind_schema_name}")}
            },
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": metadata
        },
        "x-kubernetes-group-version-kind": group_version_kind(resource.group, resource.version, resource.list_kind)
    })
}

/// The `/openapi/v3/apis/{group}/{version}` document for these resources (all of one group/version).
pub fn group_version_document(group: &str, version: &str, resources: &[ResourceDoc<'_>]) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for resource in resources
        .iter()
        .filter(|resource| resource.group == group && resource.version == version)
    {
        let kind_name = schema_name(group, version, resource.kind);
        let list_name = schema_name(group, version, resource.list_kind);
        schemas.insert(kind_name.clone(), kind_schema(resource));
        schemas.insert(list_name.clone(), list_schema(resource, &kind_name));
        paths::add_resource_paths(&mut paths, resource, kind_name, list_name);
    }
    for (name, schema) in meta_schemas::schemas() {
        schemas.insert(name.to_owned(), schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

/// The `/openapi/v3` index: `paths` is `("apis/g/v", hash)` per served group-version document.
pub fn index_document(paths: &[(String, String)]) -> Value {
    let entries: Map<String, Value> = paths
        .iter()
        .map(|(path, hash)| {
            (
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            )
        })
        .collect();
    json!({"paths": entries})
}

/// A stable content hash of a document (upper-case hex), for `?hash=` URLs and ETags: the same
/// document always gives the same hash, across processes and runs.
pub fn document_hash(document: &Value) -> String {
    // Two FNV-1a passes with different offsets: 128 bits, no dependency, fully deterministic.
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = document.to_string();
    let mut high: u64 = 0xcbf2_9ce4_8422_2325;
    let mut low: u64 = 0x6c62_272e_07bb_0142;
    for byte in bytes.as_bytes() {
        high = (high ^ u64::from(*byte)).wrapping_mul(PRIME);
        low = (low ^ u64::from(byte.rotate_left(3))).wrapping_mul(PRIME);
    }
    format!("{high:016X}{low:016X}")
}

#[cfg(test)]
mod tests;
