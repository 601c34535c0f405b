//! The typed Mithril API client.
//!
//! [`MithrilClient`] covers the spot and instance endpoints plus projects and instance types.
//! Every call goes through one loop that applies the shared client-side rate limit, retries only
//! what is safe to retry (see [`retry`]), reports each attempt to an optional
//! [`RequestObserver`], and maps failures to a typed [`MithrilError`] naming the endpoint and
//! Mithril's `detail`. The API key lives in an [`ApiKey`] that never prints.

pub mod api_key;
pub mod clock;
pub mod endpoint;
pub mod error;
pub mod models;
pub mod observer;
pub mod paging;
pub mod price;
pub mod rate_limit;
pub mod retry;
pub mod timestamp;

mod api;
mod client;
mod wire_enum;

pub use api::resolve_name_or_fid;
pub use api_key::{ApiKey, ApiKeyError};
pub use client::{
    ClientConfig, ClientOptions, DEFAULT_BASE_URL, IDEMPOTENCY_KEY_HEADER, MithrilClient,
    WriteFence,
};
pub use clock::{Clock, ManualClock, TokioClock};
pub use endpoint::Endpoint;
pub use error::{MithrilError, TransportErrorKind};
pub use models::*;
pub use observer::{AttemptOutcome, AttemptReport, RequestObserver};
pub use paging::Page;
pub use price::{Price, PriceParseError, PriceProblem};
pub use rate_limit::{RateLimit, RateLimitError};
pub use retry::RetryPolicy;
