//! Create, update, patch, server-side apply and delete, with kube-apiserver's object rules:
//! metadata ownership, optimistic concurrency, the status subresource, generation, finalizers and
//! deletion, schema pruning/defaulting/validation, field management, dry runs.

use super::builtin_rules;
use super::object::{
    finalizers, invalid_name, is_deleting, meta_mut, meta_str, normalize_metadata, now_rfc3339,
    random_suffix, removed_paths, same_content,
};
use super::patch::{PatchError, PatchType, apply_patch};
use super::registry::{established_status, types_from_crd};
use super::resources::ResourceType;
use super::schema::Cause;
use super::selectors::Selectors;
use super::ssa::{self, ApplyError, WriteContext};
use super::state::{CRDS, NAMESPACES, State};
use super::status::ApiError;
use super::store::{ObjectKey, owner_uids};
use serde_json::{Value, json};
use std::sync::Arc;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// Options shared by every write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    /// The field manager: the `fieldManager` parameter, or one derived from the user agent.
    pub manager: String,
    /// Whether `fieldManager` was given (server-side apply requires it).
    pub manager_given: bool,
    pub force: bool,
    pub field_validation: FieldValidation,
}

/// The result of a write: the object as stored (or as it would be, for a dry run).
#[derive(Debug)]
pub struct WriteOutcome {
    pub object: Value,
    pub created: bool,
    /// `Warning` headers to send (unknown fields under fieldValidation=Warn).
    pub warnings: Vec<String>,
}

/// `DeleteOptions` of a delete request.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

