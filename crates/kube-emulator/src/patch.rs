//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! (a merge patch whose lists tagged `patchStrategy: merge` in Kubernetes' Go types are merged by
//! key, with the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
//! directives; other lists are replaced).

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The body is not a patch of the declared type (400).
    #[error("{0}")]
    Malformed(String),
    /// The patch does not apply to the object (422).
    #[error("{0}")]
    DoesNotApply(String),
}

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic-merge patch body to a copy of `object` (of `kind`).
pub fn apply_patch(
    object: &Value,
    kind: &str,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, PatchError> {
    let mut target = object.clone();
    match patch_type {
        PatchType::Merge => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(PatchError::Malformed(
                    "merge patch must be a JSON object".into(),
                ));
            }
            json_patch::merge(&mut target, &patch);
        }
        PatchType::StrategicMerge => {
            let mut patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(PatchError::Malformed(
                    "strategic merge patch must be a JSON object".into(),
                ));
            }
            let Value::Object(patch) = patch.take() else {
                unreachable!("checked above")
            };
            let original = match target.take() {
                Value::Object(original) => original,
                _ => Map::new(),
            };
            target = merge_map(original, patch, kind, &mut Vec::new())?;
        }
        PatchType::Json => {
            let operations: Vec<json_patch::PatchOperation> = serde_json::from_slice(body)
                .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))?;
            for operation in &operations {
                apply_operation(&mut target, operation)?;
            }
        }
        PatchType::Apply => {
            return Err(PatchError::Malformed(
                "apply patches are handled by server-side apply".into(),
            ));
        }
    }
    Ok(target)
}

/// One JSON-patch operation. As in kube-apiserver, `test` of `null` on a missing path succeeds: kube's
/// finalizer helper relies on it (`test /metadata/finalizers == null` before adding the first one).
fn apply_operation(
    target: &mut Value,
    operation: &json_patch::PatchOperation,
) -> Result<(), PatchError> {
    if let json_patch::PatchOperation::Test(test) = operation
        && test.value.is_null()
        && target.pointer(test.path.as_str()).is_none()
    {
        return Ok(());
    }
    // kube-apiserver names no operation nor path: the generic message only.
    json_patch::patch(target, std::slice::from_ref(operation)).map_err(|_| {
        PatchError::DoesNotApply(
            "the server rejected our request due to an error in our request".into(),
        )
    })
}

/// How a strategic merge patch merges a list instead of replacing it.
#[derive(Debug, Clone, Copy)]
enum ListMerge {
    /// A set of scalars (`metadata.finalizers`).
    Scalars,
    /// Maps identified by the value of this key.
    ByKey(&'static str),
}

/// The merging lists of the kinds the emulator serves, from the `patchStrategy: merge` tags of
/// Kubernetes' Go types; `path` names the fields from the object's root (list items add nothing).
fn list_merge(kind: &str, path: &[String]) -> Option<ListMerge> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(merge) = object_meta_list(&path) {
        return Some(merge);
    }
    match (kind, path.as_slice()) {
        ("ServiceAccount", ["secrets" | "imagePullSecrets"]) => Some(ListMerge::ByKey("name")),
        ("Service", ["spec", "ports"]) => Some(ListMerge::ByKey("port")),
        ("Deployment" | "Namespace", ["status", "conditions"]) => Some(ListMerge::ByKey("type")),
        ("Deployment", ["spec", "template", "metadata", rest @ ..]) => {
            object_meta_list(&[&["metadata"], rest].concat())
        }
        ("Deployment", ["spec", "template", "spec", rest @ ..]) => pod_spec_list(rest),
        _ => None,
    }
}

fn object_meta_list(path: &[&str]) -> Option<ListMerge> {
    match path {
        ["metadata", "finalizers"] => Some(ListMerge::Scalars),
        ["metadata", "ownerReferences"] => Some(ListMerge::ByKey("uid")),
        _ => None,
    }
}

fn pod_spec_list(path: &[&str]) -> Option<ListMerge> {
    match path {
        [
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets",
        ] => Some(ListMerge::ByKey("name")),
        ["hostAliases"] => Some(ListMerge::ByKey("ip")),
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "env" => Some(ListMerge::ByKey("name")),
            "ports" => Some(ListMerge::ByKey("containerPort")),
            "volumeMounts" => Some(ListMerge::ByKey("mountPath")),
            "volumeDevices" => Some(ListMerge::ByKey("devicePath")),
            _ => None,
        },
        _ => None,
    }
}

