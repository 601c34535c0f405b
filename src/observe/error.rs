//! Errors of the observers and their registry.

use mithril_api::MithrilError;

/// Why an observation cycle or a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// Mithril rejected the API key (401/403): nothing works until the key is fixed.
    #[error("Mithril rejected the API key: {0}")]
    Unauthorized(#[source] MithrilError),

    /// Any other failure talking to Mithril (server errors, rate limiting, transport, decoding).
    #[error("Mithril request failed: {0}")]
    Mithril(#[source] MithrilError),

    /// A Mithril client could not be built for a key (bad base URL, invalid limits).
    #[error("cannot build a Mithril client: {0}")]
    Client(#[source] MithrilError),

    /// The registry is shutting down and starts no more observers.
    #[error("the observer registry is shut down")]
    ShutDown,

    /// A background observer was asked for outside a Tokio runtime.
    #[error("background observers need a Tokio runtime")]
    NoRuntime,
}

impl ObserveError {
    /// True when the key was rejected; callers surface it as a condition and stop retrying hard.
    pub fn is_auth(&self) -> bool {
        matches!(self, ObserveError::Unauthorized(_))
    }

    /// True when the named project or instance type does not exist (for this key).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ObserveError::Mithril(error) if error.is_not_found())
    }

    /// The Mithril error underneath, if any.
    pub fn mithril(&self) -> Option<&MithrilError> {
        match self {
            ObserveError::Unauthorized(error)
            | ObserveError::Mithril(error)
            | ObserveError::Client(error) => Some(error),
            ObserveError::ShutDown | ObserveError::NoRuntime => None,
        }
    }
}

impl From<MithrilError> for ObserveError {
    fn from(error: MithrilError) -> Self {
        if error.is_auth() {
            ObserveError::Unauthorized(error)
        } else {
            ObserveError::Mithril(error)
        }
    }
}
