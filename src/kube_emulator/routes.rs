//! HTTP: one handler parses the Kubernetes URL space (discovery, OpenAPI, resource paths), records
//! the request, applies write faults, and dispatches to reads, writes and watches.

use super::discovery;
use super::emulator::Shared;
use super::output::{Form, include_object, negotiate, present_list, present_object};
use super::patch::PatchType;
use super::reads::{ListRequest, list};
use super::request_log::RequestRecord;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector, Selectors};
use super::status::ApiError;
use super::watch::{self, WatchRequest};
use super::writes::{self, DeleteOptions, FieldValidation, WriteOptions, WriteOutcome};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
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
    // Protobuf bodies (client-go's typed clients) are not decoded: 415 names the media types served.
    if let Some(content_type) = header_str(&parts.headers, header::CONTENT_TYPE)
        && content_type.starts_with("application/vnd.kubernetes.protobuf")
    {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    resource_request(app, target, parts.method, &parts.headers, query, body).await
}

/// `/api` and `/apis` as aggregated discovery, when the client asks for it first.
fn aggregated_discovery(app: &App, segments: &[&str], headers: &HeaderMap) -> Option<Response> {
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
fn non_resource(app: &App, segments: &[&str]) -> Option<Result<Value, ApiError>> {
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

async fn resource_request(
    app: App,
    target: Target,
    method: Method,
    headers: &HeaderMap,
    query: HashMap<String, String>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let Target {
        rt,
        namespace,
        name,
        subresource,
    } = target;
    let ns = namespace.as_deref();
    let param = |key: &str| query.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let watching = matches!(param("watch"), Some("true" | "1"));
    let verb = match (&method, &name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if watching => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed()),
    };
    app.shared.log.push(RequestRecord {
        verb: verb.to_string(),
        group: rt.group.clone(),
        resource: rt.plural.clone(),
        subresource: subresource.clone(),
        namespace: namespace.clone(),
    });
    let form = negotiate(
        header_str(headers, header::ACCEPT),
        include_object(param("includeObject")),
    )?;
    let selectors = || -> Result<Selectors, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(param("labelSelector").unwrap_or_default())
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            fields: FieldSelector::parse(param("fieldSelector").unwrap_or_default(), rt.custom)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            view: rt.view,
        })
    };
    if matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    ) {
        let fault = app.shared.faults.on_write(&rt.group, &rt.plural);
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(code) = fault.fail_with {
            return Err(ApiError::injected(code));
        }
    }
    let dry_run = param("dryRun") == Some("All");
    let write_options = || -> Result<WriteOptions, ApiError> {
        let field_validation = match param("fieldValidation") {
            None | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation parameter unsupported: {other}, must be one of Ignore, Warn, Strict"
                )));
            }
        };
        let given = param("fieldManager");
        Ok(WriteOptions {
            dry_run,
            manager: given
                .map(str::to_string)
                .unwrap_or_else(|| default_manager(headers)),
            manager_given: given.is_some(),
            force: matches!(param("force"), Some("true" | "1")),
            field_validation,
        })
    };
    let name = name.as_deref();
    match verb {
        "get" => {
            // The lock is held to find the object, not to encode it.
            let object = writes::get(&app.shared.lock(), &rt, ns, name.unwrap_or_default())?;
            Ok(json_response(present_object(&rt, &object, form)))
        }
        "list" => {
            let request = ListRequest {
                limit: param("limit").and_then(|l| l.parse().ok()),
                continue_token: param("continue").map(str::to_string),
                resource_version: param("resourceVersion").map(str::to_string),
                resource_version_match: param("resourceVersionMatch").map(str::to_string),
                selectors: selectors()?,
            };
            let page = list(&app.shared.lock(), &rt, ns, &request)?;
            Ok(json_response(present_list(
                &rt,
                &page.items,
                page.list_meta(),
                form,
            )))
        }
        "watch" => {
            let timeout = param("timeoutSeconds")
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs);
            let request = WatchRequest {
                resource_version: param("resourceVersion").map(str::to_string),
                send_initial_events: param("sendInitialEvents") == Some("true"),
                allow_bookmarks: param("allowWatchBookmarks") == Some("true"),
                timeout: timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT),
                selectors: selectors()?,
                form,
            };
            watch::open(
                app.shared.clone(),
                rt,
                namespace,
                request,
                app.shutdown.clone(),
            )
        }
        "create" => {
            let object = parse_body(headers, &body)?;
            let outcome =
                writes::create(&mut app.shared.lock(), &rt, ns, object, &write_options()?)?;
            Ok(write_response(&rt, outcome, form))
        }
        "update" => {
            let object = parse_body(headers, &body)?;
            let options = write_options()?;
            let outcome = writes::update(
                &mut app.shared.lock(),
                &rt,
                ns,
                name.unwrap_or_default(),
                subresource.as_deref(),
                object,
                &options,
            )?;
            Ok(write_response(&rt, outcome, form))
        }
        "patch" => {
            let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
            let patch_type = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let options = write_options()?;
            let outcome = writes::patch(
                &mut app.shared.lock(),
                &rt,
                ns,
                name.unwrap_or_default(),
                subresource.as_deref(),
                patch_type,
                &body,
                &options,
            )?;
            Ok(write_response(&rt, outcome, form))
        }
        "delete" => {
            let options = delete_options(&body, dry_run)?;
            let object = writes::delete(
                &mut app.shared.lock(),
                &rt,
                ns,
                name.unwrap_or_default(),
                &options,
            )?;
            Ok(json_response(present_object(&rt, &object, form)))
        }
        _ => {
            let options = delete_options(&body, dry_run)?;
            let selectors = selectors()?;
            let deleted =
                writes::delete_collection(&mut app.shared.lock(), &rt, ns, &selectors, &options)?;
            let rv = app.shared.lock().store.current_rv();
            let items: Vec<Arc<Value>> = deleted.into_iter().map(Arc::new).collect();
            Ok(json_response(present_list(
                &rt,
                &items,
                json!({"resourceVersion": rv.to_string()}),
                form,
            )))
        }
    }
}

fn write_response(rt: &ResourceType, outcome: WriteOutcome, form: Form) -> Response {
    let code = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response =
        (code, axum::Json(present_object(rt, &outcome.object, form))).into_response();
    for warning in outcome.warnings {
        let text = format!("299 - {}", serde_json::Value::String(warning));
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
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

/// A JSON or YAML request body.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
    let parsed = if content_type.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

/// `DeleteOptions` from the body (all optional), with the `dryRun` query parameter.
fn delete_options(body: &[u8], dry_run: bool) -> Result<DeleteOptions, ApiError> {
    let mut options = DeleteOptions {
        dry_run,
        ..Default::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(options);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    options.precondition_uid = text(&value["preconditions"]["uid"]);
    options.precondition_rv = text(&value["preconditions"]["resourceVersion"]);
    if value["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"))
    {
        options.dry_run = true;
    }
    Ok(options)
}

/// kube-apiserver's default field manager for non-apply writes: the user agent's first word.
fn default_manager(headers: &HeaderMap) -> String {
    header_str(headers, header::USER_AGENT)
        .and_then(|agent| agent.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_string()
}
