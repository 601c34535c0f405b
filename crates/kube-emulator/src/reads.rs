//! Lists: pages served from one snapshot (the continue token carries its resourceVersion and the
//! last key), selectors, and resourceVersion semantics.

use super::resources::ResourceType;
use super::selectors::Selectors;
use super::state::State;
use super::status::ApiError;
use super::store::{ObjectKey, TooOld};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

/// The list-related query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub selectors: Selectors,
}

/// One page and its ListMeta.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

impl ListPage {
    pub fn list_meta(&self) -> Value {
        let mut meta = json!({"resourceVersion": self.resource_version.to_string()});
        if let Some(token) = &self.continue_token {
            meta["continue"] = json!(token);
        }
        meta
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    /// Snapshot resourceVersion.
    rv: u64,
    /// Last key returned.
    ns: String,
    name: String,
}

pub fn list(
    state: &State,
    rt: &ResourceType,
    namespace: Option<&str>,
    req: &ListRequest,
) -> Result<ListPage, ApiError> {
    let (snapshot_rv, after) = match req.continue_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let token = decode_token(token)?;
            (
                token.rv,
                Some(ObjectKey {
                    namespace: token.ns,
                    name: token.name,
                }),
            )
        }
        None => (snapshot_for(state, req)?, None),
    };
    let matches = |object: &Value| req.selectors.matches(object);
    let page = state
        .store
        .page(&rt.storage_key(), namespace, snapshot_rv, after.as_ref(), req.limit, &matches)
        .map_err(|too_old: TooOld| {
            if req.continue_token.is_some() {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                )
            } else {
                too_old_error(too_old)
            }
        })?;
    let continue_token = page.more_after.map(|key| encode_token(snapshot_rv, key));
    Ok(ListPage {
        items: page.items,
        resource_version: snapshot_rv,
        continue_token,
    })
}

/// The snapshot a first page reads: the current state, or the exact resourceVersion asked for.
fn snapshot_for(state: &State, req: &ListRequest) -> Result<u64, ApiError> {
    let current = state.store.current_rv();
    match (
        req.resource_version.as_deref(),
        req.resource_version_match.as_deref(),
    ) {
        (Some(rv), Some("Exact")) => {
            let rv: u64 = rv.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version: {}",
                    ApiError::unparsable_resource_version(rv)
                ))
            })?;
            if rv > current {
                return Err(ApiError::internal(format!(
                    "Too large resource version: {rv}, current: {current}"
                )));
            }
            Ok(rv)
        }
        _ => Ok(current),
    }
}

pub fn too_old_error(too_old: TooOld) -> ApiError {
    ApiError::expired(format!(
        "too old resource version: {} ({})",
        too_old.requested, too_old.oldest
    ))
}

fn encode_token(rv: u64, key: ObjectKey) -> String {
    let token = ContinueToken {
        rv,
        ns: key.namespace,
        name: key.name,
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_token(token: &str) -> Result<ContinueToken, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request(format!("continue key is not valid: {token}")))
}