const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// kube-apiserver's strategic merge of `patch` into the map `original` at `path`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Value, PatchError> {
    if let Some(directive) = patch.remove("$patch") {
        return match directive.as_str() {
            Some("replace") => {
                let mut replaced = Value::Object(patch);
                strip_directives(&mut replaced);
                Ok(replaced)
            }
            Some("delete") => Ok(Value::Object(Map::new())),
            _ => Err(PatchError::DoesNotApply(format!(
                "Unknown patch type: {directive}"
            ))),
        };
    }
    if let Some(retain) = patch.remove("$retainKeys") {
        let retain = retain.as_array().cloned().unwrap_or_default();
        original.retain(|key, _| retain.iter().any(|k| k.as_str() == Some(key)));
    }
    let mut orders = Vec::new();
    for key in patch.keys().cloned().collect::<Vec<_>>() {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let order = patch.remove(&key).unwrap_or_default();
            orders.push((
                field.to_owned(),
                order.as_array().cloned().unwrap_or_default(),
            ));
        } else if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let remove = patch.remove(&key).unwrap_or_default();
            let remove = remove.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
        }
    }
    let before: Map<String, Value> = orders
        .iter()
        .filter_map(|(field, _)| Some((field.clone(), original.get(field)?.clone())))
        .collect();
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        path.push(key.clone());
        let merged = match (original.remove(&key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => merge_map(old, new, kind, path)?,
            (Some(Value::Array(old)), Value::Array(new)) => match list_merge(kind, path) {
                Some(merge) => Value::Array(merge_list(old, new, merge, kind, path)?),
                None => stripped(Value::Array(new)),
            },
            (_, new) => stripped(new),
        };
        path.pop();
        original.insert(key, merged);
    }
    for (field, order) in orders {
        path.push(field.clone());
        let merge = list_merge(kind, path);
        path.pop();
        if let (Some(merge), Some(Value::Array(items))) = (merge, original.get_mut(&field)) {
            let server = before
                .get(&field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (listed, rest) = partition(std::mem::take(items), &order, merge);
            *items = normalize_order(listed, rest, &order, &server, merge);
        }
    }
    Ok(Value::Object(original))
}

/// Merges a list tagged `patchStrategy: merge`.
fn merge_list(
    mut merged: Vec<Value>,
    patch: Vec<Value>,
    merge: ListMerge,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    let mut items = Vec::new();
    for item in &patch {
        match (merge, item.get("$patch").and_then(Value::as_str)) {
            (ListMerge::ByKey(key), Some("delete")) => {
                let id = key_of(item, key)?;
                merged.retain(|old| old.get(key) != Some(id));
            }
            (ListMerge::ByKey(_), Some("replace")) => {
                return Ok(patch
                    .into_iter()
                    .filter(|item| item.get("$patch").is_none())
                    .map(stripped)
                    .collect());
            }
            (ListMerge::ByKey(_), Some(other)) => {
                return Err(PatchError::DoesNotApply(format!(
                    "Unknown patch type: {other}"
                )));
            }
            _ => items.push(item.clone()),
        }
    }
    // The server's order: the list as stored, less what the patch deleted.
    let server = merged.clone();
    for item in &items {
        match merge {
            ListMerge::Scalars => {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            ListMerge::ByKey(key) => {
                let id = key_of(item, key)?;
                let Value::Object(new) = item.clone() else {
                    unreachable!("key_of found a key, so it is a map")
                };
                match merged.iter().position(|old| old.get(key) == Some(id)) {
                    Some(at) => {
                        let old = match merged[at].take() {
                            Value::Object(old) => old,
                            _ => Map::new(),
                        };
                        merged[at] = merge_map(old, new, kind, path)?;
                    }
                    None => merged.push(stripped(Value::Object(new))),
                }
            }
        }
    }
    let (listed, rest) = partition(merged, &items, merge);
    Ok(normalize_order(listed, rest, &items, &server, merge))
}

fn key_of<'a>(item: &'a Value, key: &str) -> Result<&'a Value, PatchError> {
    item.get(key).ok_or_else(|| {
        PatchError::DoesNotApply(format!(
            "map: {item} does not contain declared merge key: {key}"
        ))
    })
}

/// Where `item` is in `list`: equal scalars, or maps with the same merge key value.
fn index_in(list: &[Value], item: &Value, merge: ListMerge) -> Option<usize> {
    match merge {
        ListMerge::Scalars => list.iter().position(|other| other == item),
        ListMerge::ByKey(key) => {
            let id = item.get(key)?;
            list.iter().position(|other| other.get(key) == Some(id))
        }
    }
}

/// (items listed in `by`, the others), each in their order in `items`.
fn partition(items: Vec<Value>, by: &[Value], merge: ListMerge) -> (Vec<Value>, Vec<Value>) {
    items
        .into_iter()
        .partition(|item| index_in(by, item, merge).is_some())
}

/// kube-apiserver's order of a merged list: the patch's items in the patch's (or
/// `$setElementOrder`'s) order, interleaved with the server-only items where the server's order
/// places both, else the patch's item first.
fn normalize_order(
    mut listed: Vec<Value>,
    mut server_only: Vec<Value>,
    order: &[Value],
    server: &[Value],
    merge: ListMerge,
) -> Vec<Value> {
    let rank = |list: &[Value], item: &Value| index_in(list, item, merge).unwrap_or(usize::MAX);
    listed.sort_by_key(|item| rank(order, item));
    server_only.sort_by_key(|item| rank(server, item));
    let mut out = Vec::with_capacity(listed.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        listed.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (index_in(server, l, merge), index_in(server, r, merge)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

fn stripped(mut value: Value) -> Value {
    strip_directives(&mut value);
    value
}

fn parse_json(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body)
        .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))
}

