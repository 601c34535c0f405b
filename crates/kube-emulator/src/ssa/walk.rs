//! The four walks of field management over an object and its [`Shape`]: the field set a value
//! sets, the comparison of two values, the merge of an applied configuration into a live
//! object, and the removal of fields nobody owns any more.

use super::field_set::{FieldSet, PathElement, canonical_json};
use super::shape::{FieldRule, Kind, Shape};
use serde_json::{Map, Value};

/// The path element of a list item: its key fields for a list-map (a key the item omits
/// counts with its schema default), its value for a set.
fn item_element(item: &Value, kind: Kind<'_>, item_shape: Shape<'_>) -> Option<PathElement> {
    match kind {
        Kind::Set => Some(PathElement::Value(canonical_json(item))),
        Kind::ListMap(keys) => {
            let mut identity = Map::new();
            for key in keys {
                if let Some(value) = item.get(key).or_else(|| item_shape.default_of(key)) {
                    identity.insert(key.clone(), value.clone());
                }
            }
            Some(PathElement::Key(canonical_json(&Value::Object(identity))))
        }
        Kind::Leaf | Kind::Map => None,
    }
}

fn is_empty_object(value: &Value) -> bool {
    value.as_object().is_some_and(Map::is_empty)
}

/// The fields `value` sets, as server-side apply counts them for its manager.
pub(crate) fn field_set(value: &Value, shape: Shape<'_>) -> FieldSet {
    let mut set = FieldSet::default();
    collect(value, shape, &mut Vec::new(), &mut set);
    set
}

fn collect(value: &Value, shape: Shape<'_>, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    let kind = shape.kind_of(value);
    match (kind, value) {
        (Kind::Map, Value::Object(fields)) => {
            for (key, child) in fields {
                let FieldRule::Tracked {
                    shape: child_shape,
                    declared,
                } = shape.field(key)
                else {
                    continue;
                };
                path.push(PathElement::Field(key.clone()));
                collect(child, child_shape, path, set);
                // Named fields are owned through what they contain; map entries, empty objects
                // and nulls are owned as such.
                if !declared || child.is_null() || is_empty_object(child) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Kind::Set | Kind::ListMap(_), Value::Array(items)) => {
            for item in items {
                let Some(element) = item_element(item, kind, shape.item()) else {
                    continue;
                };
                path.push(element);
                if matches!(kind, Kind::ListMap(_)) {
                    collect(item, shape.item(), path, set);
                }
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// What changed from one value to another, path by path.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

pub(crate) fn compare(old: Option<&Value>, new: Option<&Value>, shape: Shape<'_>) -> Comparison {
    let mut comparison = Comparison::default();
    compare_at(old, new, shape, &mut Vec::new(), &mut comparison);
    comparison
}

fn compare_at<'v>(
    old: Option<&'v Value>,
    new: Option<&'v Value>,
    shape: Shape<'_>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
) {
    let old_kind = old.map(|value| shape.kind_of(value));
    let new_kind = new.map(|value| shape.kind_of(value));
    let kind = match (old_kind, new_kind) {
        (Some(a), Some(b)) if a != b => Kind::Leaf,
        (_, Some(kind)) | (Some(kind), None) => kind,
        (None, None) => return,
    };
    // A granular object or list that appears (or goes) whole is itself added (or removed),
    // besides everything in it, as kube-apiserver counts it: `f:labels: {".": {}, "f:app": {}}`.
    if kind != Kind::Leaf && !path.is_empty() {
        match (old, new) {
            (None, Some(_)) => out.added.insert(path),
            (Some(_), None) => out.removed.insert(path),
            _ => {}
        }
    }
    match kind {
        Kind::Map => {
            let empty = Map::new();
            let old_fields = old.and_then(Value::as_object).unwrap_or(&empty);
            let new_fields = new.and_then(Value::as_object).unwrap_or(&empty);
            if old_fields.is_empty() && new_fields.is_empty() {
                return compare_leaf(old, new, path, out);
            }
            let keys = old_fields.keys().chain(
                new_fields
                    .keys()
                    .filter(|key| !old_fields.contains_key(*key)),
            );
            for key in keys {
                let FieldRule::Tracked {
                    shape: child_shape, ..
                } = shape.field(key)
                else {
                    continue;
                };
                path.push(PathElement::Field(key.clone()));
                compare_at(
                    old_fields.get(key),
                    new_fields.get(key),
                    child_shape,
                    path,
                    out,
                );
                path.pop();
            }
        }
        Kind::Set | Kind::ListMap(_) => {
            let old_items = index_items(old, kind, shape.item());
            let new_items = index_items(new, kind, shape.item());
            let find = |items: &[(PathElement, &'v Value)], element: &PathElement| {
                items
                    .iter()
                    .find(|(candidate, _)| candidate == element)
                    .map(|(_, item)| *item)
            };
            let mut elements: Vec<PathElement> = old_items
                .iter()
                .map(|(element, _)| element.clone())
                .collect();
            for (element, _) in &new_items {
                if !elements.contains(element) {
                    elements.push(element.clone());
                }
            }
            for element in elements {
                let before = find(&old_items, &element);
                let after = find(&new_items, &element);
                path.push(element);
                match (&before, &after) {
                    (None, Some(_)) => out.added.insert(path),
                    (Some(_), None) => out.removed.insert(path),
                    _ => {}
                }
                if matches!(kind, Kind::ListMap(_)) {
                    compare_at(before, after, shape.item(), path, out);
                }
                path.pop();
            }
        }
        Kind::Leaf => compare_leaf(old, new, path, out),
    }
}

/// The items of a set or list-map with their path elements, in list order.
fn index_items<'v>(
    list: Option<&'v Value>,
    kind: Kind<'_>,
    item_shape: Shape<'_>,
) -> Vec<(PathElement, &'v Value)> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| Some((item_element(item, kind, item_shape)?, item)))
                .collect()
        })
        .unwrap_or_default()
}

fn compare_leaf(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &[PathElement],
    out: &mut Comparison,
) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(before), Some(after)) if before != after => out.modified.insert(path),
        _ => {}
    }
}

