//! Uniqueness of `x-kubernetes-list-type: set` items and of `map` item keys, as kube-apiserver
//! checks it on every write (a `FieldValueDuplicate` cause per repeated item).

use super::Cause;
use super::causes::{DUPLICATE, go_value};
use super::node::{ListType, SchemaNode};
use serde_json::{Map, Value};

/// Causes for repeated set items and repeated list-map keys anywhere in `value`.
pub(crate) fn duplicates(value: &Value, schema: &SchemaNode, path: &str, causes: &mut Vec<Cause>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                if let Some(child_schema) = schema.child(key) {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    duplicates(child, child_schema, &child_path, causes);
                }
            }
        }
        Value::Array(items) => {
            match schema.list_type() {
                ListType::Atomic => {}
                ListType::Set => {
                    for (index, item) in items.iter().enumerate() {
                        if items[..index].contains(item) {
                            causes.push(duplicate(format!("{path}[{index}]"), item));
                        }
                    }
                }
                ListType::Map { keys } => {
                    let identities: Vec<Value> =
                        items.iter().map(|item| map_key(item, keys)).collect();
                    for (index, identity) in identities.iter().enumerate() {
                        if identities[..index].contains(identity) {
                            causes.push(duplicate(format!("{path}[{index}]"), identity));
                        }
                    }
                }
            }
            if let Some(item_schema) = schema.items() {
                for (index, item) in items.iter().enumerate() {
                    duplicates(item, item_schema, &format!("{path}[{index}]"), causes);
                }
            }
        }
        _ => {}
    }
}

/// The identity of a list-map item: its key fields (those present), keys sorted as Go prints maps.
pub(crate) fn map_key(item: &Value, keys: &[String]) -> Value {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut identity = Map::new();
    for key in sorted {
        if let Some(value) = item.get(key) {
            identity.insert(key.clone(), value.clone());
        }
    }
    Value::Object(identity)
}

fn duplicate(field: String, value: &Value) -> Cause {
    Cause {
        reason: DUPLICATE.to_owned(),
        message: format!("Duplicate value: {}", go_value(value)),
        field,
    }
}
