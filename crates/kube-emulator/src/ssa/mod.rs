//! Server-side apply and `metadata.managedFields`, with kube-apiserver's (structured-merge-diff)
//! semantics:
//! - an apply sets the fields of the applied configuration (objects merge field by field; lists
//!   are atomic unless `x-kubernetes-list-type` is `set` or `map`), and its manager then owns
//!   exactly those fields;
//! - fields the manager applied before and omits now are removed, unless another manager owns them;
//! - changing a field another manager owns is a conflict, unless forced (the others then lose it);
//!   applying the value already there shares ownership;
//! - updates (create, put, patch) give their manager the fields they changed or added, and take
//!   them from every other manager.
//!
//! Custom resources follow their schema. Built-in kinds (no schema) are handled with granular maps
//! and atomic lists, which is what Leases and ConfigMaps need; `metadata` follows ObjectMeta
//! (labels and annotations granular, finalizers a set, ownerReferences a list-map keyed by uid;
//! uid, resourceVersion, generation, creationTimestamp, deletionTimestamp and managedFields never
//! owned). Not done: capping the number of Update entries (kube-apiserver folds the oldest into
//! `ancient-changes` beyond ten), and the `before-first-apply` hand-over from client-side apply.

mod field_set;
mod managed;
mod shape;
mod walk;

#[cfg(test)]
mod tests;

use super::schema::CompiledSchema;
use field_set::{FieldSet, PathElement};
use managed::{Entry, Operation};
use serde_json::{Map, Value};
use shape::Shape;

/// What one write is, for field management.
#[derive(Debug, Clone, Copy)]
pub struct WriteContext<'a> {
    /// The field manager (`fieldManager` query parameter; for updates a default derived from the user agent).
    pub manager: &'a str,
    /// `Some("status")` for writes to the status subresource.
    pub subresource: Option<&'a str>,
    /// Whether the resource has a status subresource (then main-resource writes cannot change
    /// `.status` and status writes change only `.status`).
    pub status_subresource: bool,
    /// The resource's schema, for `x-kubernetes-list-type` (None for built-ins: maps merge, lists are atomic).
    pub schema: Option<&'a CompiledSchema>,
    /// RFC 3339 time stamped on the managedFields entry.
    pub now: &'a str,
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub manager: String,
    /// The field in kube-apiserver's notation, e.g. `.spec.limitPrice`.
    pub field: String,
    /// The manager as kube-apiserver names it in messages: `"kubectl"`, or for an update
    /// `"kubectl-edit" using mithril.ai/v1alpha1 at 2026-01-01T00:00:00Z`.
    pub described_manager: String,
}

impl FieldConflict {
    /// The message of this conflict's `FieldManagerConflict` cause: `conflict with "kubectl"`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.described_manager)
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict (reason Conflict, causes of reason FieldManagerConflict).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<FieldConflict>),
    /// 400/422: the applied configuration is not acceptable (message says why).
    #[error("{0}")]
    Invalid(String),
}

/// The message of a 409 apply conflict, worded as kube-apiserver words it:
/// `Apply failed with 1 conflict: conflict with "kubectl": .spec.limitPrice`.
pub fn conflict_message(conflicts: &[FieldConflict]) -> String {
    if let [single] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            single.described_manager, single.field
        );
    }
    let mut managers: Vec<&str> = conflicts
        .iter()
        .map(|conflict| conflict.described_manager.as_str())
        .collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for conflict in conflicts
            .iter()
            .filter(|conflict| conflict.described_manager == manager)
        {
            lines.push(format!("- {}", conflict.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Which part of the object a write may touch.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// The whole object.
    Whole,
    /// The main resource of a kind with a status subresource: everything but `.status`.
    AllButStatus,
    /// The status subresource: `.status` only.
    StatusOnly,
}

fn status() -> PathElement {
    PathElement::Field("status".into())
}

impl Scope {
    fn of(ctx: &WriteContext<'_>) -> Self {
        match ctx.subresource {
            Some("status") => Self::StatusOnly,
            _ if ctx.status_subresource => Self::AllButStatus,
            _ => Self::Whole,
        }
    }

    /// The part of an applied configuration this write applies.
    fn config(self, applied: &Map<String, Value>) -> Value {
        match self {
            Self::Whole => Value::Object(applied.clone()),
            Self::AllButStatus => {
                let mut config = applied.clone();
                config.shift_remove("status");
                Value::Object(config)
            }
            Self::StatusOnly => {
                let mut config = Map::new();
                if let Some(status) = applied.get("status") {
                    config.insert("status".into(), status.clone());
                }
                Value::Object(config)
            }
        }
    }

    fn restrict(self, set: &FieldSet) -> FieldSet {
        match self {
            Self::Whole => set.clone(),
            Self::AllButStatus => set.without(&status()),
            Self::StatusOnly => set.only(&status()),
        }
    }
}

fn root_shape<'s>(ctx: &WriteContext<'s>) -> Shape<'s> {
    Shape::Root(ctx.schema.map(CompiledSchema::root))
}

