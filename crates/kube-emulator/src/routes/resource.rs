//! Requests on resources: verb, request log, faults, parameters, dispatch to reads, writes and watches.

use super::super::output::{Form, include_object, negotiate, present_list, present_object};
use super::super::patch::PatchType;
use super::super::reads::{ListRequest, list};
use super::super::request_log::RequestRecord;
use super::super::resources::ResourceType;
use super::super::scale_subresource;
use super::super::selectors::{FieldLabels, FieldSelector, LabelSelector, Selectors};
use super::super::status::ApiError;
use super::super::watch::{self, WatchRequest};
use super::super::writes::{
    self, DeleteOptions, FieldValidation, WriteOptions, WriteOutcome, Writer,
};
use super::{App, DEFAULT_WATCH_TIMEOUT, Target, header_str, json_response};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) async fn resource_request(
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
            fields: FieldSelector::parse(
                param("fieldSelector").unwrap_or_default(),
                FieldLabels::of(&rt),
            )
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
    if subresource.as_deref() == Some("scale") {
        let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
        let scale = scale_subresource::serve(
            &mut app.shared.lock(),
            &rt,
            ns,
            name.unwrap_or_default(),
            verb,
            content_type,
            &body,
            &write_options()?,
        )?;
        return Ok(json_response(scale));
    }
    match verb {
        "get" => {
            // The lock is held to find the object, not to encode it.
            let object = writes::get(&app.shared.lock(), &rt, ns, name.unwrap_or_default())?;
            Ok(json_response(present_object(&rt, &object, form)))
        }
        "list" => {
            if let Some(delay) = app.shared.faults.on_list(&rt.group, &rt.plural) {
                tokio::time::sleep(delay).await;
            }
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
            let outcome = writes::create(
                Writer::Shared(&app.shared),
                &rt,
                ns,
                object,
                &write_options()?,
            )?;
            Ok(write_response(&rt, outcome, form))
        }
        "update" => {
            let object = parse_body(headers, &body)?;
            let options = write_options()?;
            let outcome = writes::update(
                Writer::Shared(&app.shared),
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
            // Custom resources have no Go struct to carry patch strategies: kube-apiserver refuses.
            if rt.custom && patch_type == PatchType::StrategicMerge {
                return Err(ApiError::strategic_merge_unsupported());
            }
            let options = write_options()?;
            let outcome = writes::patch(
                Writer::Shared(&app.shared),
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
            // An object gone at once is answered with a Success Status, as kube-apiserver does
            // (a namespace, which a real server keeps Terminating, with itself).
            let removed = object["metadata"].get("deletionTimestamp").is_none();
            if removed && !(rt.group.is_empty() && rt.plural == "namespaces") {
                return Ok(json_response(deleted_status(&rt, &object)));
            }
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

/// A JSON or YAML request body.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
    writes::decode_body(content_type, body)
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

/// kube-apiserver's answer to a DELETE that removed the object.
fn deleted_status(rt: &ResourceType, object: &Value) -> Value {
    let mut details = json!({
        "name": object["metadata"]["name"],
        "kind": rt.plural,
        "uid": object["metadata"]["uid"],
    });
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
