//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! (applied as a merge patch once its `$` directives are removed).

use serde_json::Value;

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

/// Applies a merge, JSON or strategic-merge patch body to a copy of `object`.
pub fn apply_patch(
    object: &Value,
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
            strip_directives(&mut patch);
            json_patch::merge(&mut target, &patch);
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
    json_patch::patch(target, std::slice::from_ref(operation)).map_err(|e| {
        PatchError::DoesNotApply(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })
}

fn parse_json(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body)
        .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))
}

/// Removes strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`,
/// `$deleteFromPrimitiveList/...`): lists are then replaced as in a merge patch.
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
        let added = apply_patch(&object, PatchType::Json, add).unwrap();
        assert_eq!(added["metadata"]["finalizers"], json!(["f"]));
        let remove = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"f"},{"op":"remove","path":"/metadata/finalizers/0"}]"#;
        let removed = apply_patch(&added, PatchType::Json, remove).unwrap();
        assert_eq!(removed["metadata"]["finalizers"], json!([]));
        // A test that fails leaves the object untouched and reports 422-class failure.
        let stale = br#"[{"op":"test","path":"/metadata/finalizers","value":null}]"#;
        assert!(matches!(
            apply_patch(&added, PatchType::Json, stale),
            Err(PatchError::DoesNotApply(_))
        ));
    }

    #[test]
    fn merge_and_strategic_patches() {
        let object = json!({"spec": {"a": 1, "b": [1, 2]}});
        let merged =
            apply_patch(&object, PatchType::Merge, br#"{"spec":{"a":null,"c":3}}"#).unwrap();
        assert_eq!(merged, json!({"spec": {"b": [1, 2], "c": 3}}));
        let smp = br#"{"$setElementOrder/b":[1],"spec":{"b":[3],"$retainKeys":["b"]}}"#;
        let strategic = apply_patch(&object, PatchType::StrategicMerge, smp).unwrap();
        assert_eq!(strategic, json!({"spec": {"a": 1, "b": [3]}}));
        assert!(matches!(
            apply_patch(&object, PatchType::Merge, b"[1]"),
            Err(PatchError::Malformed(_))
        ));
    }
}
