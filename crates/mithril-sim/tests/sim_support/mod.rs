//! Support of the simulator tests: a simulator served on loopback, a plain HTTP client, and
//! validation of every response against Mithril's OpenAPI schemas.
#![allow(dead_code)]

use mithril_sim::{Sim, SimConfig, SimServer};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const SPEC: &str = include_str!("../fixtures/mithril-openapi.json");
/// The full spec adds `/v2/projects` and `/v2/instance-types`.
const FULL_SPEC: &str = include_str!("../fixtures/mithril-full-openapi.json");

pub const KEY: &str = "fkey_test0123456789";
pub const MINUTE: Duration = Duration::from_secs(60);

/// The two specs, parsed once.
fn specs() -> &'static [Value; 2] {
    static SPECS: OnceLock<[Value; 2]> = OnceLock::new();
    SPECS.get_or_init(|| {
        [
            serde_json::from_str(SPEC).expect("spec fixture is JSON"),
            serde_json::from_str(FULL_SPEC).expect("full spec fixture is JSON"),
        ]
    })
}

/// The spec path template a concrete path matches, and the spec that declares it.
pub fn template_of(path: &str) -> Option<(String, &'static Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    for spec in specs() {
        let paths = spec["paths"].as_object()?;
        for template in paths.keys() {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    (part.starts_with('{') && part.ends_with('}')) || part == segment
                });
            if matches {
                return Some((template.clone(), spec));
            }
        }
    }
    None
}

/// Inlines `$ref`s, turns OpenAPI `nullable` into JSON Schema null types, and closes objects
/// (no properties beyond the spec's), except FastAPI's validation items, which carry `input` and `ctx`.
fn to_json_schema(schema: &Value, spec: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                let name = reference.trim_start_matches("#/components/schemas/");
                let resolved = to_json_schema(&spec["components"]["schemas"][name], spec);
                let nullable = object
                    .get("nullable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                return if nullable {
                    json!({ "anyOf": [resolved, { "type": "null" }] })
                } else {
                    resolved
                };
            }
            let mut out = Map::new();
            for (key, value) in object {
                match key.as_str() {
                    "nullable" | "examples" | "title" | "description" => {}
                    "properties" => {
                        let properties = value
                            .as_object()
                            .map(|properties| {
                                properties
                                    .iter()
                                    .map(|(name, schema)| {
                                        (name.clone(), to_json_schema(schema, spec))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(properties));
                    }
                    _ => {
                        out.insert(key.clone(), to_json_schema(value, spec));
                    }
                }
            }
            if object.get("nullable").and_then(Value::as_bool) == Some(true) {
                if let Some(kind) = out.get("type").cloned() {
                    out.insert("type".into(), json!([kind, "null"]));
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            let is_validation_item =
                object.get("title").and_then(Value::as_str) == Some("ValidationError");
            if object.contains_key("properties")
                && !is_validation_item
                && !out.contains_key("additionalProperties")
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| to_json_schema(item, spec))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// RFC 3339 date-time, strictly: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, and a real instant.
pub fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let shape = bytes.len() >= 20
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && matches!(bytes[10], b'T' | b't')
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return false;
        }
        rest = &fraction[length..];
    }
    let offset_ok = rest == "Z"
        || rest == "z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|b| b.is_ascii_digit())
            && rest[4..6].bytes().all(|b| b.is_ascii_digit()));
    offset_ok && text.parse::<jiff::Timestamp>().is_ok()
}

/// The JSON Schema of a response: the spec's for (path, method, status); `{"detail": string}` for
/// errors the spec does not describe; `None` for bodiless answers (204).
pub fn response_schema(path: &str, method: &Method, status: StatusCode) -> Option<Value> {
    let (template, spec) = template_of(path).unwrap_or_else(|| panic!("{path} is not in the spec"));
    let operation = &spec["paths"][&template][method.as_str().to_ascii_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not in the spec"
    );
    let declared =
        &operation["responses"][status.as_str()]["content"]["application/json"]["schema"];
    if declared.is_object() {
        return Some(to_json_schema(declared, spec));
    }
    if status.is_client_error() || status.is_server_error() {
        return Some(json!({
            "type": "object",
            "properties": { "detail": { "type": "string" } },
            "required": ["detail"],
            "additionalProperties": false
        }));
    }
    None
}

/// Compiled validators, per (path template, method, status): compiling is far dearer than validating.
fn validator(
    path: &str,
    method: &Method,
    status: StatusCode,
) -> Option<Arc<jsonschema::Validator>> {
    type Validators = HashMap<(String, String, u16), Option<Arc<jsonschema::Validator>>>;
    static CACHE: OnceLock<Mutex<Validators>> = OnceLock::new();
    let template = template_of(path)
        .map(|(template, _)| template)
        .unwrap_or_default();
    let key = (template, method.to_string(), status.as_u16());
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(key)
        .or_insert_with(|| {
            response_schema(path, method, status).map(|schema| {
                Arc::new(
                    jsonschema::options()
                        .with_format("datetime", is_rfc3339)
                        .should_validate_formats(true)
                        .build(&schema)
                        .expect("schema compiles"),
                )
            })
        })
        .clone()
}

