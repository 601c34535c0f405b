//! When and how long to wait before trying a request again.
//!
//! The rules follow Mithril's own SDK:
//! - 429 is retried on every method: the server refused the request without acting on it. The
//!   wait honours `Retry-After` (delta-seconds or an HTTP date).
//! - 5xx (except 501) and transport failures (timeouts, refused or dropped connections) are
//!   retried only on GET and DELETE, which are idempotent. A POST or PATCH that timed out or got a
//!   5xx may have been applied: re-sending it blindly could place a second bid, so the caller
//!   decides (see [`MithrilError::is_ambiguous_write`](super::MithrilError::is_ambiguous_write)).

use std::time::Duration;

use http::Method;
use jiff::Timestamp;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per call, including the first (1 disables retries).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles on each further retry.
    pub base_delay: Duration,
    /// Upper bound of any computed backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits out by itself. A longer one ends the call with
    /// [`MithrilError::RateLimited`](super::MithrilError::RateLimited) carrying the delay, so a
    /// controller can requeue instead of holding a worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff before retry number `retry` (0 for the first retry), with "equal jitter":
    /// a uniformly random delay in `[ceiling / 2, ceiling]` where
    /// `ceiling = min(max_delay, base_delay * 2^retry)`. Half the delay is fixed so retries always
    /// back off; the random half spreads clients that failed together.
    ///
    /// `unit` is the random draw in `[0, 1)`; the client passes `rand::random()`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        let ceiling = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let half = ceiling / 2;
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + (ceiling - half).mul_f64(unit)
    }

    /// A backoff with a fresh random draw.
    pub fn jittered_backoff(&self, retry: u32) -> Duration {
        self.backoff(retry, rand::random::<f64>())
    }
}

/// Whether a method may be re-sent after a failure that might have reached the server.
pub fn is_idempotent(method: &Method) -> bool {
    *method == Method::GET || *method == Method::DELETE
}

/// Whether a status may be retried for this method (429 always; 5xx except 501 only when
/// idempotent).
pub fn is_retryable_status(method: &Method, status: u16) -> bool {
    match status {
        429 => true,
        501 => false,
        500..=599 => is_idempotent(method),
        _ => false,
    }
}

/// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `now`. A date in the past means "now".
/// Returns `None` for anything unparseable, so the caller falls back to its own backoff.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than fail: they still mean "much later".
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(value).ok()?;
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2015-10-21T07:27:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        for value in ["", "soon", "-5", "1.5", "Wed, 99 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(60),
        };
        for retry in 0..40 {
            let ceiling = (Duration::from_millis(100) * 2u32.saturating_pow(retry.min(20)))
                .min(Duration::from_secs(2));
            for unit in [0.0, 0.25, 0.5, 0.999_999, 1.0, f64::NAN, -3.0, 7.0] {
                let delay = policy.backoff(retry, unit);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "retry {retry} unit {unit}: {delay:?}"
                );
            }
            for _ in 0..20 {
                let delay = policy.jittered_backoff(retry);
                assert!(delay >= ceiling / 2 && delay <= ceiling);
            }
        }
        assert_eq!(policy.backoff(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy.backoff(0, 1.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_millis(800));
        assert_eq!(policy.backoff(30, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn retry_rules_by_method() {
        for method in [Method::GET, Method::DELETE, Method::POST, Method::PATCH] {
            assert!(is_retryable_status(&method, 429), "{method}");
            assert!(!is_retryable_status(&method, 501), "{method}");
            assert!(!is_retryable_status(&method, 404), "{method}");
            assert!(!is_retryable_status(&method, 409), "{method}");
            assert_eq!(
                is_retryable_status(&method, 503),
                is_idempotent(&method),
                "{method}"
            );
            assert_eq!(
                is_retryable_status(&method, 500),
                is_idempotent(&method),
                "{method}"
            );
        }
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
