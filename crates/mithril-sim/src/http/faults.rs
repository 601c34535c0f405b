//! Injected faults, per route (method + template) or for every API route: a share of 5xx answers,
//! a share of 429 with `Retry-After`, added latency, a share of dropped connections, writes whose
//! answer is lost (at once or after a late commit), and lists that lag behind. Draws come from a
//! generator seeded from the simulator's seed, so a test sees the same faults on every run.

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

use crate::Sim;

/// What to inject. Shares are probabilities in 0..=1, drawn (one draw per request) in the order
/// drop, 5xx, 429, drop after, 5xx after, late commit.
///
/// The `_after` kinds let the request take effect and then lose the answer: the bid is placed,
/// but the client sees a 503 or a broken connection. That is the ambiguous failure a client must
/// resolve by looking, never by sending the write again. `late_commit` is the harder case: the
/// connection drops at once and the write lands only later, so looking right away finds nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Share of requests answered 503.
    pub error_5xx: f64,
    /// Share of requests answered 429 with `Retry-After`.
    pub throttle_429: f64,
    /// `Retry-After` of the 429 answers (whole seconds on the wire, rounded up).
    #[serde(with = "millis")]
    pub retry_after: Duration,
    /// Added to every request (real time).
    #[serde(with = "millis")]
    pub latency: Duration,
    /// Share of requests whose connection is dropped without a complete answer.
    pub drop: f64,
    /// Share of requests that are carried out, then answered 503.
    pub error_5xx_after: f64,
    /// Share of requests that are carried out, then dropped without a complete answer.
    pub drop_after: f64,
    /// Share of writes (POST, PATCH, DELETE) dropped at once without an answer, then carried out
    /// `late_commit_delay` later exactly as sent (validated then; a write refused then never lands).
    pub late_commit: f64,
    /// How long a late commit waits (real time).
    #[serde(with = "millis")]
    pub late_commit_delay: Duration,
    /// Lists (`GET /v2/spot/bids`, `GET /v2/instances`) answered through this spec show bids and
    /// instances as they were this long ago (real time): a new one is absent, a changed one shows
    /// its previous state. Reading one bid stays current.
    #[serde(with = "millis")]
    pub list_lag: Duration,
}

/// The `list_lag` of the request's fault spec, for the list handlers.
#[derive(Debug, Clone, Copy)]
pub struct ListLag(pub Duration);

mod millis {
    //! Durations as whole milliseconds in the control API's JSON.
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The fault table and its generator.
pub(crate) struct FaultTable {
    global: Option<FaultSpec>,
    routes: HashMap<(String, String), FaultSpec>,
    rng: StdRng,
}

impl FaultTable {
    pub(crate) fn new(seed: u64) -> Self {
        // A distinct stream from the world's, so faults never shift FIDs or jitter.
        FaultTable {
            global: None,
            routes: HashMap::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xfa17_5eed_0000_0001),
        }
    }

    /// The spec for a request: its route's, else the global one.
    fn spec_for(&self, method: &str, route: &str) -> Option<FaultSpec> {
        self.routes
            .get(&(method.to_ascii_uppercase(), route.to_owned()))
            .or(self.global.as_ref())
            .cloned()
    }

    /// The longest `list_lag` configured: how long the world must remember changes.
    fn longest_list_lag(&self) -> Duration {
        self.routes
            .values()
            .chain(self.global.as_ref())
            .map(|spec| spec.list_lag)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// Sets and clears faults on a running simulator.
#[derive(Clone)]
pub struct FaultsHandle {
    pub(crate) sim: Sim,
}

impl FaultsHandle {
    /// Faults for one route, e.g. `("POST", "/v2/spot/bids")`; they take precedence over global ones.
    pub fn set_route(&self, method: &str, route: &str, spec: FaultSpec) {
        self.change(|table| {
            table
                .routes
                .insert((method.to_ascii_uppercase(), route.to_owned()), spec);
        });
    }

    /// Faults for every API route without its own.
    pub fn set_all(&self, spec: FaultSpec) {
        self.change(|table| table.global = Some(spec));
    }

    pub fn clear_route(&self, method: &str, route: &str) {
        self.change(|table| {
            table
                .routes
                .remove(&(method.to_ascii_uppercase(), route.to_owned()));
        });
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.change(|table| {
            table.global = None;
            table.routes.clear();
        });
    }

    /// Changes the table, then tells the world how long to remember changes for lagging lists
    /// (one lock at a time: requests take the fault table, then the world).
    fn change(&self, edit: impl FnOnce(&mut FaultTable)) {
        let window = self.sim.with_faults(|table| {
            edit(table);
            table.longest_list_lag()
        });
        self.sim.world().set_change_window(window);
    }
}

/// Marks a response whose connection is to be dropped (the counters record it so).
#[derive(Debug, Clone, Copy)]
pub struct Dropped;

enum Decision {
    Pass,
    Drop,
    Error,
    Throttle(Duration),
    DropAfter,
    ErrorAfter,
    LateCommit(Duration),
}

/// Largest request body a late commit keeps (axum's own default limit is 2 MiB).
const LATE_COMMIT_BODY_LIMIT: usize = 16 << 20;

/// Applies the faults of the request's route before it reaches the handler.
pub async fn inject_faults(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let Some(route) = route else {
        return next.run(request).await;
    };
    let write = matches!(method.as_str(), "POST" | "PATCH" | "DELETE");
    let (latency, lag, decision) = sim.with_faults(|table| {
        let Some(spec) = table.spec_for(&method, &route) else {
            return (Duration::ZERO, Duration::ZERO, Decision::Pass);
        };
        let draw: f64 = table.rng.random();
        let bands = [
            spec.drop,
            spec.error_5xx,
            spec.throttle_429,
            spec.drop_after,
            spec.error_5xx_after,
            if write { spec.late_commit } else { 0.0 },
        ];
        let mut bound = 0.0;
        let band = bands.iter().position(|share| {
            bound += share;
            draw < bound
        });
        let decision = match band {
            Some(0) => Decision::Drop,
            Some(1) => Decision::Error,
            Some(2) => Decision::Throttle(spec.retry_after),
            Some(3) => Decision::DropAfter,
            Some(4) => Decision::ErrorAfter,
            Some(5) => Decision::LateCommit(spec.late_commit_delay),
            _ => Decision::Pass,
        };
        (spec.latency, spec.list_lag, decision)
    });
    let mut request = request;
    if !lag.is_zero() {
        request.extensions_mut().insert(ListLag(lag));
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match decision {
        Decision::Pass => next.run(request).await,
        Decision::Error => unavailable(),
        Decision::ErrorAfter => {
            next.run(request).await;
            unavailable()
        }
        Decision::DropAfter => {
            next.run(request).await;
            dropped_response()
        }
        Decision::Throttle(retry_after) => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "detail": "Too Many Requests" })),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Decision::Drop => dropped_response(),
        Decision::LateCommit(delay) => {
            // Read the whole request before the connection goes, then carry it out later in a
            // task of its own, which outlives the client.
            let (parts, body) = request.into_parts();
            if let Ok(bytes) = axum::body::to_bytes(body, LATE_COMMIT_BODY_LIMIT).await {
                let deferred = Request::from_parts(parts, Body::from(bytes));
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    next.run(deferred).await;
                });
            }
            dropped_response()
        }
    }
}

/// The 503 of an injected server error.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "detail": "Service Unavailable" })),
    )
        .into_response()
}

/// A response whose body fails at once: the server aborts the connection before the answer is
/// complete, which a client sees as a transport error.
fn dropped_response() -> Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected drop",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response.extensions_mut().insert(Dropped);
    response
}
