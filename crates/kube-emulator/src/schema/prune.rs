//! Pruning of undeclared fields and defaulting, with kube-apiserver's structural algorithms:
//! - pruning drops every field the schema does not declare, except below
//!   `x-kubernetes-preserve-unknown-fields: true` (where declared fields are still pruned inside);
//! - nulls in non-nullable fields are dropped, unless the field has a default, which replaces them;
//! - a default applies to an absent field whose parent object exists, recursively (defaults of
//!   defaulted objects and of array items included).

use super::node::SchemaNode;
use serde_json::{Map, Value};

/// Fields of an object that are never pruned at the resource root or in embedded resources.
const TYPE_META: &[&str] = &["apiVersion", "kind"];

/// Prunes a whole resource: apiVersion, kind and metadata at the root are always kept as they are.
pub(crate) fn prune_resource(object: &mut Value, root: &SchemaNode) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    for (key, value) in fields.iter_mut() {
        if TYPE_META.contains(&key.as_str()) || key == "metadata" {
            continue;
        }
        if let Some(child) = root.child(key) {
            prune(value, Some(child));
        } else if root.preserve_unknown_fields() {
            prune(value, None);
        }
    }
    if !root.preserve_unknown_fields() {
        fields.retain(|key, _| {
            TYPE_META.contains(&key.as_str()) || key == "metadata" || root.child(key).is_some()
        });
    }
}

/// Prunes a value against its schema. `None`: the value sits below preserve-unknown-fields
/// without a schema of its own, and is kept whole.
fn prune(value: &mut Value, schema: Option<&SchemaNode>) {
    let Some(schema) = schema else {
        return;
    };
    match value {
        Value::Object(fields) => {
            let embedded = schema.embedded_resource();
            for (key, child) in fields.iter_mut() {
                if embedded && (TYPE_META.contains(&key.as_str()) || key == "metadata") {
                    continue;
                }
                prune(child, schema.child(key));
            }
            if !schema.preserve_unknown_fields() {
                fields.retain(|key, _| {
                    (embedded && (TYPE_META.contains(&key.as_str()) || key == "metadata"))
                        || schema.child(key).is_some()
                });
            }
        }
        Value::Array(items) => {
            for item in items {
                prune(item, schema.items());
            }
        }
        _ => {}
    }
}

/// Drops nulls of non-nullable fields without default, then applies defaults. `object` is the
/// whole resource; defaults apply inside it (the root always exists).
pub(crate) fn default_resource(object: &mut Value, root: &SchemaNode) {
    prune_nulls(object, root);
    apply_defaults(object, root);
}

fn is_non_nullable_null(value: &Value, schema: &SchemaNode) -> bool {
    value.is_null() && !schema.nullable()
}

/// Nulls where the schema does not allow them and no default would replace them are dropped,
/// as if the client had not sent the field.
fn prune_nulls(value: &mut Value, schema: &SchemaNode) {
    match value {
        Value::Object(fields) => {
            fields.retain(|key, child| match schema.child(key) {
                Some(child_schema) => {
                    !(is_non_nullable_null(child, child_schema)
                        && child_schema.default_value().is_none())
                }
                None => true,
            });
            for (key, child) in fields.iter_mut() {
                if let Some(child_schema) = schema.child(key) {
                    prune_nulls(child, child_schema);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.items() {
                for item in items {
                    prune_nulls(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn apply_defaults(value: &mut Value, schema: &SchemaNode) {
    match value {
        Value::Object(fields) => {
            default_absent_properties(fields, schema);
            for (key, child) in fields.iter_mut() {
                let Some(child_schema) = schema.child(key) else {
                    continue;
                };
                if schema.property(key).is_none()
                    && is_non_nullable_null(child, child_schema)
                    && let Some(default) = child_schema.default_value()
                {
                    *child = default.clone();
                }
                apply_defaults(child, child_schema);
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.items() else {
                return;
            };
            for item in items {
                if is_non_nullable_null(item, item_schema)
                    && let Some(default) = item_schema.default_value()
                {
                    *item = default.clone();
                }
                apply_defaults(item, item_schema);
            }
        }
        _ => {}
    }
}

/// Declared properties that are absent (or null where null is not allowed) take their default.
fn default_absent_properties(fields: &mut Map<String, Value>, schema: &SchemaNode) {
    for (name, property) in schema.properties() {
        let Some(default) = property.default_value() else {
            continue;
        };
        let missing = match fields.get(name) {
            None => true,
            Some(present) => is_non_nullable_null(present, property),
        };
        if missing {
            fields.insert(name.to_owned(), default.clone());
        }
    }
}
