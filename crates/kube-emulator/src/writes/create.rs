//! POST: names (generateName), server-owned metadata, namespace existence, admission, storage.

use super::super::object::{
    invalid_name, meta_mut, meta_str, normalize_metadata, now_rfc3339, random_suffix,
};
use super::super::registry::established_status;
use super::super::resources::ResourceType;
use super::super::ssa::{self};
use super::super::state::{CRDS, NAMESPACES};
use super::super::status::ApiError;
use super::super::store::ObjectKey;
use super::admit::{admit, check_namespace, check_type, write_context};
use super::commit::{Prepared, Snapshot, Writer};
use super::{WriteOptions, WriteOutcome};
use serde_json::{Value, json};

/// POST to a collection.
pub fn create(
    writer: Writer<'_>,
    rt: &ResourceType,
    namespace: Option<&str>,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    check_type(rt, &body)?;
    let name = resolve_name(rt, &mut body)?;
    check_namespace(rt, namespace, &body, &name)?;
    let body = rt.view.store(body);
    writer.write(rt, ObjectKey::new(namespace, &name), |read| {
        prepare_create(read, rt, namespace, &name, body.clone(), opts, false)
    })
}

/// The common end of create and of apply-creates: the object to store, if `read` allows it.
pub(super) fn prepare_create(
    read: &Snapshot,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    mut object: Value,
    opts: &WriteOptions,
    applied: bool,
) -> Result<Prepared, ApiError> {
    if let Some(message) = invalid_name(name, rt.storage_key() == NAMESPACES) {
        return Err(ApiError::invalid_field(
            rt,
            name,
            "FieldValueInvalid",
            "metadata.name",
            message,
        ));
    }
    if rt.namespaced
        && let Some(ns) = namespace
        && !read.namespace_exists
    {
        return Err(ApiError::namespace_not_found(ns));
    }
    if read.current.is_some() {
        return Err(ApiError::already_exists(rt, name));
    }
    let now = now_rfc3339();
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    {
        let meta = meta_mut(&mut object);
        meta.insert("name".into(), json!(name));
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now));
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(server_owned);
        }
        if rt.has_generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        if !applied {
            meta.remove("managedFields");
        }
    }
    if rt.status_subresource
        && let Some(root) = object.as_object_mut()
    {
        root.remove("status");
    }
    let warnings = admit(rt, &mut object, None, opts)?;
    if rt.storage_key() == CRDS {
        object["status"] = established_status(&object, &now);
    }
    normalize_metadata(&mut object);
    if !applied {
        let ctx = write_context(rt, &opts.manager, None, &now);
        ssa::record_update(None, &mut object, &ctx);
    }
    if opts.dry_run {
        return Ok(Prepared::Answer(WriteOutcome {
            object,
            created: true,
            warnings,
        }));
    }
    Ok(Prepared::Put {
        object,
        created: true,
        warnings,
    })
}

/// `metadata.name`, or one generated from `generateName`.
pub(super) fn resolve_name(rt: &ResourceType, body: &mut Value) -> Result<String, ApiError> {
    if let Some(name) = meta_str(body, "name").filter(|n| !n.is_empty()) {
        return Ok(name.to_string());
    }
    if let Some(prefix) = meta_str(body, "generateName").filter(|p| !p.is_empty()) {
        let name = format!("{prefix}{}", random_suffix());
        meta_mut(body).insert("name".into(), json!(name));
        return Ok(name);
    }
    Err(ApiError::invalid_field(
        rt,
        "",
        "FieldValueRequired",
        "metadata.name",
        "Required value: name or generateName is required",
    ))
}
