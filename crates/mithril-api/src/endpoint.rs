//! The Mithril endpoints this client calls, named by method and path template.
//!
//! Errors, traces and metrics carry the template (`/v2/spot/bids/{bid_fid}`), never the concrete
//! path, so label cardinality stays bounded and FIDs do not leak into metric names.

use std::fmt;

use http::Method;

/// One API operation: an HTTP method and a path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path template as in the OpenAPI document.
    pub path: &'static str,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const fn endpoint(method: Method, path: &'static str) -> Endpoint {
    Endpoint { method, path }
}

pub const LIST_BIDS: Endpoint = endpoint(Method::GET, "/v2/spot/bids");
pub const CREATE_BID: Endpoint = endpoint(Method::POST, "/v2/spot/bids");
pub const GET_BID: Endpoint = endpoint(Method::GET, "/v2/spot/bids/{bid_fid}");
pub const UPDATE_BID: Endpoint = endpoint(Method::PATCH, "/v2/spot/bids/{bid_fid}");
pub const CANCEL_BID: Endpoint = endpoint(Method::DELETE, "/v2/spot/bids/{bid_fid}");
pub const BID_STATUS: Endpoint = endpoint(Method::GET, "/v2/spot/bids/{bid_fid}/status");
pub const BID_HISTORY: Endpoint = endpoint(Method::GET, "/v2/spot/bids/{bid_fid}/history");
pub const SPOT_AVAILABILITY: Endpoint = endpoint(Method::GET, "/v2/spot/availability");
pub const LIST_INSTANCES: Endpoint = endpoint(Method::GET, "/v2/instances");
pub const PATCH_INSTANCES: Endpoint = endpoint(Method::PATCH, "/v2/instances");
pub const INSTANCE_STATUS: Endpoint = endpoint(Method::GET, "/v2/instances/{instance_fid}/status");
pub const INSTANCE_STATUS_HISTORY: Endpoint = endpoint(Method::GET, "/v2/instances/status/history");
pub const INSTANCE_PRICING_HISTORY: Endpoint =
    endpoint(Method::GET, "/v2/instances/pricing/history");
pub const LIST_PROJECTS: Endpoint = endpoint(Method::GET, "/v2/projects");
pub const LIST_INSTANCE_TYPES: Endpoint = endpoint(Method::GET, "/v2/instance-types");

/// Every endpoint, for exhaustive tests and metric pre-registration.
pub const ALL: &[Endpoint] = &[
    LIST_BIDS,
    CREATE_BID,
    GET_BID,
    UPDATE_BID,
    CANCEL_BID,
    BID_STATUS,
    BID_HISTORY,
    SPOT_AVAILABILITY,
    LIST_INSTANCES,
    PATCH_INSTANCES,
    INSTANCE_STATUS,
    INSTANCE_STATUS_HISTORY,
    INSTANCE_PRICING_HISTORY,
    LIST_PROJECTS,
    LIST_INSTANCE_TYPES,
];
