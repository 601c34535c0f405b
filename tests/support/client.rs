//! A scripted Mithril stand-in for client tests: answers each request with the next scripted
//! reply and records what it received. Included by the `mithril_client_*` tests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mithril_api::{
    ApiKey, ClientConfig, ClientOptions, ManualClock, MithrilClient, RateLimit, RetryPolicy,
};
use serde_json::Value;

pub const API_KEY: &str = "fkey_TESTSECRET0123456789";

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, JSON body, extra headers.
    Json(u16, Value, Vec<(&'static str, String)>),
    /// Status with an empty body.
    Empty(u16),
    /// Status with a raw text body.
    Text(u16, &'static str),
    /// Never answers (for timeouts).
    Hang,
}

pub fn ok(body: Value) -> Reply {
    Reply::Json(200, body, vec![])
}

pub fn status(code: u16, body: Value) -> Reply {
    Reply::Json(code, body, vec![])
}

pub fn detail(code: u16, message: &str) -> Reply {
    Reply::Json(code, serde_json::json!({ "detail": message }), vec![])
}

pub fn too_many(retry_after: Option<&str>) -> Reply {
    let headers = retry_after
        .map(|v| vec![("retry-after", v.to_owned())])
        .unwrap_or_default();
    Reply::Json(
        429,
        serde_json::json!({"detail": "Too many requests"}),
        headers,
    )
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// Query pairs, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

/// The running server.
pub struct Server {
    pub addr: SocketAddr,
    script: Arc<Script>,
}

impl Server {
    pub async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            received: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { addr, script }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }

    pub fn only_request(&self) -> Received {
        let received = self.received();
        assert_eq!(
            received.len(),
            1,
            "expected exactly one request, got {received:#?}"
        );
        received.into_iter().next().unwrap()
    }

    pub fn remaining_replies(&self) -> usize {
        self.script.replies.lock().unwrap().len()
    }

    pub fn base_url(&self) -> url::Url {
        format!("http://{}", self.addr).parse().unwrap()
    }

    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.base_url(), ApiKey::new(API_KEY).unwrap());
        config.rate_limit = RateLimit {
            per_second: 1000.0,
            burst: 1000,
        };
        config.retry = RetryPolicy::default();
        config
    }

    /// A client on a manual clock (backoff and rate-limit waits are recorded, not slept).
    pub fn client(&self) -> (MithrilClient, Arc<ManualClock>) {
        self.client_with(self.config(), ClientOptions::default())
    }

    pub fn client_with(
        &self,
        config: ClientConfig,
        options: ClientOptions,
    ) -> (MithrilClient, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(wall_origin()));
        let client = MithrilClient::with_options(config, options.clock(clock.clone())).unwrap();
        (client, clock)
    }
}

/// The manual clock's wall time at monotonic zero.
pub fn wall_origin() -> jiff::Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.received.lock().unwrap().push(Received {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = script.replies.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::IM_A_TEAPOT, "unscripted request").into_response(),
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(Reply::Empty(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Reply::Text(code, text)) => {
            (StatusCode::from_u16(code).unwrap(), text).into_response()
        }
        Some(Reply::Json(code, value, extra)) => {
            let mut response =
                (StatusCode::from_u16(code).unwrap(), axum::Json(value)).into_response();
            for (name, value) in extra {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
    }
}

// Realistic bodies, shaped after the examples in the full Mithril OpenAPI document.

pub fn bid_json(fid: &str, name: &str, status: &str) -> Value {
    serde_json::json!({
        "fid": fid,
        "name": name,
        "project": "proj_abc123456",
        "created_by": "user_abc123456",
        "created_at": "2024-01-01T00:00:00Z",
        "deactivated_at": null,
        "limit_price": "$15.60",
        "instance_quantity": 4,
        "instance_type": "it_abc123456",
        "region": "us-central1-a",
        "instances": ["inst_abc123456"],
        "launch_specification": {
            "volumes": ["vol_1234567890", "vol_1234567891"],
            "ssh_keys": ["sshkey_1234567890"],
            "startup_script": "#!/bin/bash\necho ready",
            "kubernetes_cluster": null,
            "image_version": "imgver_abc123456",
            "memory_gb": null
        },
        "status": status
    })
}

pub fn instance_json(fid: &str, status: &str) -> Value {
    serde_json::json!({
        "fid": fid,
        "name": format!("{fid}-name"),
        "project": "proj_abc123456",
        "created_at": "2024-01-01T00:00:00+00:00",
        "created_by": "user_abc123456",
        "instance_type": "it_abc123456",
        "region": "us-central1-a",
        "bid": null,
        "reservation": "res_abc123456",
        "ssh_destination": "203.0.113.7:22",
        "private_ip": "10.0.0.7",
        "status": status
    })
}
