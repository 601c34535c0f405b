//! Client-side rate limiting shared by every clone of a client.
//!
//! A thousand resources reconciling at once must not flood Mithril. The limiter is a token bucket
//! written as GCRA (a "theoretical arrival time" per slot), which needs no background refill task
//! and hands out slots first-come first-served: each caller reserves the next slot and sleeps until
//! it, so waiting callers never stampede when tokens come back.
//!
//! A 429 from Mithril pauses the limiter for everyone until `Retry-After` has passed; the bucket
//! restarts empty so traffic resumes at the steady rate rather than in a burst.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::Clock;

/// Rate limit settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (must be finite and > 0).
    pub per_second: f64,
    /// Requests that may go at once after a quiet period (≥ 1).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 10 requests per second with bursts of 20: well under what a single API key should need.
    fn default() -> Self {
        RateLimit {
            per_second: 10.0,
            burst: 20,
        }
    }
}

/// Invalid rate limit settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate limit per_second must be a finite number greater than zero, got {0}")]
    InvalidRate(f64),
    #[error("rate limit burst must be at least 1")]
    ZeroBurst,
}

/// The shared limiter. Cheap to share behind an `Arc`.
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    /// Time between two slots at the sustained rate.
    interval: Duration,
    /// How far ahead of the steady schedule a burst may run: `interval * (burst - 1)`.
    tolerance: Duration,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    /// The theoretical arrival time of the next slot on the steady schedule.
    next_slot: Duration,
    /// No request may start before this (set by a 429).
    paused_until: Duration,
}

impl RateLimiter {
    /// A limiter for `limit` on `clock`.
    pub fn new(limit: RateLimit, clock: Arc<dyn Clock>) -> Result<Self, RateLimitError> {
        if !(limit.per_second.is_finite() && limit.per_second > 0.0) {
            return Err(RateLimitError::InvalidRate(limit.per_second));
        }
        if limit.burst == 0 {
            return Err(RateLimitError::ZeroBurst);
        }
        let interval = Duration::from_secs_f64(1.0 / limit.per_second);
        let tolerance = interval.saturating_mul(limit.burst - 1);
        Ok(RateLimiter {
            clock,
            interval,
            tolerance,
            state: Mutex::new(LimiterState::default()),
        })
    }

    /// Waits until this caller may send one request.
    pub async fn acquire(&self) {
        loop {
            let wait = self.reserve();
            if wait.is_zero() {
                return;
            }
            self.clock.sleep(wait).await;
            // A 429 seen by someone else while we slept moves everyone behind the pause.
            if !self.is_paused() {
                return;
            }
        }
    }

    /// Stops all callers from starting a request for `duration` from now.
    pub fn pause_for(&self, duration: Duration) {
        let until = self.clock.now().saturating_add(duration);
        let mut state = self.lock();
        state.paused_until = state.paused_until.max(until);
        // Restart with an empty bucket: the first slot after the pause is `until`.
        state.next_slot = state.next_slot.max(until.saturating_add(self.tolerance));
    }

    /// Reserves the next slot and returns how long to wait for it (zero: go now).
    pub(crate) fn reserve(&self) -> Duration {
        let now = self.clock.now();
        let mut state = self.lock();
        let earliest = now.max(state.paused_until);
        state.next_slot = state.next_slot.max(earliest);
        let allowed_at = state.next_slot.saturating_sub(self.tolerance).max(earliest);
        state.next_slot = state.next_slot.saturating_add(self.interval);
        allowed_at.saturating_sub(now)
    }

    fn is_paused(&self) -> bool {
        self.clock.now() < self.lock().paused_until
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        // Plain data: a panic while holding the lock cannot leave it half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &self.interval)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limiter(per_second: f64, burst: u32) -> (Arc<ManualClock>, RateLimiter) {
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let limiter = RateLimiter::new(RateLimit { per_second, burst }, clock.clone()).unwrap();
        (clock, limiter)
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn burst_goes_at_once_then_steady_rate() {
        let (_clock, limiter) = limiter(10.0, 3);
        assert_eq!(limiter.reserve(), Duration::ZERO);
        assert_eq!(limiter.reserve(), Duration::ZERO);
        assert_eq!(limiter.reserve(), Duration::ZERO);
        assert_eq!(limiter.reserve(), MS(100));
        assert_eq!(limiter.reserve(), MS(200));
    }

    #[test]
    fn tokens_refill_with_time_up_to_burst() {
        let (clock, limiter) = limiter(10.0, 3);
        for _ in 0..3 {
            limiter.reserve();
        }
        clock.advance(MS(100));
        assert_eq!(
            limiter.reserve(),
            Duration::ZERO,
            "one token refilled after 100ms"
        );
        assert_eq!(limiter.reserve(), MS(100));
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(
                limiter.reserve(),
                Duration::ZERO,
                "a long quiet period refills only the burst"
            );
        }
        assert_eq!(limiter.reserve(), MS(100));
    }

    #[test]
    fn pause_blocks_everyone_and_restarts_with_an_empty_bucket() {
        let (clock, limiter) = limiter(10.0, 5);
        limiter.pause_for(Duration::from_secs(2));
        assert_eq!(limiter.reserve(), Duration::from_secs(2));
        assert_eq!(limiter.reserve(), Duration::from_secs(2) + MS(100));
        clock.advance(Duration::from_secs(3));
        // 3s: the pause ended at 2s, two slots were reserved, the bucket refills from there.
        assert_eq!(limiter.reserve(), Duration::ZERO);
    }

    #[test]
    fn shorter_pause_never_shortens_a_longer_one() {
        let (_clock, limiter) = limiter(100.0, 1);
        limiter.pause_for(Duration::from_secs(5));
        limiter.pause_for(Duration::from_secs(1));
        assert_eq!(limiter.reserve(), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn acquire_waits_for_its_slot() {
        let (clock, limiter) = limiter(4.0, 1);
        limiter.acquire().await;
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(clock.sleeps(), vec![MS(250), MS(250)]);
    }

    #[test]
    fn rejects_bad_settings() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                RateLimiter::new(
                    RateLimit {
                        per_second: rate,
                        burst: 1
                    },
                    clock.clone()
                )
                .is_err()
            );
        }
        assert_eq!(
            RateLimiter::new(
                RateLimit {
                    per_second: 1.0,
                    burst: 0
                },
                clock
            )
            .err(),
            Some(RateLimitError::ZeroBurst)
        );
    }
}
