//! The one error type of the Mithril client.
//!
//! Every variant that comes from a call names the endpoint (method and path template) and, when
//! Mithril said something, its `detail`. Nothing here ever holds the API key.

use std::time::Duration;

use http::Method;

use super::endpoint::Endpoint;
use super::models::errors::{ErrorDetail, ValidationIssue};

/// How a request failed before an HTTP status came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// No response within the configured timeout.
    Timeout,
    /// The connection could not be established: the request never left.
    Connect,
    /// The connection broke while sending or receiving.
    Other,
}

impl TransportErrorKind {
    /// A short label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Other => "transport",
        }
    }

    pub(crate) fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            TransportErrorKind::Timeout
        } else if error.is_connect() {
            TransportErrorKind::Connect
        } else {
            TransportErrorKind::Other
        }
    }
}

/// Errors from the Mithril client.
#[derive(Debug, thiserror::Error)]
pub enum MithrilError {
    /// 401 or 403: the API key is missing, wrong, revoked or lacks access.
    #[error("{endpoint}: Mithril rejected the API key (HTTP {status}): {detail}")]
    Unauthorized {
        endpoint: Endpoint,
        status: u16,
        detail: ErrorDetail,
    },

    /// 404.
    #[error("{endpoint}: not found: {detail}")]
    NotFound {
        endpoint: Endpoint,
        detail: ErrorDetail,
    },

    /// 409: the object is not in a state that allows the operation (yet).
    #[error("{endpoint}: conflict: {detail}")]
    Conflict {
        endpoint: Endpoint,
        detail: ErrorDetail,
    },

    /// 422: Mithril rejected the request's content; `detail` lists each problem.
    #[error("{endpoint}: request rejected as invalid: {detail}")]
    Validation {
        endpoint: Endpoint,
        detail: ErrorDetail,
    },

    /// 501: the operation is not supported for this object (e.g. pausing spot instances).
    #[error("{endpoint}: not supported by Mithril: {detail}")]
    NotImplemented {
        endpoint: Endpoint,
        detail: ErrorDetail,
    },

    /// 429 after all retries, or with a `Retry-After` longer than the client waits by itself.
    #[error("{endpoint}: rate limited by Mithril after {attempts} attempt(s){}: {detail}", retry_after_text(.retry_after))]
    RateLimited {
        endpoint: Endpoint,
        attempts: u32,
        retry_after: Option<Duration>,
        detail: ErrorDetail,
    },

    /// 5xx (other than 501), after retries when the method allows them.
    #[error("{endpoint}: Mithril server error HTTP {status} after {attempts} attempt(s): {detail}")]
    Server {
        endpoint: Endpoint,
        status: u16,
        attempts: u32,
        detail: ErrorDetail,
    },

    /// Any other non-success status (e.g. 400).
    #[error("{endpoint}: unexpected HTTP {status}: {detail}")]
    UnexpectedStatus {
        endpoint: Endpoint,
        status: u16,
        detail: ErrorDetail,
    },

    /// No HTTP status: timeout, refused or dropped connection.
    #[error("{endpoint}: {} after {attempts} attempt(s): {source}", .kind.as_str())]
    Transport {
        endpoint: Endpoint,
        kind: TransportErrorKind,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// A success status with a body that does not match the API's schema.
    #[error("{endpoint}: could not decode the HTTP {status} response: {message}")]
    Decode {
        endpoint: Endpoint,
        status: u16,
        message: String,
    },

    /// The server handed back a pagination cursor it had already given: following it would loop.
    #[error("{endpoint}: pagination cursor {cursor:?} repeated; stopping to avoid an endless loop")]
    RepeatedCursor { endpoint: Endpoint, cursor: String },

    /// The call was refused before sending because an argument is invalid.
    #[error("{endpoint}: invalid argument: {message}")]
    InvalidArgument { endpoint: Endpoint, message: String },

    /// A name matched more than one object, so it cannot identify one.
    #[error("{endpoint}: {kind} name {name:?} is ambiguous: it matches {}", .fids.join(", "))]
    AmbiguousName {
        endpoint: Endpoint,
        kind: &'static str,
        name: String,
        fids: Vec<String>,
    },

    /// A write refused before sending: this replica does not (or no longer surely) lead.
    #[error("{endpoint}: not sent: this replica is not the leader")]
    Fenced { endpoint: Endpoint },

    /// The client configuration is unusable.
    #[error("invalid Mithril client configuration: {0}")]
    Config(String),
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(" (Retry-After {}s)", delay.as_secs_f64()),
        None => String::new(),
    }
}