/// Removes strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`,
/// `$deleteFromPrimitiveList/...`) from a value taken as it is.
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => {
            items.retain(|item| {
                !item
                    .as_object()
                    .is_some_and(|o| o.keys().any(|k| k == "$patch"))
            });
            items.iter_mut().for_each(strip_directives);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finalizer_helper_json_patches_apply() {
        let object = json!({"metadata": {"name": "a"}});
        let add = br#"[{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["f"]}]"#;
        let added = apply_patch(&object, "ConfigMap", PatchType::Json, add).unwrap();
        assert_eq!(added["metadata"]["finalizers"], json!(["f"]));
        let remove = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"f"},{"op":"remove","path":"/metadata/finalizers/0"}]"#;
        let removed = apply_patch(&added, "ConfigMap", PatchType::Json, remove).unwrap();
        assert_eq!(removed["metadata"]["finalizers"], json!([]));
        // A test that fails leaves the object untouched and reports 422-class failure.
        let stale = br#"[{"op":"test","path":"/metadata/finalizers","value":null}]"#;
        assert!(matches!(
            apply_patch(&added, "ConfigMap", PatchType::Json, stale),
            Err(PatchError::DoesNotApply(_))
        ));
    }

    #[test]
    fn merge_and_strategic_patches() {
        let object = json!({"spec": {"a": 1, "b": [1, 2]}});
        let merged = apply_patch(
            &object,
            "ConfigMap",
            PatchType::Merge,
            br#"{"spec":{"a":null,"c":3}}"#,
        )
        .unwrap();
        assert_eq!(merged, json!({"spec": {"b": [1, 2], "c": 3}}));
        let smp = br#"{"$setElementOrder/b":[1],"spec":{"b":[3],"$retainKeys":["b"]}}"#;
        let strategic = apply_patch(&object, "ConfigMap", PatchType::StrategicMerge, smp).unwrap();
        // `$retainKeys` drops what it does not list; `b` is no merging list: replaced.
        assert_eq!(strategic, json!({"spec": {"b": [3]}}));
        assert!(matches!(
            apply_patch(&object, "ConfigMap", PatchType::Merge, b"[1]"),
            Err(PatchError::Malformed(_))
        ));
    }

    fn strategic(object: &Value, kind: &str, patch: Value) -> Value {
        apply_patch(
            object,
            kind,
            PatchType::StrategicMerge,
            patch.to_string().as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn strategic_patches_merge_tagged_lists_in_kube_apiserver_order() {
        // New scalars come first (kube-apiserver answers ["c", "b"] to this).
        let object = json!({"metadata": {"name": "a", "finalizers": ["b"]}});
        let patched = strategic(
            &object,
            "ConfigMap",
            json!({"metadata": {"finalizers": ["c"]}}),
        );
        assert_eq!(patched["metadata"]["finalizers"], json!(["c", "b"]));
        let removed = strategic(
            &patched,
            "ConfigMap",
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["c"]}}),
        );
        assert_eq!(removed["metadata"]["finalizers"], json!(["b"]));

        // Maps merge by key; `$patch: delete` removes one; untagged lists are replaced.
        let account = json!({"secrets": [{"name": "s1"}, {"name": "s2", "x": 1}], "other": [1, 2]});
        let patched = strategic(
            &account,
            "ServiceAccount",
            json!({"secrets": [{"name": "s2", "y": 2}, {"name": "s1", "$patch": "delete"}],
                   "other": [3]}),
        );
        assert_eq!(patched["secrets"], json!([{"name": "s2", "x": 1, "y": 2}]));
        assert_eq!(patched["other"], json!([3]));

        // Server items keep their place relative to the patch's items where both are known.
        let ports = json!({"spec": {"ports": [{"port": 1}, {"port": 2}, {"port": 3}]}});
        let patched = strategic(
            &ports,
            "Service",
            json!({"spec": {"ports": [{"port": 3, "name": "c"}, {"port": 4}]}}),
        );
        assert_eq!(
            patched["spec"]["ports"],
            json!([{"port": 1}, {"port": 2}, {"port": 3, "name": "c"}, {"port": 4}])
        );
        // `$setElementOrder` reorders; `$retainKeys` drops what it does not list.
        let ordered = strategic(
            &ports,
            "Service",
            json!({"spec": {"$setElementOrder/ports": [{"port": 3}, {"port": 1}, {"port": 2}],
                            "$retainKeys": ["ports"]}}),
        );
        assert_eq!(
            ordered["spec"]["ports"],
            json!([{"port": 3}, {"port": 1}, {"port": 2}])
        );
        // A custom kind has no tagged lists: replaced as in a merge patch.
        let replaced = strategic(&ports, "Gadget", json!({"spec": {"ports": [{"port": 9}]}}));
        assert_eq!(replaced["spec"]["ports"], json!([{"port": 9}]));
    }
}
