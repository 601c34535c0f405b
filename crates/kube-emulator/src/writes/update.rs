//! PUT, PATCH and server-side apply: optimistic concurrency, the status subresource, metadata
//! ownership, finalizers while deleting, generation, no-op writes, field management.

use super::super::object::{
    equal_except, finalizers, generation_changed, is_deleting, meta_mut, meta_str,
    normalize_metadata, now_rfc3339, same_content,
};
use super::super::patch::{PatchError, PatchType, apply_patch};
use super::super::resources::ResourceType;
use super::super::schema::Cause;
use super::super::ssa::{self, ApplyError, WriteContext};
use super::super::status::ApiError;
use super::super::store::ObjectKey;
use super::admit::{admit, check_namespace, check_type, write_context};
use super::commit::{Prepared, Snapshot, Writer};
use super::create::prepare_create;
use super::{WriteOptions, WriteOutcome, from_yaml};
use serde_json::{Value, json};
use std::sync::Arc;

/// PUT to an object or its status.
pub fn update(
    writer: Writer<'_>,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    body: Value,
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    check_type(rt, &body)?;
    let body_name = meta_str(&body, "name").unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    check_namespace(rt, namespace, &body, name)?;
    let body = rt.view.store(body);
    writer.write(rt, ObjectKey::new(namespace, name), |read| {
        let old = stored(read, rt, name)?;
        if rt.custom && meta_str(&body, "resourceVersion").is_none_or(str::is_empty) {
            return Err(ApiError::invalid_field(
                rt,
                name,
                "FieldValueInvalid",
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            ));
        }
        prepare_update(rt, old, body.clone(), subresource, opts, false)
    })
}

/// The object `read` found, or NotFound.
fn stored(read: &Snapshot, rt: &ResourceType, name: &str) -> Result<Arc<Value>, ApiError> {
    read.current
        .clone()
        .ok_or_else(|| ApiError::not_found(rt, name))
}

/// PATCH of any type; apply patches create the object when absent.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    writer: Writer<'_>,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    patch_type: PatchType,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    if patch_type == PatchType::Apply {
        return server_side_apply(writer, rt, namespace, name, subresource, body, opts);
    }
    if opts.force {
        return Err(ApiError::unprocessable(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    writer.write(rt, ObjectKey::new(namespace, name), |read| {
        let old = stored(read, rt, name)?;
        let candidate =
            apply_patch(&rt.view.present(&old), &rt.kind, patch_type, body).map_err(|error| {
                match error {
                    PatchError::Malformed(message) => ApiError::bad_request(message),
                    PatchError::DoesNotApply(message) => ApiError::patch_does_not_apply(message),
                }
            })?;
        prepare_update(rt, old, candidate, subresource, opts, false)
    })
}

pub(super) fn server_side_apply(
    writer: Writer<'_>,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    if !opts.manager_given {
        return Err(ApiError::unprocessable(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let applied =
        from_yaml(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    match applied["apiVersion"].as_str() {
        Some(v) if v == rt.api_version() => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "apiVersion must be set in the applied configuration",
            ));
        }
    }
    match applied["kind"].as_str() {
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "kind must be set in the applied configuration",
            ));
        }
    }
    let mut applied = applied;
    // An applied configuration may leave out the name (kube-lease-manager does): the URL's is used.
    match meta_str(&applied, "name").unwrap_or_default() {
        "" => {
            meta_mut(&mut applied).insert("name".into(), json!(name));
        }
        body_name if body_name != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    if !applied["metadata"]["managedFields"].is_null() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    check_namespace(rt, namespace, &applied, name)?;
    writer.write(rt, ObjectKey::new(namespace, name), |read| {
        let live = read.current.clone();
        if live.is_none() && subresource.is_some() {
            return Err(ApiError::not_found(rt, name));
        }
        if let (Some(live), Some(wanted)) = (&live, meta_str(&applied, "resourceVersion"))
            && meta_str(live, "resourceVersion") != Some(wanted)
        {
            return Err(ApiError::conflict(rt, name));
        }
        let now = now_rfc3339();
        let ctx = WriteContext {
            manager: &opts.manager,
            subresource,
            status_subresource: rt.status_subresource,
            schema: rt.schema.as_deref(),
            now: &now,
        };
        let live_view = live.as_deref().map(|live| rt.view.present(live));
        let result = ssa::apply(live_view.as_ref(), &applied, &ctx, opts.force).map_err(
            |error| match error {
                ApplyError::Conflicts(conflicts) => {
                    let causes: Vec<(String, String)> = conflicts
                        .iter()
                        .map(|c| (c.field.clone(), c.cause_message()))
                        .collect();
                    ApiError::apply_conflicts(ssa::conflict_message(&conflicts), &causes)
                }
                ApplyError::Invalid(message) => {
                    ApiError::invalid_field(rt, name, "FieldValueInvalid", "", message)
                }
            },
        )?;
        let mut result = rt.view.store(result);
        // The resourceVersion precondition was checked above.
        meta_mut(&mut result).remove("resourceVersion");
        match live {
            None => prepare_create(read, rt, namespace, name, result, opts, true),
            Some(old) => prepare_update(rt, old, result, subresource, opts, true),
        }
    })
}

