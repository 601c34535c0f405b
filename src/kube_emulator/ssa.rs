//! Server-side apply and `metadata.managedFields`.
//! INTERFACE (filled in by the schema work; the core calls exactly these):

use super::schema::CompiledSchema;
use serde_json::Value;

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
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// 409 Conflict (reason Conflict, causes of reason FieldManagerConflict).
    Conflicts(Vec<FieldConflict>),
    /// 400/422: the applied configuration is not acceptable (message says why).
    Invalid(String),
}

/// Server-side apply of `applied` onto `live` (`None`: the object does not exist yet and is created).
/// Returns the new object, with `metadata.managedFields` updated (operation Apply).
pub fn apply(_live: Option<&Value>, _applied: &Value, _ctx: &WriteContext<'_>, _force: bool) -> Result<Value, ApplyError> {
    Err(ApplyError::Invalid("server-side apply is not built yet".into()))
}

/// After a non-apply write (create, update, patch) from `old` to `new`: records in `new`'s
/// `metadata.managedFields` that `ctx.manager` (operation Update) now owns the fields it set or changed.
pub fn record_update(_old: Option<&Value>, _new: &mut Value, _ctx: &WriteContext<'_>) {}
