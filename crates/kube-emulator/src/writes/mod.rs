//! Create, update, patch, server-side apply and delete, with kube-apiserver's object rules:
//! metadata ownership, optimistic concurrency, the status subresource, generation, finalizers and
//! deletion, schema pruning/defaulting/validation, field management, dry runs.

mod admit;
mod commit;
mod create;
mod delete;
mod update;

pub use commit::Writer;
pub use create::create;
pub use delete::{delete, delete_collection};
pub use update::{patch, update};

use super::resources::ResourceType;
use super::state::State;
use super::status::ApiError;
use super::store::ObjectKey;
use serde_json::Value;
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

/// A request body of `content_type`: YAML when it says so, else JSON.
pub fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let parsed = if content_type.contains("yaml") {
        from_yaml(body)
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

/// A YAML body. Clients send JSON (which is YAML) as a rule: read as such first, as YAML only if
/// it is not.
pub(crate) fn from_yaml(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body)
        .or_else(|_| serde_saphyr::from_slice(body).map_err(|e| e.to_string()))
}