impl MithrilError {
    /// The endpoint the error came from (none for configuration errors).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            MithrilError::Unauthorized { endpoint, .. }
            | MithrilError::NotFound { endpoint, .. }
            | MithrilError::Conflict { endpoint, .. }
            | MithrilError::Validation { endpoint, .. }
            | MithrilError::NotImplemented { endpoint, .. }
            | MithrilError::RateLimited { endpoint, .. }
            | MithrilError::Server { endpoint, .. }
            | MithrilError::UnexpectedStatus { endpoint, .. }
            | MithrilError::Transport { endpoint, .. }
            | MithrilError::Decode { endpoint, .. }
            | MithrilError::RepeatedCursor { endpoint, .. }
            | MithrilError::InvalidArgument { endpoint, .. }
            | MithrilError::AmbiguousName { endpoint, .. }
            | MithrilError::Fenced { endpoint } => Some(endpoint),
            MithrilError::Config(_) => None,
        }
    }

    /// The HTTP status Mithril answered with, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            MithrilError::Unauthorized { status, .. }
            | MithrilError::Server { status, .. }
            | MithrilError::UnexpectedStatus { status, .. }
            | MithrilError::Decode { status, .. } => Some(*status),
            MithrilError::NotFound { .. } => Some(404),
            MithrilError::Conflict { .. } => Some(409),
            MithrilError::Validation { .. } => Some(422),
            MithrilError::NotImplemented { .. } => Some(501),
            MithrilError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// What Mithril said, if it answered with an error body.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            MithrilError::Unauthorized { detail, .. }
            | MithrilError::NotFound { detail, .. }
            | MithrilError::Conflict { detail, .. }
            | MithrilError::Validation { detail, .. }
            | MithrilError::NotImplemented { detail, .. }
            | MithrilError::RateLimited { detail, .. }
            | MithrilError::Server { detail, .. }
            | MithrilError::UnexpectedStatus { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// The FastAPI validation issues of a 422 (empty otherwise).
    pub fn validation_issues(&self) -> &[ValidationIssue] {
        match self {
            MithrilError::Validation { detail, .. } => detail.validation_issues(),
            _ => &[],
        }
    }

    /// True when trying again later may succeed without changing anything: rate limiting, server
    /// errors, transport failures, and 409 (Mithril uses it for "not ready for this yet").
    /// Controllers requeue with backoff on these and surface the rest as a condition.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MithrilError::RateLimited { .. }
                | MithrilError::Server { .. }
                | MithrilError::Transport { .. }
                | MithrilError::Conflict { .. }
        )
    }

    /// True for a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MithrilError::NotFound { .. })
    }

    /// True for 401/403: retrying will not help until the key is fixed.
    pub fn is_auth(&self) -> bool {
        matches!(self, MithrilError::Unauthorized { .. })
    }

    /// True when a POST or PATCH may have been applied even though it failed: a timeout or dropped
    /// connection after the request could have been sent, a 5xx, or a success whose body could
    /// not be read. The caller must look the object up (e.g. the bid by name) before writing again.
    /// A refused connection is not ambiguous: the request never left.
    pub fn is_ambiguous_write(&self) -> bool {
        let Some(endpoint) = self.endpoint() else {
            return false;
        };
        if endpoint.method != Method::POST && endpoint.method != Method::PATCH {
            return false;
        }
        match self {
            MithrilError::Server { .. } | MithrilError::Decode { .. } => true,
            MithrilError::Transport { kind, .. } => *kind != TransportErrorKind::Connect,
            _ => false,
        }
    }

    /// For rate limiting: how long Mithril asked to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MithrilError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
