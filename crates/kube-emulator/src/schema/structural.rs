//! Structural-schema rules of apiextensions.k8s.io/v1, checked when a CRD is registered.
//!
//! A structural schema declares a non-empty `type` at every level (except int-or-string and
//! preserve-unknown-fields nodes), keeps `properties` and `additionalProperties` apart, and uses
//! value validations (`allOf`, `anyOf`, `oneOf`, `not`) only to validate, never to declare types,
//! defaults or fields. Messages follow kube-apiserver's field-error wording, with paths in its
//! `openAPIV3Schema.properties[spec].type` notation.

use serde_json::{Map, Value};

/// Keywords a CRD schema may not use at all.
const FORBIDDEN_KEYWORDS: &[&str] = &[
    "$ref",
    "$schema",
    "id",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
];

/// Keywords that declare structure, which value validations may not carry.
const STRUCTURE_KEYWORDS: &[&str] = &[
    "type",
    "default",
    "description",
    "nullable",
    "additionalProperties",
];

const JUNCTORS: &[&str] = &["allOf", "anyOf", "oneOf"];

const SCALAR_TYPES: &[&str] = &["string", "integer", "number", "boolean"];

/// Every violation in the schema, each as `path: message`. Empty for a structural schema.
pub(crate) fn violations(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let path = "openAPIV3Schema";
    let Some(root) = schema.as_object() else {
        found.push(format!("{path}: Required value: must be an object"));
        return found;
    };
    match root.get("type").and_then(Value::as_str) {
        Some("object") => {}
        Some(other) => found.push(format!(
            "{path}.type: Invalid value: \"{other}\": must be object at the root"
        )),
        None => found.push(format!(
            "{path}.type: Required value: must not be empty at the root"
        )),
    }
    if let Some(metadata) = root
        .get("properties")
        .and_then(|properties| properties.get("metadata"))
    {
        check_root_metadata(
            metadata,
            &format!("{path}.properties[metadata]"),
            &mut found,
        );
    }
    check_node(root, path, Level::Root, &mut found);
    found
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Property,
    Items,
    AdditionalProperties,
}

