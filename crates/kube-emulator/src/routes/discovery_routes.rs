//! Discovery, OpenAPI and health endpoints, and aggregated discovery when asked for first.

use super::super::discovery;
use super::super::status::ApiError;
use super::{App, header_str, json_response};
use axum::response::Response;
use http::{HeaderMap, header};
use serde_json::{Value, json};

/// `/api` and `/apis` as aggregated discovery, when the client asks for it first.
pub(super) fn aggregated_discovery(
    app: &App,
    segments: &[&str],
    headers: &HeaderMap,
) -> Option<Response> {
    let core = match segments {
        ["api"] => true,
        ["apis"] => false,
        _ => return None,
    };
    let first_choice = header_str(headers, header::ACCEPT)?.split(',').next()?;
    let params: Vec<&str> = first_choice.split(';').map(str::trim).collect();
    let wanted = params.contains(&"as=APIGroupDiscoveryList")
        && params.contains(&"g=apidiscovery.k8s.io")
        && params.contains(&"v=v2");
    if !wanted {
        return None;
    }
    let document = discovery::aggregated(&app.shared.lock().registry, core);
    let mut response = json_response(document);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(discovery::AGGREGATED_MEDIA_TYPE),
    );
    Some(response)
}

/// Discovery, OpenAPI and health endpoints (None: not one of them).
pub(super) fn non_resource(app: &App, segments: &[&str]) -> Option<Result<Value, ApiError>> {
    let state = app.shared.lock();
    let registry = &state.registry;
    let found = |document: Option<Value>| Some(document.ok_or_else(ApiError::not_found_path));
    match segments {
        ["version"] => Some(Ok(discovery::version())),
        ["api"] => Some(Ok(discovery::api_versions())),
        ["api", "v1"] => found(discovery::api_resource_list(registry, "", "v1")),
        ["apis"] => Some(Ok(discovery::api_group_list(registry))),
        ["apis", group] => found(discovery::api_group(registry, group)),
        ["apis", group, version] => found(discovery::api_resource_list(registry, group, version)),
        ["openapi", "v3"] => Some(Ok(discovery::openapi_index(registry))),
        ["openapi", "v3", "api", "v1"] => Some(Ok(discovery::openapi_document(registry, "", "v1"))),
        ["openapi", "v3", "apis", group, version] => found(
            discovery::api_resource_list(registry, group, version)
                .map(|_| discovery::openapi_document(registry, group, version)),
        ),
        ["healthz" | "livez" | "readyz"] => Some(Ok(json!("ok"))),
        _ => None,
    }
}
