//! Translation of the Kubernetes OpenAPI v3 dialect into plain JSON Schema (draft 4, whose
//! boolean `exclusiveMinimum`/`exclusiveMaximum` OpenAPI v3.0 shares), for the `jsonschema` crate.

use serde_json::{Map, Value, json};

/// Formats kube-apiserver checks that the `jsonschema` crate checks the same way. Every other
/// format (`int32`, `int64`, `double`, `byte`, `duration`, `quantity`, ...) is dropped before
/// validation: kube-apiserver ignores the formats it does not know, and the ones it knows but
/// words differently from JSON Schema (Go durations, base64 `byte`) must not be checked with
/// JSON Schema's meaning.
const CHECKED_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Keywords only for people and for Kubernetes' own machinery, not for validation.
const DROPPED_KEYWORDS: &[&str] = &[
    "default",
    "description",
    "example",
    "externalDocs",
    "title",
    "nullable",
];

/// The JSON Schema that validates objects of a CRD version with this `openAPIV3Schema`.
pub(crate) fn to_json_schema(schema: &Value) -> Value {
    let mut translated = translate(schema);
    // The root `metadata` is ObjectMeta, validated by the server itself; a CRD may only add
    // restrictions on `name` and `generateName`.
    if let Some(metadata) = translated
        .pointer_mut("/properties/metadata")
        .and_then(Value::as_object_mut)
    {
        let restricted: Map<String, Value> = metadata
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .filter(|(name, _)| *name == "name" || *name == "generateName")
                    .map(|(name, schema)| (name.clone(), schema.clone()))
                    .collect()
            })
            .unwrap_or_default();
        *metadata = Map::new();
        metadata.insert("type".into(), json!("object"));
        if !restricted.is_empty() {
            metadata.insert("properties".into(), Value::Object(restricted));
        }
    }
    translated
}

fn translate(schema: &Value) -> Value {
    let Some(node) = schema.as_object() else {
        return schema.clone();
    };
    let flag = |key: &str| node.get(key).and_then(Value::as_bool).unwrap_or(false);
    let nullable = flag("nullable");
    let mut out = Map::new();
    for (key, value) in node {
        if key.starts_with("x-kubernetes-") || DROPPED_KEYWORDS.contains(&key.as_str()) {
            continue;
        }
        let translated = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .map(|properties| {
                        properties
                            .iter()
                            .map(|(name, schema)| (name.clone(), translate(schema)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => translate(value),
            "format" => match value.as_str() {
                Some(format) if CHECKED_FORMATS.contains(&format) => value.clone(),
                _ => continue,
            },
            "uniqueItems" => continue,
            // `anyOf: [{type: integer}, {type: string}]` only restates int-or-string, which the
            // type below checks; kept, it would report every failure twice.
            "anyOf" if flag("x-kubernetes-int-or-string") && restates_int_or_string(value) => {
                continue;
            }
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .map(|branches| branches.iter().map(translate).collect())
                    .unwrap_or_default(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }
    if flag("x-kubernetes-int-or-string") {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if flag("x-kubernetes-embedded-resource") {
        embed_resource_fields(&mut out);
    }
    if nullable {
        allow_null(&mut out);
    }
    Value::Object(out)
}

/// An embedded resource carries its own apiVersion and kind (both required) and metadata.
fn embed_resource_fields(out: &mut Map<String, Value>) {
    let properties = out.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties
            .entry("apiVersion")
            .or_insert_with(|| json!({"type": "string"}));
        properties
            .entry("kind")
            .or_insert_with(|| json!({"type": "string"}));
        properties.insert("metadata".into(), json!({"type": "object"}));
    }
    let required = out.entry("required").or_insert_with(|| json!([]));
    if let Some(required) = required.as_array_mut() {
        for field in ["apiVersion", "kind"] {
            if !required.iter().any(|name| name == field) {
                required.push(json!(field));
            }
        }
    }
}

/// `nullable: true`: null passes the type check and the enum check; the other keywords of
/// JSON Schema do not apply to null anyway.
fn allow_null(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            out.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(json!("null"))
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = out.get_mut("enum")
        && !options.contains(&Value::Null)
    {
        options.push(Value::Null);
    }
}

fn restates_int_or_string(branches: &Value) -> bool {
    branches.as_array().is_some_and(|branches| {
        branches.iter().all(|branch| {
            branch.as_object().is_some_and(|branch| {
                branch.len() == 1
                    && matches!(
                        branch.get("type").and_then(Value::as_str),
                        Some("integer" | "string")
                    )
            })
        })
    })
}
