//! The HTTP API: Mithril's routes (authenticated, faults and counters applied) and `/_sim/`.
//!
//! Control routes (JSON; errors `400 {"detail": "..."}`):
//! - `GET /_sim/time` → `{"now"}`; `POST /_sim/advance {"seconds"}` → `{"now"}`
//! - `POST /_sim/demand {"region", "instance_type", "quantity", "limit_price": "$D.CC"}` → 201
//!   `{"bid_fid"}`; `DELETE /_sim/demand/{bid_fid}` → 204
//! - `PUT /_sim/capacity {"region", "instance_type", "capacity"}` → 204
//! - `PUT /_sim/faults {"method"?, "route"?, "spec": {...}}` → 204 (without method and route:
//!   every Mithril route); `DELETE /_sim/faults` → 204. Every spec field is optional (0 by
//!   default): shares in 0..=1 `"drop"`, `"error_5xx"`, `"throttle_429"`, `"drop_after"`,
//!   `"error_5xx_after"`, `"late_commit"` (writes only); milliseconds `"retry_after"`,
//!   `"latency"`, `"late_commit_delay"`, `"list_lag"`. See [`faults::FaultSpec`].
//! - `GET /_sim/counters` → `{"counters": [{"method", "route", "status", "dropped", "count"}]}`;
//!   `DELETE /_sim/counters` → 204

mod auth;
mod catalog;
mod control;
pub mod counters;
mod error;
pub mod faults;
mod instances;
mod middleware;
mod present;
mod spot;
mod validate;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};

use crate::Sim;

impl Sim {
    /// The whole HTTP API, `/_sim/` included.
    pub fn router(&self) -> Router {
        // Layers run outermost last-added: counters see every outcome, faults strike before
        // authentication (as a proxy or load balancer would), handlers see an authenticated caller.
        let mithril = Router::new()
            .route("/v2/spot/bids", get(spot::list_bids).post(spot::create_bid))
            .route(
                "/v2/spot/bids/{bid_fid}",
                get(spot::get_bid)
                    .delete(spot::cancel_bid)
                    .patch(spot::update_bid),
            )
            .route("/v2/spot/bids/{bid_fid}/status", get(spot::bid_status))
            .route("/v2/spot/bids/{bid_fid}/history", get(spot::bid_history))
            .route("/v2/spot/availability", get(spot::availability))
            .route(
                "/v2/instances",
                get(instances::list_instances).patch(instances::set_instances_status),
            )
            .route(
                "/v2/instances/{instance_fid}/status",
                get(instances::get_instance_status),
            )
            .route(
                "/v2/instances/status/history",
                get(instances::status_history),
            )
            .route(
                "/v2/instances/pricing/history",
                get(instances::pricing_history),
            )
            .route("/v2/projects", get(catalog::projects))
            .route("/v2/instance-types", get(catalog::instance_types))
            .route_layer(from_fn_with_state(self.clone(), auth::authenticate))
            .route_layer(from_fn_with_state(self.clone(), middleware::inject_faults))
            .route_layer(from_fn_with_state(self.clone(), middleware::count_requests));
        let control = Router::new()
            .route("/_sim/time", get(control::time))
            .route("/_sim/advance", post(control::advance))
            .route("/_sim/demand", post(control::add_demand))
            .route("/_sim/demand/{bid_fid}", delete(control::remove_demand))
            .route("/_sim/capacity", put(control::set_capacity))
            .route(
                "/_sim/faults",
                put(control::set_faults).delete(control::clear_faults),
            )
            .route(
                "/_sim/counters",
                get(control::counters).delete(control::reset_counters),
            );
        mithril
            .merge(control)
            .fallback(error::not_found)
            .method_not_allowed_fallback(error::method_not_allowed)
            .with_state(self.clone())
    }
}
