//! The middleware of the API routes: injected faults, then counting every request by outcome.

use super::counters::{CounterKey, Outcome, UNMATCHED_ROUTE};
use super::faults::{Dropped, ListLag};
use crate::Sim;
use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde_json::json;
use std::time::Duration;

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

/// Counts every request of the API routes by its final outcome (faults included).
pub async fn count_requests(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = next.run(request).await;
    let outcome = if response.extensions().get::<Dropped>().is_some() {
        Outcome::Dropped
    } else {
        Outcome::Status(response.status().as_u16())
    };
    sim.record(CounterKey {
        method,
        route,
        outcome,
    });
    response
}