fn check_node(node: &Map<String, Value>, path: &str, level: Level, found: &mut Vec<String>) {
    for keyword in FORBIDDEN_KEYWORDS {
        if node.contains_key(*keyword) {
            found.push(format!(
                "{path}.{keyword}: Forbidden: {keyword} is not supported"
            ));
        }
    }
    if node.get("uniqueItems") == Some(&Value::Bool(true)) {
        found.push(format!(
            "{path}.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        ));
    }
    let flag = |key: &str| node.get(key).and_then(Value::as_bool).unwrap_or(false);
    let int_or_string = flag("x-kubernetes-int-or-string");
    let preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
    let type_ = node.get("type").and_then(Value::as_str);

    if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        found.push(format!(
            "{path}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        ));
    }
    match (type_, node.get("type")) {
        (None, Some(other)) => found.push(format!("{path}.type: Invalid value: {other}: must be a string")),
        (Some(t), _) if !["object", "array", "string", "integer", "number", "boolean"].contains(&t) => {
            found.push(format!("{path}.type: Unsupported value: \"{t}\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""))
        }
        (Some(_), _) if int_or_string => found.push(format!(
            "{path}.type: Invalid value: \"{}\": must be empty if x-kubernetes-int-or-string is true",
            type_.unwrap_or_default()
        )),
        (None, None) if !int_or_string && !preserve_unknown && level != Level::Root => {
            let which = match level {
                Level::Items => "for specified array items",
                _ => "for specified object fields",
            };
            found.push(format!("{path}.type: Required value: must not be empty {which}"));
        }
        _ => {}
    }

    let properties = node.get("properties");
    if let Some(additional) = node.get("additionalProperties") {
        if properties.is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty())) {
            found.push(format!(
                "{path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ));
        }
        match additional {
            Value::Bool(false) => found.push(format!(
                "{path}.additionalProperties: Forbidden: must not be false"
            )),
            Value::Object(schema) => check_node(
                schema,
                &format!("{path}.additionalProperties"),
                Level::AdditionalProperties,
                found,
            ),
            _ => {}
        }
    }
    match properties {
        Some(Value::Object(properties)) => {
            for (name, schema) in properties {
                let child = format!("{path}.properties[{name}]");
                match schema.as_object() {
                    Some(schema) => check_node(schema, &child, Level::Property, found),
                    None => found.push(format!(
                        "{child}: Invalid value: {schema}: must be a schema object"
                    )),
                }
            }
        }
        Some(other) => found.push(format!(
            "{path}.properties: Invalid value: {other}: must be an object"
        )),
        None => {}
    }
    match node.get("items") {
        Some(Value::Object(items)) => {
            check_node(items, &format!("{path}.items"), Level::Items, found)
        }
        Some(Value::Array(_)) => found.push(format!(
            "{path}.items: Forbidden: items must be a schema object and not an array"
        )),
        Some(other) => found.push(format!(
            "{path}.items: Invalid value: {other}: must be a schema object"
        )),
        None if type_ == Some("array") => {
            found.push(format!("{path}.items: Required value: must be specified"))
        }
        None => {}
    }
    if flag("x-kubernetes-embedded-resource") {
        if type_ != Some("object") {
            found.push(format!("{path}.type: Invalid value: \"{}\": must be object if x-kubernetes-embedded-resource is true", type_.unwrap_or_default()));
        }
        if properties.is_none() && !preserve_unknown {
            found.push(format!(
                "{path}.properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
            ));
        }
    }
    check_list_type(node, path, type_, found);
    if node.contains_key("x-kubernetes-map-type") {
        match node.get("x-kubernetes-map-type").and_then(Value::as_str) {
            Some("granular" | "atomic") if type_ == Some("object") => {}
            Some("granular" | "atomic") => found.push(format!("{path}.x-kubernetes-map-type: Invalid value: \"{}\": must only be used if type is object", type_.unwrap_or_default())),
            _ => found.push(format!("{path}.x-kubernetes-map-type: Unsupported value: {}: supported values: \"atomic\", \"granular\"", node["x-kubernetes-map-type"])),
        }
    }
    for junctor in JUNCTORS {
        if let Some(branches) = node.get(*junctor) {
            match branches.as_array() {
                Some(branches) => {
                    for (index, branch) in branches.iter().enumerate() {
                        if int_or_string && is_int_or_string_branch(branch) {
                            continue;
                        }
                        check_value_validation(
                            branch,
                            &format!("{path}.{junctor}[{index}]"),
                            found,
                        );
                    }
                }
                None => found.push(format!(
                    "{path}.{junctor}: Invalid value: {branches}: must be an array"
                )),
            }
        }
    }
    if let Some(not) = node.get("not") {
        check_value_validation(not, &format!("{path}.not"), found);
    }
}

fn check_list_type(
    node: &Map<String, Value>,
    path: &str,
    type_: Option<&str>,
    found: &mut Vec<String>,
) {
    let list_type = node.get("x-kubernetes-list-type");
    let map_keys = node.get("x-kubernetes-list-map-keys");
    let Some(list_type) = list_type else {
        if map_keys.is_some() {
            found.push(format!(
                "{path}.x-kubernetes-list-map-keys: Forbidden: must only be used if x-kubernetes-list-type is \"map\""
            ));
        }
        return;
    };
    if type_ != Some("array") {
        found.push(format!("{path}.x-kubernetes-list-type: Invalid value: {list_type}: must only be used if type is array"));
        return;
    }
    let items = node.get("items").and_then(Value::as_object);
    let items_type = items
        .and_then(|items| items.get("type"))
        .and_then(Value::as_str);
    match list_type.as_str() {
        Some("atomic") => {}
        Some("set") => {
            let atomic_item = items.is_some_and(|items| {
                items.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
                    || items.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("atomic")
            });
            if !items_type.is_some_and(|t| SCALAR_TYPES.contains(&t)) && !atomic_item {
                found.push(format!(
                    "{path}.items.x-kubernetes-map-type: Invalid value: \"null\": must be atomic as item of a list with x-kubernetes-list-type=set"
                ));
            }
            if map_keys.is_some() {
                found.push(format!("{path}.x-kubernetes-list-map-keys: Forbidden: must only be used if x-kubernetes-list-type is \"map\""));
            }
        }
        Some("map") => {
            if items_type != Some("object") {
                found.push(format!("{path}.items.type: Invalid value: \"{}\": must be object if parent array's x-kubernetes-list-type is map", items_type.unwrap_or_default()));
            }
            let keys: Vec<&str> = map_keys
                .and_then(Value::as_array)
                .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                found.push(format!(
                    "{path}.x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
                ));
            }
            let item_properties = items.and_then(|items| items.get("properties")).and_then(Value::as_object);
            let required: Vec<&str> = items
                .and_then(|items| items.get("required"))
                .and_then(Value::as_array)
                .map(|required| required.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in keys {
                let key_schema = item_properties.and_then(|properties| properties.get(key));
                match key_schema {
                    None => found.push(format!(
                        "{path}.x-kubernetes-list-map-keys: Invalid value: \"{key}\": entries must all be names of item properties"
                    )),
                    Some(key_schema) => {
                        let key_type = key_schema.get("type").and_then(Value::as_str);
                        if !key_type.is_some_and(|t| SCALAR_TYPES.contains(&t)) {
                            found.push(format!("{path}.items.properties[{key}].type: Invalid value: \"{}\": must be a scalar type if parent array's x-kubernetes-list-type is map", key_type.unwrap_or_default()));
                        }
                        if !required.contains(&key) && key_schema.get("default").is_none() {
                            found.push(format!("{path}.items.properties[{key}]: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"));
                        }
                    }
                }
            }
        }
        _ => found.push(format!(
            "{path}.x-kubernetes-list-type: Unsupported value: {list_type}: supported values: \"atomic\", \"map\", \"set\""
        )),
    }
}

/// A branch of `allOf`/`anyOf`/`oneOf`/`not` may only validate.
fn check_value_validation(branch: &Value, path: &str, found: &mut Vec<String>) {
    let Some(branch) = branch.as_object() else {
        found.push(format!(
            "{path}: Invalid value: {branch}: must be a schema object"
        ));
        return;
    };
    for keyword in STRUCTURE_KEYWORDS {
        if branch.contains_key(*keyword) {
            found.push(format!(
                "{path}.{keyword}: Forbidden: must be empty to be structural"
            ));
        }
    }
    for keyword in branch.keys().filter(|key| key.starts_with("x-kubernetes-")) {
        found.push(format!(
            "{path}.{keyword}: Forbidden: must be empty to be structural"
        ));
    }
    for keyword in FORBIDDEN_KEYWORDS {
        if branch.contains_key(*keyword) {
            found.push(format!(
                "{path}.{keyword}: Forbidden: {keyword} is not supported"
            ));
        }
    }
    let nested = |key: &str| branch.get(key).and_then(Value::as_object);
    if let Some(properties) = nested("properties") {
        for (name, schema) in properties {
            check_value_validation(schema, &format!("{path}.properties[{name}]"), found);
        }
    }
    if let Some(items) = branch.get("items") {
        check_value_validation(items, &format!("{path}.items"), found);
    }
    for junctor in JUNCTORS {
        if let Some(branches) = branch.get(*junctor).and_then(Value::as_array) {
            for (index, inner) in branches.iter().enumerate() {
                check_value_validation(inner, &format!("{path}.{junctor}[{index}]"), found);
            }
        }
    }
    if let Some(not) = branch.get("not") {
        check_value_validation(not, &format!("{path}.not"), found);
    }
}

/// The root `metadata` may only restrict `name` and `generateName`: the rest is ObjectMeta.
fn check_root_metadata(metadata: &Value, path: &str, found: &mut Vec<String>) {
    let Some(metadata) = metadata.as_object() else {
        return;
    };
    let allowed = |key: &str| matches!(key, "type" | "properties" | "description");
    let extra = metadata.keys().any(|key| !allowed(key))
        || metadata
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|properties| {
                properties
                    .keys()
                    .any(|name| name != "name" && name != "generateName")
            });
    if metadata
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "object")
        || extra
    {
        found.push(format!(
            "{path}: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        ));
    }
}

/// `{type: integer}` or `{type: string}`: the one place a value validation may name a type,
/// spelling out `x-kubernetes-int-or-string` (`anyOf: [{type: integer}, {type: string}]`).
fn is_int_or_string_branch(branch: &Value) -> bool {
    branch.as_object().is_some_and(|branch| {
        branch.len() == 1
            && matches!(
                branch.get("type").and_then(Value::as_str),
                Some("integer" | "string")
            )
    })
}
