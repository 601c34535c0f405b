//! Handlers of the `/_sim/` control routes (listed in [`super`]); not part of Mithril.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

use super::counters::Outcome;
use super::faults::FaultSpec;
use crate::Sim;
use crate::money::parse_price;

fn bad_request(detail: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "detail": detail.to_string() })),
    )
        .into_response()
}

/// The body as `T`, or the 400 to answer with (boxed: a response is large beside a request).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|error| Box::new(bad_request(error)))
}

pub async fn time(State(sim): State<Sim>) -> Response {
    Json(json!({ "now": sim.now() })).into_response()
}

/// One request advances at most this far: every clearing in between runs, so a slip such as
/// 1e12 seconds would otherwise hold the world for hours.
const MAX_ADVANCE: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

pub async fn advance(State(sim): State<Sim>, body: Bytes) -> Response {
    let request: Advance = match parse(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let step = match Duration::try_from_secs_f64(request.seconds) {
        Ok(step) if step <= MAX_ADVANCE => step,
        _ => {
            return bad_request(format!(
                "seconds must be between 0 and {}",
                MAX_ADVANCE.as_secs()
            ));
        }
    };
    sim.advance(step);
    Json(json!({ "now": sim.now() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Demand {
    region: String,
    instance_type: String,
    quantity: u32,
    limit_price: String,
}

pub async fn add_demand(State(sim): State<Sim>, body: Bytes) -> Response {
    let request: Demand = match parse(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let Some(limit_cents) = parse_price(&request.limit_price) else {
        return bad_request("limit_price must look like \"$D.CC\"");
    };
    match sim.add_demand(
        &request.region,
        &request.instance_type,
        request.quantity,
        limit_cents,
    ) {
        Ok(bid_fid) => (StatusCode::CREATED, Json(json!({ "bid_fid": bid_fid }))).into_response(),
        Err(error) => bad_request(error),
    }
}

pub async fn remove_demand(State(sim): State<Sim>, Path(bid_fid): Path<String>) -> Response {
    match sim.remove_demand(&bid_fid) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => bad_request(error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Capacity {
    region: String,
    instance_type: String,
    capacity: u32,
}

pub async fn set_capacity(State(sim): State<Sim>, body: Bytes) -> Response {
    let request: Capacity = match parse(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match sim.set_capacity(&request.region, &request.instance_type, request.capacity) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => bad_request(error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    route: Option<String>,
    spec: FaultSpec,
}

pub async fn set_faults(State(sim): State<Sim>, body: Bytes) -> Response {
    let request: Faults = match parse(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match (request.method, request.route) {
        (Some(method), Some(route)) => sim.faults().set_route(&method, &route, request.spec),
        (None, None) => sim.faults().set_all(request.spec),
        _ => return bad_request("give both method and route, or neither"),
    }
    StatusCode::NO_CONTENT.into_response()
}

pub async fn clear_faults(State(sim): State<Sim>) -> Response {
    sim.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

pub async fn counters(State(sim): State<Sim>) -> Response {
    let counters: Vec<_> = sim
        .counters()
        .entries
        .into_iter()
        .map(|(key, count)| {
            let status = match key.outcome {
                Outcome::Status(status) => Some(status),
                Outcome::Dropped => None,
            };
            json!({
                "method": key.method,
                "route": key.route,
                "status": status,
                "dropped": key.outcome == Outcome::Dropped,
                "count": count,
            })
        })
        .collect();
    Json(json!({ "counters": counters })).into_response()
}

pub async fn reset_counters(State(sim): State<Sim>) -> Response {
    sim.reset_counters();
    StatusCode::NO_CONTENT.into_response()
}