/// What is wrong with a response body, judged by its schema (empty when it is valid).
pub fn violations(path: &str, method: &Method, status: StatusCode, body: &[u8]) -> Vec<String> {
    match validator(path, method, status) {
        None if body.is_empty() => Vec::new(),
        None => vec![format!(
            "expected no body, got {}",
            String::from_utf8_lossy(body)
        )],
        Some(validator) => match serde_json::from_slice::<Value>(body) {
            Err(error) => vec![format!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(body)
            )],
            Ok(value) => validator
                .iter_errors(&value)
                .map(|error| format!("{error} at {}", error.instance_path()))
                .collect(),
        },
    }
}

/// Validates a response body against its schema; panics with every violation.
pub fn assert_valid(path: &str, method: &Method, status: StatusCode, body: &[u8]) -> Value {
    let problems = violations(path, method, status, body);
    assert!(
        problems.is_empty(),
        "{method} {path} -> {status}: {problems:#?}\nbody: {}",
        String::from_utf8_lossy(body)
    );
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).expect("checked JSON")
    }
}

/// A served simulator and a client for it.
pub struct Harness {
    pub sim: Sim,
    pub server: SimServer,
    pub client: reqwest::Client,
    pub key: String,
}

impl Harness {
    pub async fn start(config: SimConfig) -> Harness {
        let sim = Sim::new(config);
        let server = sim
            .serve("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("serve");
        Harness {
            sim,
            server,
            client: reqwest::Client::new(),
            key: KEY.to_owned(),
        }
    }

    pub async fn default() -> Harness {
        Self::start(SimConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// A raw request with the harness key; the response is not validated.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await
    }

    /// A Mithril API call with `key`; the response is validated against the spec.
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let response = self
            .raw(method.clone(), path, body, key)
            .await
            .expect("request completes");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = assert_valid(path, &method, status, &bytes);
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let key = self.key.clone();
        self.call_as(Some(&key), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// GET expecting 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// The FID of project `demo`.
    pub async fn project(&self) -> String {
        let projects = self.get_ok("/v2/projects").await;
        projects
            .as_array()
            .and_then(|projects| projects.iter().find(|project| project["name"] == "demo"))
            .and_then(|project| project["fid"].as_str())
            .expect("project demo")
            .to_owned()
    }

    /// The FID of an instance type by name.
    pub async fn instance_type(&self, name: &str) -> String {
        let types = self.get_ok("/v2/instance-types").await;
        types
            .as_array()
            .and_then(|types| types.iter().find(|it| it["name"] == name))
            .and_then(|it| it["fid"].as_str())
            .unwrap_or_else(|| panic!("instance type {name}"))
            .to_owned()
    }

    /// Places a bid and returns it (201 expected).
    pub async fn place_bid(
        &self,
        name: &str,
        region: &str,
        instance_type: &str,
        limit: &str,
        quantity: u32,
    ) -> Value {
        let body = bid_body(
            &self.project().await,
            name,
            region,
            instance_type,
            limit,
            quantity,
        );
        let (status, bid) = self.post("/v2/spot/bids", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{bid}");
        bid
    }

    pub async fn bid(&self, fid: &str) -> Value {
        self.get_ok(&format!("/v2/spot/bids/{fid}")).await
    }

    pub async fn instance_status(&self, fid: &str) -> String {
        let status = self.get_ok(&format!("/v2/instances/{fid}/status")).await;
        status["status"].as_str().expect("status").to_owned()
    }

    /// Statuses of a bid's instances.
    pub async fn bid_instance_statuses(&self, fid: &str) -> Vec<String> {
        let bid = self.bid(fid).await;
        let mut statuses = Vec::new();
        for instance in bid["instances"].as_array().expect("instances") {
            statuses.push(self.instance_status(instance.as_str().expect("fid")).await);
        }
        statuses
    }

    /// The availability entry of (region, instance type FID).
    pub async fn auction(&self, region: &str, instance_type: &str) -> Value {
        let auctions = self.get_ok("/v2/spot/availability").await;
        auctions
            .as_array()
            .and_then(|auctions| {
                auctions
                    .iter()
                    .find(|a| a["region"] == region && a["instance_type"] == instance_type)
            })
            .cloned()
            .expect("auction")
    }
}

pub fn bid_body(
    project: &str,
    name: &str,
    region: &str,
    instance_type: &str,
    limit: &str,
    quantity: u32,
) -> Value {
    json!({
        "project": project,
        "region": region,
        "instance_type": instance_type,
        "limit_price": limit,
        "instance_quantity": quantity,
        "name": name,
        "launch_specification": { "volumes": [], "ssh_keys": ["sshkey_abc"] }
    })
}