fn api_version(object: &Value) -> String {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The object without `metadata.managedFields`, to tell whether a write changed anything.
fn without_managed_fields(object: Option<&Value>) -> Option<Value> {
    let mut copy = object?.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.shift_remove("managedFields");
    }
    Some(copy)
}

/// Server-side apply of `applied` onto `live` (`None`: the object does not exist yet and is created).
/// Returns the new object, with `metadata.managedFields` updated (operation Apply).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    ctx: &WriteContext<'_>,
    force: bool,
) -> Result<Value, ApplyError> {
    let Some(applied_fields) = applied.as_object() else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    };
    let sent_managed_fields = applied
        .pointer("/metadata/managedFields")
        .is_some_and(|managed| {
            !managed.is_null() && managed.as_array().is_none_or(|entries| !entries.is_empty())
        });
    if sent_managed_fields {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let scope = Scope::of(ctx);
    let shape = root_shape(ctx);
    let config = scope.config(applied_fields);
    walk::check_applied(&config, shape).map_err(ApplyError::Invalid)?;
    let applied_set = walk::field_set(&config, shape);

    let mut entries = managed::read(live);
    let own = |entry: &Entry| entry.is(ctx.manager, Operation::Apply, ctx.subresource);
    let previous = entries.iter().position(own);
    let last = previous
        .map(|index| entries[index].fields.clone())
        .unwrap_or_default();

    let mut merged = walk::merge(live, &config, shape);
    // What this manager applied before and omits now goes, unless someone (itself included,
    // through the new configuration) still owns it. metadata itself always stays.
    let still_owned = entries
        .iter()
        .filter(|entry| !own(entry))
        .fold(applied_set.clone(), |owned, entry| {
            owned.union(&entry.fields)
        })
        .with_named_fields_as_members();
    let disowned = last
        .with_named_fields_as_members()
        .difference(&still_owned)
        .without_member(&PathElement::Field("metadata".into()));
    walk::remove_unowned(&mut merged, &disowned, &still_owned, shape);

    let comparison = walk::compare(live, Some(&merged), shape);
    let changed = comparison.modified.union(&comparison.added);
    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|entry| !own(entry)) {
        for path in entry.fields.intersection(&changed).paths() {
            conflicts.push(FieldConflict {
                manager: entry.manager.clone(),
                field: path.to_string(),
                described_manager: entry.describe(),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for entry in entries.iter_mut().filter(|entry| !own(entry)) {
        entry.fields = entry
            .fields
            .difference(&changed)
            .difference(&comparison.removed);
    }

    let object_changed = without_managed_fields(live) != without_managed_fields(Some(&merged));
    let api_version = api_version(applied);
    match previous {
        Some(index) => {
            let entry = &mut entries[index];
            entry.fields = applied_set;
            entry.api_version = api_version;
            if object_changed {
                entry.time = Some(ctx.now.to_owned());
            }
        }
        None => entries.push(Entry {
            manager: ctx.manager.to_owned(),
            operation: Operation::Apply,
            subresource: ctx.subresource.map(str::to_owned),
            api_version,
            time: Some(ctx.now.to_owned()),
            fields: applied_set,
        }),
    }
    managed::write(&mut merged, entries);
    Ok(merged)
}

/// After a non-apply write (create, update, patch) from `old` to `new`: records in `new`'s
/// `metadata.managedFields` that `ctx.manager` (operation Update) now owns the fields it set or changed.
pub fn record_update(old: Option<&Value>, new: &mut Value, ctx: &WriteContext<'_>) {
    let scope = Scope::of(ctx);
    let comparison = walk::compare(old, Some(new), root_shape(ctx));
    // metadata itself is never owned, only what is in it.
    let metadata = PathElement::Field("metadata".into());
    let changed = scope
        .restrict(&comparison.modified.union(&comparison.added))
        .without_member(&metadata);
    let removed = scope
        .restrict(&comparison.removed)
        .without_member(&metadata);

    // A client that does not know managedFields and sends none keeps the stored ones; writes to
    // a subresource cannot replace them at all.
    let sent = managed::read(Some(new));
    let mut entries = if sent.is_empty() || ctx.subresource.is_some() {
        managed::read(old)
    } else {
        sent
    };
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&changed).difference(&removed);
    }
    if !changed.is_empty() {
        let api_version = api_version(new);
        let own = entries
            .iter_mut()
            .find(|entry| entry.is(ctx.manager, Operation::Update, ctx.subresource));
        match own {
            Some(entry) => {
                entry.fields = entry.fields.union(&changed);
                entry.api_version = api_version;
                entry.time = Some(ctx.now.to_owned());
            }
            None => entries.push(Entry {
                manager: ctx.manager.to_owned(),
                operation: Operation::Update,
                subresource: ctx.subresource.map(str::to_owned),
                api_version,
                time: Some(ctx.now.to_owned()),
                fields: changed,
            }),
        }
    }
    managed::write(new, entries);
}