/// The common end of update, patch and apply on an existing object: what to store.
fn prepare_update(
    rt: &ResourceType,
    old: Arc<Value>,
    mut candidate: Value,
    subresource: Option<&str>,
    opts: &WriteOptions,
    applied: bool,
) -> Result<Prepared, ApiError> {
    let name = super::super::object::name(&old).to_string();
    if let Some(wanted) = meta_str(&candidate, "resourceVersion").filter(|rv| !rv.is_empty())
        && meta_str(&old, "resourceVersion") != Some(wanted)
    {
        return Err(ApiError::conflict(rt, &name));
    }
    let mut new = if rt.status_subresource && subresource == Some("status") {
        // A status write changes only .status (and, for apply, the field ownership it records).
        let mut new = (*old).clone();
        match candidate.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(root) = new.as_object_mut() {
                    root.remove("status");
                }
            }
        }
        if applied {
            meta_mut(&mut new).insert(
                "managedFields".into(),
                candidate["metadata"]["managedFields"].clone(),
            );
        }
        new
    } else {
        if rt.status_subresource {
            match old.get("status") {
                Some(status) => candidate["status"] = status.clone(),
                None => {
                    if let Some(root) = candidate.as_object_mut() {
                        root.remove("status");
                    }
                }
            }
        }
        let meta = meta_mut(&mut candidate);
        for server_owned in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old["metadata"].get(server_owned) {
                Some(value) => meta.insert(server_owned.into(), value.clone()),
                None => meta.remove(server_owned),
            };
        }
        candidate
    };
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    if !applied {
        meta_mut(&mut new).insert(
            "managedFields".into(),
            old["metadata"]["managedFields"].clone(),
        );
    }
    if is_deleting(&old) {
        let before = finalizers(&old);
        if let Some(added) = finalizers(&new).into_iter().find(|f| !before.contains(f)) {
            let cause = Cause {
                reason: "FieldValueForbidden".into(),
                message: format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{added}\"}}"
                ),
                field: "metadata.finalizers".into(),
            };
            // kube-apiserver finds it twice (its metadata and its update checks both look): two
            // causes, one line in the message.
            return Err(ApiError::invalid(rt, &name, &[cause.clone(), cause]));
        }
    }
    let warnings = admit(rt, &mut new, Some(&old), opts)?;
    normalize_metadata(&mut new);
    meta_mut(&mut new).insert(
        "resourceVersion".into(),
        old["metadata"]["resourceVersion"].clone(),
    );
    if unchanged(&old, &new) {
        return Ok(Prepared::Answer(WriteOutcome {
            object: (*old).clone(),
            created: false,
            warnings,
        }));
    }
    if rt.has_generation {
        let ignore_status = rt.status_subresource;
        if generation_changed(&old, &new, ignore_status) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
    }
    if !applied {
        let now = now_rfc3339();
        let ctx = write_context(rt, &opts.manager, subresource, &now);
        ssa::record_update(Some(&old), &mut new, &ctx);
        normalize_metadata(&mut new);
    }
    if opts.dry_run {
        return Ok(Prepared::Answer(WriteOutcome {
            object: new,
            created: false,
            warnings,
        }));
    }
    if is_deleting(&new) && finalizers(&new).is_empty() {
        return Ok(Prepared::Remove {
            last: new,
            warnings,
        });
    }
    Ok(Prepared::Put {
        object: new,
        created: false,
        warnings,
    })
}

/// A write that changes nothing but managedFields timestamps is not stored (no new resourceVersion).
pub(super) fn unchanged(old: &Value, new: &Value) -> bool {
    let (old_fields, new_fields) = (
        &old["metadata"]["managedFields"],
        &new["metadata"]["managedFields"],
    );
    let same_ownership = match (old_fields.as_array(), new_fields.as_array()) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| equal_except(x, y, |k| k == "time"))
        }
        _ => old_fields == new_fields,
    };
    same_ownership && same_content(old, new)
}
