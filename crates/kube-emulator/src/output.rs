//! Content negotiation (`Accept`) and how objects are presented: full objects, `meta.k8s.io/v1`
//! PartialObjectMetadata(List), or Tables with the resource's printer columns.

use super::resources::ResourceType;
use super::status::ApiError;
use super::table::{IncludeObject, builtin_table, table};
use serde_json::{Value, json};
use std::sync::Arc;

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    /// PartialObjectMetadata (objects, watch events) or PartialObjectMetadataList (lists).
    Metadata,
    Table(IncludeObject),
}

/// Picks the first acceptable media type of `Accept` (JSON only; no header: full JSON objects).
pub fn negotiate(accept: Option<&str>, include: IncludeObject) -> Result<Form, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Form::Full);
    };
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            continue;
        }
        let (mut as_, mut group, mut version) = (None, None, None);
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(v.trim()),
                    "g" => group = Some(v.trim()),
                    "v" => version = Some(v.trim()),
                    _ => {}
                }
            }
        }
        match (as_, group, version) {
            (None, _, _) => return Ok(Form::Full),
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Ok(Form::Table(include));
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) => {
                return Ok(Form::Metadata);
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable())
}

/// `includeObject` (Tables): `None`, `Metadata` (kubectl's default) or `Object`.
pub fn include_object(value: Option<&str>) -> IncludeObject {
    match value {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// The object with the apiVersion of the version requested (one storage, any served version).
pub fn full(rt: &ResourceType, object: &Value) -> Value {
    let mut object = rt.view.present(object);
    if let Some(root) = object.as_object_mut() {
        root.insert("apiVersion".into(), json!(rt.api_version()));
        root.insert("kind".into(), json!(rt.kind));
    }
    object
}

fn partial_metadata(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
}

/// One object (GET, write responses, watch events) in the requested form.
pub fn present_object(rt: &ResourceType, object: &Value, form: Form) -> Value {
    match form {
        Form::Full => full(rt, object),
        Form::Metadata => partial_metadata(object),
        Form::Table(include) => {
            let rv = object["metadata"]["resourceVersion"].clone();
            as_table(
                rt,
                &[full(rt, object)],
                include,
                json!({"resourceVersion": rv}),
            )
        }
    }
}

/// A list in the requested form; `list_meta` carries resourceVersion and continue.
pub fn present_list(
    rt: &ResourceType,
    items: &[Arc<Value>],
    list_meta: Value,
    form: Form,
) -> Value {
    let mut list_meta = list_meta;
    // Custom resource lists (unstructured in kube-apiserver) always carry `continue`.
    if rt.custom && form == Form::Full && list_meta.get("continue").is_none() {
        list_meta["continue"] = json!("");
    }
    match form {
        Form::Full => json!({
            "apiVersion": rt.api_version(),
            "kind": rt.list_kind,
            "metadata": list_meta,
            "items": items.iter().map(|o| full(rt, o)).collect::<Vec<_>>(),
        }),
        Form::Metadata => json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadataList",
            "metadata": list_meta,
            "items": items.iter().map(|o| partial_metadata(o)).collect::<Vec<_>>(),
        }),
        Form::Table(include) => {
            let objects: Vec<Value> = items.iter().map(|o| full(rt, o)).collect();
            as_table(rt, &objects, include, list_meta)
        }
    }
}

/// A Table: a built-in kind's printer, or a custom resource's printer columns.
fn as_table(
    rt: &ResourceType,
    objects: &[Value],
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    match rt.builtin_table {
        Some(printer) => builtin_table(printer, objects, include, list_meta),
        None => table(&rt.printer_columns, objects, include, list_meta),
    }
}

/// The object of a BOOKMARK event: type and resourceVersion only (plus annotations when given).
pub fn bookmark_object(
    rt: &ResourceType,
    rv: u64,
    form: Form,
    annotations: Option<Value>,
) -> Value {
    let (api_version, kind) = match form {
        Form::Metadata => (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadata".to_string(),
        ),
        _ => (rt.api_version(), rt.kind.clone()),
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(annotations) = annotations {
        metadata["annotations"] = annotations;
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let m = IncludeObject::Metadata;
        assert_eq!(negotiate(None, m).unwrap(), Form::Full);
        assert_eq!(
            negotiate(Some("application/json, */*"), m).unwrap(),
            Form::Full
        );
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"), m).unwrap(),
            Form::Table(m)
        );
        assert_eq!(
            negotiate(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                m
            )
            .unwrap(),
            Form::Metadata
        );
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                m
            )
            .unwrap(),
            Form::Full
        );
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf"), m).is_err());
    }
}
