//! Bearer-key authentication: `Authorization: Bearer fkey_...`. With a configured key only that key
//! passes; otherwise any well-formed `fkey_` key does. The key decides which projects are visible.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::Sim;

const KEY_PREFIX: &str = "fkey_";

/// Rejects requests without an acceptable key; attaches the [`crate::world::Caller`] otherwise.
pub async fn authenticate(State(sim): State<Sim>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().map(str::trim));
    let key = match header {
        None => return ApiError::Unauthorized("Not authenticated".into()).into_response(),
        Some(Err(_)) => {
            return ApiError::Unauthorized("Invalid authorization header".into()).into_response();
        }
        Some(Ok(value)) => match value.split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim().to_owned(),
            _ => {
                return ApiError::Unauthorized(
                    "Invalid authentication scheme; expected Bearer".into(),
                )
                .into_response();
            }
        },
    };
    let well_formed = key.len() > KEY_PREFIX.len()
        && key.starts_with(KEY_PREFIX)
        && key.bytes().all(|byte| byte.is_ascii_graphic());
    if !well_formed {
        return ApiError::Unauthorized("Invalid API key".into()).into_response();
    }
    if sim.api_key().is_some_and(|expected| expected != key) {
        return ApiError::Unauthorized("Invalid API key".into()).into_response();
    }
    let caller = sim.world().caller(&key);
    request.extensions_mut().insert(caller);
    next.run(request).await
}
