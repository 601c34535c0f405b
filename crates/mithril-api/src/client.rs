//! The client: configuration, authentication and the one send loop every endpoint goes through
//! (rate limit → request → observe → retry or map the error).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use super::api_key::ApiKey;
use super::clock::{Clock, TokioClock};
use super::endpoint::Endpoint;
use super::error::{MithrilError, TransportErrorKind};
use super::models::common::QueryPairs;
use super::models::errors::ErrorDetail;
use super::observer::{AttemptOutcome, AttemptReport, RequestObserver};
use super::rate_limit::{RateLimit, RateLimiter};
use super::retry::{RetryPolicy, is_idempotent, is_retryable_status, parse_retry_after};

/// Mithril's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.mithril.ai";

/// The header carrying the caller's idempotency key on bid creation.
pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// Everything needed to talk to Mithril.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API root, e.g. `https://api.mithril.ai` (a path prefix is kept: `http://proxy/mithril/`).
    pub base_url: Url,
    /// The API key; never logged.
    pub api_key: ApiKey,
    /// Client-side rate limit shared by all clones of the client.
    pub rate_limit: RateLimit,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// Per-attempt timeout, from sending the request to reading the whole body.
    pub timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl ClientConfig {
    /// A configuration with default limits for `base_url` and `api_key`.
    pub fn new(base_url: Url, api_key: ApiKey) -> Self {
        ClientConfig {
            base_url,
            api_key,
            rate_limit: RateLimit::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            user_agent: concat!("mithril-operator/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Says until when this process may write to Mithril: only the leader may, and only while its
/// lease surely holds.
pub trait WriteFence: Send + Sync {
    /// `None`: no write may be sent now. Otherwise a write must be answered before this instant
    /// (its attempt's timeout is cut to it).
    fn write_deadline(&self) -> Option<tokio::time::Instant>;
}

/// Optional collaborators of a client.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Called once per HTTP attempt (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Time source for rate limiting and backoff; tokio's timer when absent.
    pub clock: Option<Arc<dyn Clock>>,
    /// Asked before every attempt of a write (POST, PATCH, DELETE); writes are free without one.
    pub fence: Option<Arc<dyn WriteFence>>,
}

impl ClientOptions {
    /// Sets the per-attempt observer.
    pub fn observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets the write fence.
    pub fn fence(mut self, fence: Arc<dyn WriteFence>) -> Self {
        self.fence = Some(fence);
        self
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("observer", &self.observer.is_some())
            .field("clock", &self.clock.is_some())
            .field("fence", &self.fence.is_some())
            .finish()
    }
}

/// The typed Mithril API client. Cheap to clone; clones share the connection pool and the rate
/// limiter.
#[derive(Clone)]
pub struct MithrilClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    authorization: HeaderValue,
    retry: RetryPolicy,
    rate_limit: RateLimit,
    timeout: Duration,
    user_agent: String,
    limiter: RateLimiter,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn RequestObserver>>,
    fence: Option<Arc<dyn WriteFence>>,
}

impl fmt::Debug for MithrilClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("MithrilClient")
            .field("base_url", &inner.base_url.as_str())
            .field("api_key", &"<redacted>")
            .field("rate_limit", &inner.rate_limit)
            .field("retry", &inner.retry)
            .field("timeout", &inner.timeout)
            .field("user_agent", &inner.user_agent)
            .field("observer", &inner.observer.is_some())
            .finish()
    }
}