/// `live` with the applied configuration merged in: config values win; granular objects merge
/// field by field, set and list-map lists item by item (live order first, new items after).
pub(crate) fn merge(live: Option<&Value>, config: &Value, shape: Shape<'_>) -> Value {
    match (shape.kind_of(config), config) {
        (Kind::Map, Value::Object(fields)) => {
            let mut merged = live.and_then(Value::as_object).cloned().unwrap_or_default();
            for (key, value) in fields {
                match shape.field(key) {
                    FieldRule::Tracked {
                        shape: child_shape, ..
                    } => {
                        let child = merge(merged.get(key), value, child_shape);
                        merged.insert(key.clone(), child);
                    }
                    FieldRule::Untracked | FieldRule::Unknown => {
                        merged.insert(key.clone(), value.clone());
                    }
                    FieldRule::ServerSet => {}
                }
            }
            Value::Object(merged)
        }
        (kind @ (Kind::Set | Kind::ListMap(_)), Value::Array(items)) => {
            let mut merged: Vec<Value> =
                live.and_then(Value::as_array).cloned().unwrap_or_default();
            for item in items {
                let element = item_element(item, kind, shape.item());
                let position = merged
                    .iter()
                    .position(|existing| item_element(existing, kind, shape.item()) == element);
                match (position, kind) {
                    (Some(position), Kind::ListMap(_)) => {
                        merged[position] = merge(Some(&merged[position]), item, shape.item());
                    }
                    (Some(_), _) => {}
                    (None, Kind::ListMap(_)) => merged.push(merge(None, item, shape.item())),
                    (None, _) => merged.push(item.clone()),
                }
            }
            Value::Array(merged)
        }
        _ => config.clone(),
    }
}

/// Removes from `value` the member paths of `remove` that `keep` neither contains nor has
/// anything below: a field still partly owned by someone stays, minus its unowned parts.
pub(crate) fn remove_unowned(
    value: &mut Value,
    remove: &FieldSet,
    keep: &FieldSet,
    shape: Shape<'_>,
) {
    let kind = shape.kind_of(value);
    let empty = FieldSet::default();
    for (element, to_remove) in remove.children() {
        let kept = keep.child(element).unwrap_or(&empty);
        let drop_whole = to_remove.is_member() && kept.is_empty();
        match (element, &mut *value) {
            (PathElement::Field(key), Value::Object(fields)) => {
                if drop_whole {
                    fields.shift_remove(key);
                } else if let (
                    Some(child),
                    FieldRule::Tracked {
                        shape: child_shape, ..
                    },
                ) = (fields.get_mut(key), shape.field(key))
                {
                    remove_unowned(child, to_remove, kept, child_shape);
                }
            }
            (PathElement::Key(_) | PathElement::Value(_), Value::Array(items)) => {
                let Some(position) = items.iter().position(|item| {
                    item_element(item, kind, shape.item()).as_ref() == Some(element)
                }) else {
                    continue;
                };
                if drop_whole {
                    items.remove(position);
                } else if matches!(kind, Kind::ListMap(_)) {
                    remove_unowned(&mut items[position], to_remove, kept, shape.item());
                }
            }
            _ => {}
        }
    }
}

/// Refuses applied configurations kube-apiserver refuses: list-map items without their keys,
/// and repeated set or list-map items. The message names the list as a field path.
pub(crate) fn check_applied(value: &Value, shape: Shape<'_>) -> Result<(), String> {
    check_at(value, shape, &mut Vec::new())
}

fn check_at(value: &Value, shape: Shape<'_>, path: &mut Vec<PathElement>) -> Result<(), String> {
    let kind = shape.kind_of(value);
    match (kind, value) {
        (Kind::Map, Value::Object(fields)) => {
            for (key, child) in fields {
                if let FieldRule::Tracked {
                    shape: child_shape, ..
                } = shape.field(key)
                {
                    path.push(PathElement::Field(key.clone()));
                    check_at(child, child_shape, path)?;
                    path.pop();
                }
            }
        }
        (Kind::Set | Kind::ListMap(_), Value::Array(items)) => {
            let mut seen: Vec<PathElement> = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                if let Kind::ListMap(keys) = kind
                    && let Some(missing) = keys.iter().find(|key| {
                        item.get(key.as_str()).is_none() && shape.item().default_of(key).is_none()
                    })
                {
                    return Err(format!(
                        "{}: element {index}: associative list with keys has an element that omits key field \"{missing}\" (and doesn't have default value)",
                        super::field_set::FieldPath(path.clone())
                    ));
                }
                let Some(element) = item_element(item, kind, shape.item()) else {
                    continue;
                };
                if seen.contains(&element) {
                    let mut duplicate = path.clone();
                    duplicate.push(element);
                    return Err(format!(
                        "{}: duplicate entries in the applied configuration",
                        super::field_set::FieldPath(duplicate)
                    ));
                }
                if matches!(kind, Kind::ListMap(_)) {
                    path.push(element.clone());
                    check_at(item, shape.item(), path)?;
                    path.pop();
                }
                seen.push(element);
            }
        }
        _ => {}
    }
    Ok(())
}
