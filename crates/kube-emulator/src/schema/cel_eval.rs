//! Evaluation of compiled validation rules against an object (and, on updates, the object it
//! replaces), with apiextensions-apiserver's semantics:
//! - a rule runs at each place its schema level has a non-null value: once per item of an array,
//!   once per value of a map;
//! - a transition rule (reading `oldSelf`) runs only where the old object has a value at the
//!   same place: the same property, the same map key, the list-map item with the same keys
//!   (items of other lists are never compared);
//! - a failure is `<path>: Invalid value: <value>: <message>` for a scalar, `<path>: Invalid
//!   value: <message>` for an object or list (or Forbidden, Required, Duplicate by the rule's
//!   `reason`), at the rule's `fieldPath` when it names one.

use super::Cause;
use super::causes::{DUPLICATE, FORBIDDEN, INVALID, REQUIRED, go_number};
use super::cel_rules::{CompiledRule, ENVIRONMENT, RuleReason, RuleTree};
use super::cel_values::{escape_property, resource_to_cel, to_cel};
use super::list_types::map_key;
use super::node::{ListType, SchemaNode};
use cel::objects::KeyRef;
use cel::{Context, ExecutionError, Value as CelValue};
use serde_json::Value;

/// Failures of the rules in `tree` for `object`; `old` is the stored object on an update.
pub(crate) fn evaluate(
    tree: &RuleTree,
    schema: &SchemaNode,
    object: &Value,
    old: Option<&Value>,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    let level = Level {
        tree,
        schema,
        root: true,
    };
    level.walk(object, old, Converted::default(), "", &mut causes);
    causes
}

/// The CEL values of a level (new and old), when a level above already converted its subtree:
/// converting once and handing members down keeps a write's cost to one conversion per level
/// that holds rules, whatever the depth.
#[derive(Default)]
struct Converted {
    new: Option<CelValue>,
    old: Option<CelValue>,
}

impl Converted {
    /// The members at `key` of both maps, for a level below.
    fn member(&self, key: &str) -> Self {
        let member = |value: &Option<CelValue>| match value {
            Some(CelValue::Map(map)) => map.get(&KeyRef::String(key)).cloned(),
            _ => None,
        };
        Self {
            new: member(&self.new),
            old: member(&self.old),
        }
    }
}

fn item(list: Option<&CelValue>, index: Option<usize>) -> Option<CelValue> {
    match (list, index) {
        (Some(CelValue::List(items)), Some(index)) => items.get(index).cloned(),
        _ => None,
    }
}

struct Level<'a> {
    tree: &'a RuleTree,
    schema: &'a SchemaNode,
    root: bool,
}

