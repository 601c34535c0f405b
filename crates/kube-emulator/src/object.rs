//! Small helpers over objects held as JSON: metadata access, normalisation, comparisons.

use serde_json::{Map, Value};

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object["metadata"][field].as_str()
}

pub fn name(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or_default()
}

/// `metadata` as a mutable map, created when absent or not an object.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(root) = object else {
        unreachable!("just made an object")
    };
    let entry = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

/// Drops empty or null metadata fields, as the API server's omitempty encoding does.
pub fn normalize_metadata(object: &mut Value) {
    let meta = meta_mut(object);
    meta.retain(|_, value| match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    });
}

/// Whether two maps are equal once the keys `skip` accepts are left out (no copies made).
pub fn equal_except(a: &Value, b: &Value, skip: impl Fn(&str) -> bool) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |map: &'_ Map<String, Value>| map.keys().filter(|k| !skip(k)).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip(k))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether anything `generation` tracks differs: all but metadata (and status when `ignore_status`).
pub fn generation_changed(old: &Value, new: &Value, ignore_status: bool) -> bool {
    !equal_except(old, new, |k| {
        matches!(k, "metadata" | "apiVersion" | "kind") || (ignore_status && k == "status")
    })
}

/// Equal but for resourceVersion, managedFields, apiVersion and kind.
pub fn same_content(a: &Value, b: &Value) -> bool {
    equal_except(a, b, |k| matches!(k, "metadata" | "apiVersion" | "kind"))
        && equal_except(&a["metadata"], &b["metadata"], |k| {
            matches!(k, "resourceVersion" | "managedFields")
        })
}

/// Paths present in `before` and absent from `after` (fields pruned as unknown), e.g. `spec.foo`.
pub fn removed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    collect_removed(before, after, String::new(), &mut paths);
    paths
}

fn collect_removed(before: &Value, after: &Value, prefix: String, paths: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match a.get(key) {
                    Some(kept) => collect_removed(value, kept, path, paths),
                    None => paths.push(path),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (index, (value, kept)) in b.iter().zip(a.iter()).enumerate() {
                collect_removed(value, kept, format!("{prefix}[{index}]"), paths);
            }
        }
        _ => {}
    }
}

/// Current time as kube-apiserver writes metav1.Time (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Five random characters from kube-apiserver's generateName alphabet.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// RFC 1123 subdomain (object names) or label (namespace names): the message when invalid.
pub fn invalid_name(name: &str, label_only: bool) -> Option<String> {
    let label_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let ok = if label_only {
        label_ok(name)
    } else {
        name.len() <= 253 && name.split('.').all(label_ok)
    };
    if ok {
        return None;
    }
    Some(if label_only {
        format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        )
    } else {
        format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_paths_name_pruned_fields() {
        let before =
            json!({"spec": {"a": 1, "b": {"c": 2}, "items": [{"x": 1, "y": 2}]}, "extra": true});
        let after = json!({"spec": {"a": 1, "b": {}, "items": [{"x": 1}]}});
        assert_eq!(
            removed_paths(&before, &after),
            ["spec.b.c", "spec.items[0].y", "extra"]
        );
    }

    #[test]
    fn content_comparisons_ignore_server_bookkeeping() {
        let a = json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 1}, "status": {"s": 1}});
        let b = json!({"metadata": {"resourceVersion": "2", "name": "a", "managedFields": []}, "status": {"s": 2}, "spec": {"x": 1}});
        assert!(!same_content(&a, &b));
        assert!(!generation_changed(&a, &b, true));
        assert!(generation_changed(&a, &b, false));
        let c = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"s": 1}});
        assert!(same_content(&a, &c));
    }

    #[test]
    fn names() {
        assert!(invalid_name("a.b-c", false).is_none());
        assert!(invalid_name("A", false).is_some());
        assert!(invalid_name("a.b", true).is_some());
        assert_eq!(random_suffix().len(), 5);
    }
}
