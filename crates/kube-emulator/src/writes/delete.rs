//! DELETE: preconditions, finalizers (deletionTimestamp), removal and what follows it: a CRD's
//! objects, a namespace's content, owner-reference garbage collection.

use super::super::object::{finalizers, is_deleting, meta_mut, meta_str, now_rfc3339};
use super::super::resources::ResourceType;
use super::super::selectors::Selectors;
use super::super::state::{CRDS, NAMESPACES, State};
use super::super::status::ApiError;
use super::super::store::{ObjectKey, owner_uids};
use super::{DeleteOptions, get};
use serde_json::{Value, json};
use std::sync::Arc;

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
                super::super::object::name(o).to_string(),
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
pub(super) fn remove(
    state: &mut State,
    rt: &ResourceType,
    key: &ObjectKey,
    last_state: Value,
) -> Value {
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
pub(super) fn collect_garbage(state: &mut State, owner_uid: &str) {
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

pub(super) fn remove_crd_types(state: &mut State, crd: &Value) {
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
pub(super) fn remove_namespace_content(state: &mut State, namespace: &str) {
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