impl Level<'_> {
    fn walk(
        &self,
        value: &Value,
        old: Option<&Value>,
        mut converted: Converted,
        path: &str,
        causes: &mut Vec<Cause>,
    ) {
        if value.is_null() {
            return;
        }
        let old = old.filter(|old| !old.is_null());
        if !self.tree.rules.is_empty() {
            let new = converted.new.take().unwrap_or_else(|| self.as_cel(value));
            let old_cel = match (converted.old.take(), old) {
                (Some(converted), Some(_)) => Some(converted),
                (_, Some(old)) => Some(self.as_cel(old)),
                (_, None) => None,
            };
            self.run_rules(&new, old_cel.as_ref(), value, path, causes);
            converted = Converted {
                new: Some(new),
                old: old_cel,
            };
        }
        match value {
            Value::Object(fields) => {
                for (name, subtree) in &self.tree.properties {
                    let (Some(child), Some(schema)) =
                        (fields.get(name), self.schema.property(name))
                    else {
                        continue;
                    };
                    let level = Level {
                        tree: subtree,
                        schema,
                        root: false,
                    };
                    let old_child = old.and_then(|old| old.get(name));
                    let below = escape_property(name)
                        .map(|identifier| converted.member(&identifier))
                        .unwrap_or_default();
                    level.walk(child, old_child, below, &join(path, name), causes);
                }
                if let (Some(subtree), Some(schema)) = (
                    &self.tree.additional_properties,
                    self.schema.additional_properties(),
                ) {
                    let level = Level {
                        tree: subtree,
                        schema,
                        root: false,
                    };
                    for (key, child) in fields {
                        if self.schema.property(key).is_some() {
                            continue;
                        }
                        let old_child = old.and_then(|old| old.get(key));
                        let below = converted.member(key);
                        level.walk(child, old_child, below, &join(path, key), causes);
                    }
                }
            }
            Value::Array(items) => {
                let (Some(subtree), Some(schema)) = (&self.tree.items, self.schema.items()) else {
                    return;
                };
                let level = Level {
                    tree: subtree,
                    schema,
                    root: false,
                };
                let old_items = old.and_then(Value::as_array);
                for (index, item_value) in items.iter().enumerate() {
                    let old_index = match (self.schema.list_type(), old_items) {
                        (ListType::Map { keys }, Some(old_items)) => {
                            let identity = map_key(item_value, keys);
                            old_items
                                .iter()
                                .position(|candidate| map_key(candidate, keys) == identity)
                        }
                        _ => None,
                    };
                    let old_item = old_index.and_then(|at| old_items?.get(at));
                    let below = Converted {
                        new: item(converted.new.as_ref(), Some(index)),
                        old: item(converted.old.as_ref(), old_index),
                    };
                    level.walk(
                        item_value,
                        old_item,
                        below,
                        &format!("{path}[{index}]"),
                        causes,
                    );
                }
            }
            _ => {}
        }
    }

    fn as_cel(&self, value: &Value) -> CelValue {
        if self.root {
            resource_to_cel(value, self.schema)
        } else {
            to_cel(value, self.schema)
        }
    }

    fn run_rules(
        &self,
        value: &CelValue,
        old: Option<&CelValue>,
        json: &Value,
        path: &str,
        causes: &mut Vec<Cause>,
    ) {
        let mut context = Context::with_env(ENVIRONMENT.clone());
        context.add_variable_from_value("self", value.clone());
        if let Some(old) = old {
            context.add_variable_from_value("oldSelf", old.clone());
        }
        let type_name = self.schema.type_().unwrap_or("object");
        let shown = shown_value(json);
        let shown = shown.as_deref();
        let field = if path.is_empty() { "<nil>" } else { path };
        for rule in &self.tree.rules {
            if rule.transition && old.is_none() {
                continue;
            }
            match rule.program.execute(&context) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => {
                    let message = failure_message(rule, &context);
                    let at = if rule.field_path.is_empty() {
                        field.to_owned()
                    } else {
                        join(path, &rule.field_path)
                    };
                    causes.push(failure(rule.reason, at, type_name, shown, message));
                }
                Ok(other) => causes.push(invalid(
                    field,
                    shown,
                    format!(
                        "rule evaluated to {}, not a bool: {}",
                        other.type_of(),
                        rule.error_name()
                    ),
                )),
                Err(ExecutionError::NoSuchOverload(overload)) => causes.push(invalid(
                    field,
                    shown,
                    format!(
                        "'no such overload: {overload}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                        rule.error_name()
                    ),
                )),
                Err(error) => causes.push(invalid(
                    field,
                    shown,
                    format!("{error} evaluating rule: {}", rule.error_name()),
                )),
            }
        }
    }
}

/// The message expression's text when it gives one (a non-empty single line), else the message.
fn failure_message(rule: &CompiledRule, context: &Context) -> String {
    rule.message_expression
        .as_ref()
        .and_then(|expression| match expression.execute(context) {
            Ok(CelValue::String(text)) => Some(text.trim().to_owned()),
            _ => None,
        })
        .filter(|text| !text.is_empty() && !text.contains('\n'))
        .unwrap_or_else(|| rule.message_or_default())
}

fn failure(
    reason: RuleReason,
    field: String,
    type_name: &str,
    shown: Option<&str>,
    message: String,
) -> Cause {
    match reason {
        RuleReason::Invalid => invalid(&field, shown, message),
        RuleReason::Forbidden => Cause {
            reason: FORBIDDEN.to_owned(),
            message: format!("Forbidden: {message}"),
            field,
        },
        RuleReason::Required => Cause {
            reason: REQUIRED.to_owned(),
            message: format!("Required value: {message}"),
            field,
        },
        RuleReason::Duplicate => Cause {
            reason: DUPLICATE.to_owned(),
            message: format!("Duplicate value: {type_name:?}"),
            field,
        },
    }
}

/// kube-apiserver (v1.37) shows a scalar's value in a rule's failure, nothing for an object or list.
fn invalid(field: &str, shown: Option<&str>, message: String) -> Cause {
    Cause {
        reason: INVALID.to_owned(),
        message: match shown {
            Some(value) => format!("Invalid value: {value}: {message}"),
            None => format!("Invalid value: {message}"),
        },
        field: field.to_owned(),
    }
}

/// A scalar as Go prints it in a field error (strings quoted); None for anything else.
fn shown_value(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => Some(go_number(number)),
        Value::String(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