/// One logical API call, before retries.
pub(crate) struct Call<'a> {
    pub endpoint: Endpoint,
    /// Values for the `{...}` placeholders of the path template, in order.
    pub path_params: &'a [&'a str],
    pub query: QueryPairs,
    /// JSON body.
    pub body: Option<Bytes>,
    pub idempotency_key: Option<HeaderValue>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Call {
            endpoint,
            path_params: &[],
            query: QueryPairs::new(),
            body: None,
            idempotency_key: None,
        }
    }

    pub(crate) fn path(mut self, params: &'a [&'a str]) -> Self {
        self.path_params = params;
        self
    }

    pub(crate) fn query(mut self, query: QueryPairs) -> Self {
        self.query = query;
        self
    }

    pub(crate) fn json(mut self, body: &impl serde::Serialize) -> Result<Self, MithrilError> {
        let bytes = serde_json::to_vec(body).map_err(|error| MithrilError::InvalidArgument {
            endpoint: self.endpoint.clone(),
            message: format!("request body cannot be encoded: {error}"),
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }
}

impl MithrilClient {
    /// A client with the default clock and no observer.
    pub fn new(config: ClientConfig) -> Result<Self, MithrilError> {
        MithrilClient::with_options(config, ClientOptions::default())
    }

    /// A client with an observer and/or an injected clock.
    pub fn with_options(
        config: ClientConfig,
        options: ClientOptions,
    ) -> Result<Self, MithrilError> {
        let base_url = config.base_url;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(MithrilError::Config(format!(
                "base_url {base_url} must be an http(s) URL"
            )));
        }
        if config.timeout.is_zero() {
            return Err(MithrilError::Config(
                "timeout must be greater than zero".to_owned(),
            ));
        }
        if config.retry.max_attempts == 0 {
            return Err(MithrilError::Config(
                "retry.max_attempts must be at least 1".to_owned(),
            ));
        }
        let clock = options.clock.unwrap_or_else(|| Arc::new(TokioClock::new()));
        let limiter = RateLimiter::new(config.rate_limit, clock.clone())
            .map_err(|error| MithrilError::Config(error.to_string()))?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|error| MithrilError::Config(format!("HTTP client: {error}")))?;
        Ok(MithrilClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                authorization: config.api_key.authorization_header(),
                retry: config.retry,
                rate_limit: config.rate_limit,
                timeout: config.timeout,
                user_agent: config.user_agent,
                limiter,
                clock,
                observer: options.observer,
                fence: options.fence,
            }),
        })
    }

    /// Sends a call and decodes a JSON success body.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, MithrilError> {
        let endpoint = call.endpoint.clone();
        let (status, body) = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|error| MithrilError::Decode {
            endpoint,
            status,
            message: error.to_string(),
        })
    }

    /// Sends a call whose success has no body worth reading.
    pub(crate) async fn call_empty(&self, call: Call<'_>) -> Result<(), MithrilError> {
        self.send(call).await.map(|_| ())
    }

    /// Parses a caller-supplied idempotency key into a header value.
    pub(crate) fn idempotency_header(
        endpoint: &Endpoint,
        key: &str,
    ) -> Result<HeaderValue, MithrilError> {
        let invalid = |message: &str| MithrilError::InvalidArgument {
            endpoint: endpoint.clone(),
            message: message.to_owned(),
        };
        if key.is_empty() {
            return Err(invalid("idempotency key is empty"));
        }
        HeaderValue::from_str(key)
            .map_err(|_| invalid("idempotency key is not a valid header value"))
    }

    /// The request URL: base URL + rendered path template + query.
    fn url(&self, call: &Call<'_>) -> Result<Url, MithrilError> {
        let endpoint = &call.endpoint;
        let invalid = |message: String| MithrilError::InvalidArgument {
            endpoint: endpoint.clone(),
            message,
        };
        let mut url = self.inner.base_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| invalid("base URL cannot carry a path".to_owned()))?;
            segments.pop_if_empty();
            let mut params = call.path_params.iter();
            for part in endpoint.path.split('/').filter(|part| !part.is_empty()) {
                if part.starts_with('{') {
                    let value = params
                        .next()
                        .ok_or_else(|| invalid(format!("missing value for {part}")))?;
                    if value.is_empty() || *value == "." || *value == ".." {
                        return Err(invalid(format!(
                            "{part} {value:?} is not a valid identifier"
                        )));
                    }
                    segments.push(value);
                } else {
                    segments.push(part);
                }
            }
        }
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter());
        }
        Ok(url)
    }

    /// The send loop: every attempt waits for the shared rate limiter, is reported to the
    /// observer, and is retried only as [`super::retry`] allows.
    async fn send(&self, call: Call<'_>) -> Result<(u16, Bytes), MithrilError> {
        let url = self.url(&call)?;
        let span = tracing::debug_span!("mithril_request", method = %call.endpoint.method, path = call.endpoint.path);
        async move {
            let endpoint = &call.endpoint;
            let inner = &self.inner;
            let policy = inner.retry;
            let mut retry: u32 = 0;
            loop {
                inner.limiter.acquire().await;
                // Asked after the rate limiter's wait, right before sending: leadership may have
                // gone meanwhile.
                let timeout = self.write_timeout(endpoint)?;
                let started = inner.clock.now();
                let result = self.attempt(&url, &call, timeout).await;
                let latency = inner.clock.now().saturating_sub(started);
                let outcome = match &result {
                    Ok((status, _, _)) => AttemptOutcome::Status(status.as_u16()),
                    Err(error) => AttemptOutcome::Error(TransportErrorKind::of(error)),
                };
                self.report(endpoint, outcome, latency, retry);
                let attempts = retry + 1;
                let attempts_left = attempts < policy.max_attempts;
                match result {
                    Ok((status, _, body)) if status.is_success() => {
                        return Ok((status.as_u16(), body));
                    }
                    Ok((status, headers, body)) => {
                        let code = status.as_u16();
                        let retry_after = self.retry_after(&headers);
                        let within_cap =
                            retry_after.is_none_or(|delay| delay <= policy.max_retry_after);
                        if code == 429 {
                            // Everyone backs off, not only this caller; never longer than the cap,
                            // so a huge Retry-After cannot park every worker for hours.
                            let pause =
                                retry_after.unwrap_or_else(|| policy.jittered_backoff(retry));
                            inner.limiter.pause_for(pause.min(policy.max_retry_after));
                        }
                        if attempts_left
                            && within_cap
                            && is_retryable_status(&endpoint.method, code)
                        {
                            if code != 429 {
                                let wait =
                                    retry_after.unwrap_or_else(|| policy.jittered_backoff(retry));
                                inner.clock.sleep(wait).await;
                            }
                            retry += 1;
                            continue;
                        }
                        return Err(status_error(endpoint, code, attempts, retry_after, &body));
                    }
                    Err(error) => {
                        let kind = TransportErrorKind::of(&error);
                        if attempts_left && is_idempotent(&endpoint.method) {
                            inner.clock.sleep(policy.jittered_backoff(retry)).await;
                            retry += 1;
                            continue;
                        }
                        return Err(MithrilError::Transport {
                            endpoint: endpoint.clone(),
                            kind,
                            attempts,
                            source: error,
                        });
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// For a write under a fence: the attempt's timeout, cut to the fence's deadline, or
    /// `Fenced` when no write may be sent. `None`: the client's own timeout.
    fn write_timeout(&self, endpoint: &Endpoint) -> Result<Option<Duration>, MithrilError> {
        let Some(fence) = &self.inner.fence else {
            return Ok(None);
        };
        if endpoint.method == http::Method::GET || endpoint.method == http::Method::HEAD {
            return Ok(None);
        }
        let fenced = || MithrilError::Fenced {
            endpoint: endpoint.clone(),
        };
        let deadline = fence.write_deadline().ok_or_else(fenced)?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(fenced());
        }
        Ok(Some(left.min(self.inner.timeout)))
    }

    /// One HTTP exchange, reading the whole body.
    async fn attempt(
        &self,
        url: &Url,
        call: &Call<'_>,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(call.endpoint.method.clone(), url.clone())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key.clone());
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok((status, headers, body))
    }

    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value, self.inner.clock.wall_time())
    }

    fn report(&self, endpoint: &Endpoint, outcome: AttemptOutcome, latency: Duration, retry: u32) {
        match outcome {
            AttemptOutcome::Status(status) => {
                tracing::debug!(
                    status,
                    latency_ms = latency.as_millis() as u64,
                    retry,
                    "mithril response"
                )
            }
            AttemptOutcome::Error(kind) => {
                tracing::debug!(
                    error = kind.as_str(),
                    latency_ms = latency.as_millis() as u64,
                    retry,
                    "mithril request failed"
                )
            }
        }
        if let Some(observer) = &self.inner.observer {
            observer.on_attempt(&AttemptReport {
                method: &endpoint.method,
                path_template: endpoint.path,
                outcome,
                latency,
                retry,
            });
        }
    }
}

/// Maps a final non-success status to its error.
fn status_error(
    endpoint: &Endpoint,
    status: u16,
    attempts: u32,
    retry_after: Option<Duration>,
    body: &[u8],
) -> MithrilError {
    let endpoint = endpoint.clone();
    let detail = ErrorDetail::from_body(body);
    match status {
        401 | 403 => MithrilError::Unauthorized {
            endpoint,
            status,
            detail,
        },
        404 => MithrilError::NotFound { endpoint, detail },
        409 => MithrilError::Conflict { endpoint, detail },
        422 => MithrilError::Validation { endpoint, detail },
        429 => MithrilError::RateLimited {
            endpoint,
            attempts,
            retry_after,
            detail,
        },
        501 => MithrilError::NotImplemented { endpoint, detail },
        500..=599 => MithrilError::Server {
            endpoint,
            status,
            attempts,
            detail,
        },
        _ => MithrilError::UnexpectedStatus {
            endpoint,
            status,
            detail,
        },
    }
}
