//! Checks and adjustments shared by every write: apiVersion/kind and namespace of the body,
//! built-in admission rules or the CRD schema (prune, default, unknown fields, validate), and
//! registration of a stored CRD's types.

use super::super::builtin_rules;
use super::super::object::{meta_str, removed_paths};
use super::super::registry::types_from_crd;
use super::super::resources::ResourceType;
use super::super::schema::Cause;
use super::super::ssa::WriteContext;
use super::super::state::{CRDS, State};
use super::super::status::ApiError;
use super::{FieldValidation, WriteOptions};
use serde_json::Value;

/// Built-in admission rules, or for custom resources: prune, default, report unknown fields, validate.
pub(super) fn admit(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    opts: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let name = meta_str(object, "name").unwrap_or_default().to_string();
    let Some(schema) = &rt.schema else {
        builtin_rules::admit(rt, object, old)
            .map_err(|causes| ApiError::invalid(rt, &name, &causes))?;
        return Ok(Vec::new());
    };
    let before = (opts.field_validation != FieldValidation::Ignore).then(|| object.clone());
    schema.prune_and_default(object);
    let unknown: Vec<String> = before
        .map(|before| removed_paths(&before, object))
        .unwrap_or_default()
        .into_iter()
        .filter(|path| !path.starts_with("metadata") && path != "apiVersion" && path != "kind")
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    if opts.field_validation == FieldValidation::Strict && !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {fields}",
            kind = rt.kind,
            version = rt.version,
            fields = unknown.join(", ")
        )));
    }
    let causes: Vec<Cause> = schema.validate(object, old);
    if !causes.is_empty() {
        return Err(ApiError::invalid(rt, &name, &causes));
    }
    Ok(unknown)
}

/// Registers a CRD's types once it is stored (create or update).
pub(super) fn after_commit(state: &mut State, rt: &ResourceType, stored: &Value) {
    if rt.storage_key() == CRDS
        && let Ok(types) = types_from_crd(stored)
    {
        let rv = state.store.current_rv();
        state.registry.register_custom(types, rv);
    }
}

pub(super) fn write_context<'a>(
    rt: &'a ResourceType,
    manager: &'a str,
    subresource: Option<&'a str>,
    now: &'a str,
) -> WriteContext<'a> {
    WriteContext {
        manager,
        subresource,
        status_subresource: rt.status_subresource,
        schema: rt.schema.as_deref(),
        now,
    }
}

/// A body's apiVersion and kind, when given, must be the URL's.
pub(super) fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if let Some(kind) = body["kind"].as_str()
        && !kind.is_empty()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the kind on the URL ({})",
            rt.kind
        )));
    }
    if let Some(api_version) = body["apiVersion"].as_str()
        && !api_version.is_empty()
        && api_version != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

/// The body's namespace, when given, must be the URL's; cluster-scoped objects have none.
pub(super) fn check_namespace(
    rt: &ResourceType,
    namespace: Option<&str>,
    body: &Value,
    name: &str,
) -> Result<(), ApiError> {
    if rt.namespaced && namespace.is_none() {
        return Err(ApiError::not_found(rt, name));
    }
    if let (Some(url), Some(body_ns)) = (namespace, meta_str(body, "namespace"))
        && !body_ns.is_empty()
        && url != body_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}
