//! The controllers' one error type, and what each failure means for the resource.

use crate::crd::Reason;
use crate::observe::ObserveError;
use mithril_api::MithrilError;

/// A reconcile that could not finish. Transient failures are retried with per-object backoff.
/// What only the user can fix is a [`Problem`] in both controllers: lookups return it as
/// [`Error::Problem`], and the reconcile reports it as a condition ([`Error::into_problem`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Mithril(#[from] MithrilError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The user's problem (the spec or its Secret).
    #[error("{0}")]
    Problem(Problem),
}

impl Error {
    /// The failure's reason: bounded, for metrics ([`Reason::label`]) and events.
    pub fn reason(&self) -> Reason {
        match self {
            Error::Kube(_) => Reason::KubernetesApiError,
            Error::Mithril(error) => mithril_reason(error),
            Error::Observe(_) => Reason::MithrilUnavailable,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(error)
                | kube::runtime::finalizer::Error::CleanupFailed(error) => error.reason(),
                _ => Reason::KubernetesApiError,
            },
            Error::Problem(problem) => problem.reason,
        }
    }
}

impl Error {
    /// Splits off what only the user can fix: `Ok(problem)` to report on the resource,
    /// `Err(error)` to retry with backoff.
    pub fn into_problem(self) -> Result<Problem, Error> {
        match self {
            Error::Problem(problem) => Ok(problem),
            error => Err(error),
        }
    }
}

/// A failed lookup of a name the spec gives (project, instance type): a rejected key or an
/// unknown name is the user's to fix, an [`Error::Problem`] worded by `rejected_key` (given the
/// message) or `not_found`; anything else (Mithril down, rate limited) is an error to retry.
pub fn classify(
    error: ObserveError,
    rejected_key: impl FnOnce(String) -> Problem,
    not_found: impl FnOnce() -> Problem,
) -> Error {
    if error.is_auth() {
        Error::Problem(rejected_key(format!(
            "Mithril rejected the API key: {error}"
        )))
    } else if error.is_not_found() {
        Error::Problem(not_found())
    } else {
        error.into()
    }
}

/// The condition reason for a Mithril failure.
pub fn mithril_reason(error: &MithrilError) -> Reason {
    match error.status() {
        _ if error.is_auth() => Reason::InvalidApiKey,
        Some(404) => Reason::NotFound,
        Some(422) => Reason::RejectedByMithril,
        Some(429) => Reason::RateLimited,
        _ => Reason::MithrilUnavailable,
    }
}

/// Something wrong that retrying will not fix: it waits for the spec or its Secret to change
/// (re-checked slowly, so a fixed Secret is noticed without a spec edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The condition reason, e.g. [`Reason::ApiKeySecretNotFound`].
    pub reason: Reason,
    pub message: String,
}

impl Problem {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}