pub fn get(
    state: &State,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<Arc<Value>, ApiError> {
    state
        .store
        .get(&rt.storage_key(), &ObjectKey::new(namespace, name))
        .ok_or_else(|| ApiError::not_found(rt, name))
}

/// POST to a collection.
pub fn create(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    check_type(rt, &body)?;
    let name = resolve_name(rt, &mut body)?;
    check_namespace(rt, namespace, &body, &name)?;
    finish_create(
        state,
        rt,
        namespace,
        &name,
        rt.view.store(body),
        opts,
        false,
    )
}

/// PUT to an object or its status.
pub fn update(
    state: &mut State,
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
    let old = get(state, rt, namespace, name)?;
    if rt.custom && meta_str(&body, "resourceVersion").is_none_or(str::is_empty) {
        return Err(ApiError::invalid_field(
            rt,
            name,
            "FieldValueInvalid",
            "metadata.resourceVersion",
            "Invalid value: 0x0: must be specified for an update",
        ));
    }
    finish_update(
        state,
        rt,
        namespace,
        old,
        rt.view.store(body),
        subresource,
        opts,
        false,
    )
}

/// PATCH of any type; apply patches create the object when absent.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    patch_type: PatchType,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<WriteOutcome, ApiError> {
    if patch_type == PatchType::Apply {
        return server_side_apply(state, rt, namespace, name, subresource, body, opts);
    }
    if opts.force {
        return Err(ApiError::unprocessable(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    let old = get(state, rt, namespace, name)?;
    let candidate =
        apply_patch(&rt.view.present(&old), patch_type, body).map_err(|error| match error {
            PatchError::Malformed(message) => ApiError::bad_request(message),
            PatchError::DoesNotApply(message) => ApiError::unprocessable(message),
        })?;
    finish_update(
        state,
        rt,
        namespace,
        old,
        candidate,
        subresource,
        opts,
        false,
    )
}

fn server_side_apply(
    state: &mut State,
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
    let applied: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
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
    let live = state
        .store
        .get(&rt.storage_key(), &ObjectKey::new(namespace, name));
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
    let result =
        ssa::apply(live_view.as_ref(), &applied, &ctx, opts.force).map_err(
            |error| match error {
                ApplyError::Conflicts(conflicts) => {
                    let causes: Vec<(String, String)> = conflicts
                        .iter()
                        .map(|c| (c.field.clone(), c.cause_message()))
                        .collect();
                    ApiError::apply_conflicts(rt, name, ssa::conflict_message(&conflicts), &causes)
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
        None => finish_create(state, rt, namespace, name, result, opts, true),
        Some(old) => finish_update(state, rt, namespace, old, result, subresource, opts, true),
    }
}

/// DELETE of one object: marked (deletionTimestamp) while finalizers remain, removed otherwise.
pub fn delete(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let old = get(state, rt, namespace, name)?;
    if let Some(uid) = &opts.precondition_uid {
        let actual = meta_str(&old, "uid").unwrap_or_default();
        if uid != actual {
            return Err(ApiError::conflict_because(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = meta_str(&old, "resourceVersion").unwrap_or_default();
        if rv != actual {
            return Err(ApiError::conflict_because(
                rt,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    let key = ObjectKey::new(namespace, name);
    if !finalizers(&old).is_empty() {
        if is_deleting(&old) {
            return Ok((*old).clone());
        }
        let mut marked = (*old).clone();
        let meta = meta_mut(&mut marked);
        meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        if rt.has_generation {
            let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
            meta.insert("generation".into(), json!(generation + 1));
        }
        if opts.dry_run {
            return Ok(marked);
        }
        return Ok((*state.store.put(&rt.storage_key(), key, marked)).clone());
    }
    if opts.dry_run {
        return Ok((*old).clone());
    }
    Ok(remove(state, rt, &key, (*old).clone()))
}

/// DELETE of a collection: every matching object, as single deletes would.
pub fn delete_collection(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    selectors: &Selectors,
    opts: &DeleteOptions,
) -> Result<Vec<Value>, ApiError> {
    let resource = rt.storage_key();
    let names: Vec<(String, String)> = state
        .store
        .objects(&resource, namespace)
        .iter()
        .filter(|o| selectors.matches(o))
        .map(|o| {
            (
                meta_str(o, "namespace").unwrap_or_default().to_string(),
                super::object::name(o).to_string(),
            )
        })
        .collect();
    let mut deleted = Vec::new();
    for (ns, name) in names {
        let ns = (!ns.is_empty()).then_some(ns.as_str());
        deleted.push(delete(state, rt, ns, &name, opts)?);
    }
    Ok(deleted)
}

/// Removes a stored object for good, then what depends on it (a CRD's objects, a namespace's content).
fn remove(state: &mut State, rt: &ResourceType, key: &ObjectKey, last_state: Value) -> Value {
    let resource = rt.storage_key();
    let Some(removed) = state.store.remove(&resource, key, last_state) else {
        return Value::Null;
    };
    if resource == CRDS {
        remove_crd_types(state, &removed);
    } else if resource == NAMESPACES {
        remove_namespace_content(state, &key.name);
    }
    if let Some(uid) = removed["metadata"]["uid"].as_str() {
        collect_garbage(state, uid);
    }
    (*removed).clone()
}

/// Background cascading deletion: dependents of a removed owner whose owners are all gone are
/// deleted too (and theirs in turn), as kube-controller-manager's garbage collector does.
fn collect_garbage(state: &mut State, owner_uid: &str) {
    for (resource, key) in state.store.dependents_of(owner_uid) {
        let Some(dependent) = state.store.get(&resource, &key) else {
            continue;
        };
        if owner_uids(&dependent)
            .iter()
            .any(|uid| state.store.uid_exists(uid))
        {
            continue;
        }
        let Some(rt) = state
            .registry
            .all()
            .iter()
            .find(|t| t.storage_key() == resource)
            .cloned()
        else {
            continue;
        };
        let namespace = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
        // The dependent exists and no precondition is set: deletion cannot fail.
        let _ = delete(state, &rt, namespace, &key.name, &DeleteOptions::default());
    }
}

fn remove_crd_types(state: &mut State, crd: &Value) {
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let resource = format!("{group}/{plural}");
    for key in state.store.keys(&resource, None) {
        if let Some(object) = state.store.get(&resource, &key) {
            state.store.remove(&resource, &key, (*object).clone());
        }
    }
    state.registry.unregister_custom(&group, &plural);
}

/// Deleting a namespace deletes its content: objects holding finalizers are marked for deletion,
/// the others removed (the namespace itself does not wait for them).
fn remove_namespace_content(state: &mut State, namespace: &str) {
    let types: Vec<Arc<ResourceType>> = {
        let mut seen = std::collections::HashSet::new();
        state
            .registry
            .all()
            .iter()
            .filter(|t| t.namespaced && seen.insert(t.storage_key()))
            .cloned()
            .collect()
    };
    for rt in types {
        for key in state.store.keys(&rt.storage_key(), Some(namespace)) {
            // Errors are impossible here (the object exists, no preconditions); nothing to report.
            let _ = delete(
                state,
                &rt,
                Some(namespace),
                &key.name,
                &DeleteOptions::default(),
            );
        }
    }
}

/// The common end of create and of apply-creates.
fn finish_create(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    mut object: Value,
    opts: &WriteOptions,
    applied: bool,
) -> Result<WriteOutcome, ApiError> {
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
        && !state.namespace_exists(ns)
    {
        return Err(ApiError::namespace_not_found(ns));
    }
    let key = ObjectKey::new(namespace, name);
    if state.store.get(&rt.storage_key(), &key).is_some() {
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
        return Ok(WriteOutcome {
            object,
            created: true,
            warnings,
        });
    }
    let stored = state.store.put(&rt.storage_key(), key, object);
    after_commit(state, rt, &stored);
    Ok(WriteOutcome {
        object: (*stored).clone(),
        created: true,
        warnings,
    })
}

/// The common end of update, patch and apply on an existing object.
#[allow(clippy::too_many_arguments)]
fn finish_update(
    state: &mut State,
    rt: &ResourceType,
    namespace: Option<&str>,
    old: Arc<Value>,
    mut candidate: Value,
    subresource: Option<&str>,
    opts: &WriteOptions,
    applied: bool,
) -> Result<WriteOutcome, ApiError> {
    let name = super::object::name(&old).to_string();
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
            return Err(ApiError::invalid_field(
                rt,
                &name,
                "FieldValueForbidden",
                "metadata.finalizers",
                format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{added}\"}}"
                ),
            ));
        }
    }
    let warnings = admit(rt, &mut new, Some(&old), opts)?;
    normalize_metadata(&mut new);
    meta_mut(&mut new).insert(
        "resourceVersion".into(),
        old["metadata"]["resourceVersion"].clone(),
    );
    if unchanged(&old, &new) {
        return Ok(WriteOutcome {
            object: (*old).clone(),
            created: false,
            warnings,
        });
    }
    if rt.has_generation {
        let ignore_status = rt.status_subresource;
        if super::object::generation_view(&old, ignore_status)
            != super::object::generation_view(&new, ignore_status)
        {
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
    let key = ObjectKey::new(namespace, &name);
    if is_deleting(&new) && finalizers(&new).is_empty() {
        if opts.dry_run {
            return Ok(WriteOutcome {
                object: new,
                created: false,
                warnings,
            });
        }
        let last = remove(state, rt, &key, new);
        return Ok(WriteOutcome {
            object: last,
            created: false,
            warnings,
        });
    }
    if opts.dry_run {
        return Ok(WriteOutcome {
            object: new,
            created: false,
            warnings,
        });
    }
    let stored = state.store.put(&rt.storage_key(), key, new);
    after_commit(state, rt, &stored);
    Ok(WriteOutcome {
        object: (*stored).clone(),
        created: false,
        warnings,
    })
}

/// A write that changes nothing but managedFields timestamps is not stored (no new resourceVersion).
fn unchanged(old: &Value, new: &Value) -> bool {
    let without_times = |object: &Value| {
        let mut copy = object.clone();
        if let Some(entries) = copy["metadata"]["managedFields"].as_array_mut() {
            for entry in entries {
                if let Some(entry) = entry.as_object_mut() {
                    entry.remove("time");
                }
            }
        }
        copy
    };
    same_content(old, new)
        && without_times(old)["metadata"]["managedFields"]
            == without_times(new)["metadata"]["managedFields"]
}

/// Built-in admission rules, or for custom resources: prune, default, report unknown fields, validate.
fn admit(
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
    let causes: Vec<Cause> = schema.validate(object);
    if !causes.is_empty() {
        return Err(ApiError::invalid(rt, &name, &causes));
    }
    Ok(unknown)
}

/// Registers a CRD's types once it is stored (create or update).
fn after_commit(state: &mut State, rt: &ResourceType, stored: &Value) {
    if rt.storage_key() == CRDS
        && let Ok(types) = types_from_crd(stored)
    {
        state.registry.register_custom(types);
    }
}

fn write_context<'a>(
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
fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
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

/// `metadata.name`, or one generated from `generateName`.
fn resolve_name(rt: &ResourceType, body: &mut Value) -> Result<String, ApiError> {
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

/// The body's namespace, when given, must be the URL's; cluster-scoped objects have none.
fn check_namespace(
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
