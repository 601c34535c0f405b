//! HTTP: one handler parses the Kubernetes URL space (discovery, OpenAPI, resource paths), records
//! the request, applies write faults, and dispatches to reads, writes and watches.

mod discovery_routes;
mod resource;

use super::protobuf::{self, ProtobufError};
use super::resources::ResourceType;
use super::shared::Shared;
use super::status::ApiError;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use discovery_routes::{aggregated_discovery, non_resource};
use http::{HeaderMap, Method, header};
use resource::resource_request;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted (kube-apiserver's limit is 3 MiB per object; lists of patches are smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Watches without timeoutSeconds end after this long (kube-apiserver picks 30 to 60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    /// Ends open watch streams when the socket serving them shuts down.
    shutdown: CancellationToken,
}

/// The emulator's HTTP service.
pub fn router(shared: Arc<Shared>, shutdown: CancellationToken) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(App { shared, shutdown })
}

async fn handle(State(app): State<App>, request: Request) -> Response {
    match route(app, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// One parsed resource URL.
struct Target {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

async fn route(app: App, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.method == Method::GET {
        if let Some(response) = aggregated_discovery(&app, &segments, &parts.headers) {
            return Ok(response);
        }
        if let Some(document) = non_resource(&app, &segments) {
            return document.map(json_response);
        }
    }
    let target = {
        let state = app.shared.lock();
        let (group, version, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => ("", "v1", rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return Err(ApiError::not_found_path()),
        };
        resolve(&state.registry, group, version, rest).ok_or_else(ApiError::not_found_path)?
    };
    let mut headers = parts.headers;
    let mut body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    // kube-apiserver takes protobuf for built-in kinds (client-go's typed clients send it
    // unasked), not for custom resources: decoded here into the JSON the rest works on.
    if let Some(content_type) = header_str(&headers, header::CONTENT_TYPE)
        && content_type.starts_with(protobuf::MEDIA_TYPE)
    {
        if target.rt.custom {
            return Err(ApiError::unsupported_media_type(content_type));
        }
        let object = protobuf::decode(&body).map_err(|error| match error {
            ProtobufError::UnknownKind(..) => ApiError::unsupported_media_type(content_type),
            ProtobufError::Malformed(reason) => ApiError::bad_request(format!(
                "the body of the request could not be decoded: {reason}"
            )),
        })?;
        body = serde_json::to_vec(&object)
            .expect("JSON values serialise")
            .into();
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    resource_request(app, target, parts.method, &headers, query, body).await
}

/// Resolves the part of a resource URL after `/api/v1` or `/apis/{g}/{v}`.
fn resolve(
    registry: &super::registry::Registry,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Option<Target> {
    let target =
        |rt: Arc<ResourceType>, namespace: Option<&str>, tail: &[&str]| -> Option<Target> {
            let (name, subresource) = match tail {
                [] => (None, None),
                [name] => (Some(*name), None),
                [name, "status"] if rt.status_subresource => (Some(*name), Some("status")),
                [name, "scale"] if rt.scale.is_some() => (Some(*name), Some("scale")),
                _ => return None,
            };
            Some(Target {
                rt,
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                subresource: subresource.map(str::to_string),
            })
        };
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(rt) = registry
            .get(group, version, plural)
            .filter(|t| t.namespaced)
    {
        return target(rt, Some(namespace), tail);
    }
    let [plural, tail @ ..] = rest else {
        return None;
    };
    let rt = registry.get(group, version, plural)?;
    if rt.namespaced && !tail.is_empty() {
        return None;
    }
    target(rt, None, tail)
}

fn json_response(document: Value) -> Response {
    axum::Json(document).into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Query pairs; empty pairs (`?&limit=1`) are ignored.
fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
