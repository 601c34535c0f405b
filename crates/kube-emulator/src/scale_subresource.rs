//! The `scale` subresource of custom resources whose CRD declares one: `GET`, `PUT` and `PATCH`
//! of an `autoscaling/v1` Scale, read from the object's replica and selector paths and written
//! into its spec replicas path by an ordinary update (validation, generation, watch events and
//! optimistic concurrency as for any write), as kube-apiserver does.

use super::patch::{PatchError, PatchType, apply_patch};
use super::resources::{ResourceType, ScalePaths};
use super::state::State;
use super::status::ApiError;
use super::writes::{self, WriteOptions, Writer};
use serde_json::{Map, Value, json};

fn read<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |value, key| value.get(key))
}

/// The Scale of `object` (replicas absent read as 0, as kube-apiserver does).
pub fn scale_of(paths: &ScalePaths, object: &Value) -> Value {
    let meta = &object["metadata"];
    let mut metadata = Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = meta.get(key).filter(|v| !v.is_null()) {
            metadata.insert(key.to_owned(), value.clone());
        }
    }
    let replicas = |path: &[String]| read(object, path).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({ "replicas": replicas(&paths.status_replicas) });
    if let Some(selector) = paths
        .label_selector
        .as_ref()
        .and_then(|path| read(object, path))
        .and_then(Value::as_str)
    {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": replicas(&paths.spec_replicas) },
        "status": status,
    })
}

/// `object` with the replicas `scale` asks for, and the Scale's resourceVersion (when it gives
/// one) as the update's precondition.
fn scaled(
    paths: &ScalePaths,
    name: &str,
    object: &Value,
    scale: &Value,
) -> Result<Value, ApiError> {
    let invalid = |message: String| {
        ApiError::unprocessable(format!(
            "Scale.autoscaling \"{name}\" is invalid: spec.replicas: {message}"
        ))
    };
    let replicas = match &scale["spec"]["replicas"] {
        Value::Null => 0,
        value => value
            .as_i64()
            .ok_or_else(|| invalid(format!("Invalid value: {value}: must be an integer")))?,
    };
    if replicas < 0 {
        return Err(invalid(format!(
            "Invalid value: {replicas}: must be greater than or equal to 0"
        )));
    }
    if let Some(given) = scale["metadata"]["name"].as_str()
        && given != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    let mut object = object.clone();
    let (last, parents) = paths
        .spec_replicas
        .split_last()
        .ok_or_else(|| ApiError::internal("the CRD's specReplicasPath is empty"))?;
    let mut at = &mut object;
    for key in parents {
        if !at[key.as_str()].is_object() {
            at[key.as_str()] = json!({});
        }
        at = &mut at[key.as_str()];
    }
    at[last.as_str()] = json!(replicas);
    if let Some(version) = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|v| !v.is_empty())
    {
        object["metadata"]["resourceVersion"] = json!(version);
    }
    Ok(object)
}

/// One request on `<resource>/<name>/scale`: `get`, `update` (PUT of a Scale) or `patch` (of
/// the Scale, merge, JSON or strategic merge). Answers the Scale after the request.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    verb: &str,
    content_type: &str,
    body: &[u8],
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let paths = rt.scale.as_ref().ok_or_else(ApiError::not_found_path)?;
    let stored = writes::get(state, rt, namespace, name)?;
    let object = rt.view.present(&stored);
    let current = scale_of(paths, &object);
    let wanted = match verb {
        "get" => return Ok(current),
        "update" => writes::decode_body(content_type, body)?,
        "patch" => {
            let patch_type = PatchType::from_content_type(content_type)
                .filter(|t| *t != PatchType::Apply)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            apply_patch(&current, "Scale", patch_type, body).map_err(|error| match error {
                PatchError::Malformed(message) => ApiError::bad_request(message),
                PatchError::DoesNotApply(message) => ApiError::unprocessable(message),
            })?
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let updated = scaled(paths, name, &object, &wanted)?;
    let outcome = writes::update(
        Writer::Locked(state),
        rt,
        namespace,
        name,
        None,
        updated,
        options,
    )?;
    Ok(scale_of(paths, &rt.view.present(&outcome.object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> ScalePaths {
        ScalePaths::of_version(&json!({"subresources": {"scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }}}))
        .unwrap()
    }

    #[test]
    fn a_version_without_scale_has_no_paths() {
        assert_eq!(
            ScalePaths::of_version(&json!({"subresources": {"status": {}}})),
            None
        );
    }

    #[test]
    fn replicas_are_written_at_the_spec_path_creating_it_when_absent() {
        let object = json!({"metadata": {"name": "p", "resourceVersion": "7"}});
        let scale = json!({"spec": {"replicas": 3}, "metadata": {"resourceVersion": "5"}});
        let updated = scaled(&paths(), "p", &object, &scale).unwrap();
        assert_eq!(updated["spec"]["replicas"], 3);
        assert_eq!(updated["metadata"]["resourceVersion"], "5");
        let negative = json!({"spec": {"replicas": -1}});
        assert_eq!(
            scaled(&paths(), "p", &object, &negative).unwrap_err().code,
            422
        );
        let shown = scale_of(&paths(), &updated);
        assert_eq!(shown["spec"]["replicas"], 3);
        assert_eq!(shown["status"]["replicas"], 0);
        assert!(shown["status"].get("selector").is_none());
    }
}
