//! Time as the client sees it: injectable so rate limiting and backoff are testable without
//! sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The time source for rate limiting, backoff, latency and `Retry-After` dates.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time since an arbitrary origin fixed at the clock's creation.
    fn now(&self) -> Duration;
    /// Wall-clock time, used only to turn a `Retry-After` HTTP date into a delay.
    fn wall_time(&self) -> Timestamp;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The production clock: tokio's timer (so `#[tokio::test(start_paused = true)]` also works) and
/// the system wall clock.
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl fmt::Debug for TokioClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokioClock")
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall_time(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock driven by the caller, for deterministic tests: time moves only through
/// [`ManualClock::advance`] or a `sleep`, which advances time by the requested amount at once and
/// records it (so a test can assert which waits the client chose without waiting).
pub struct ManualClock {
    state: Mutex<ManualState>,
    wall_origin: Timestamp,
}

#[derive(Default)]
struct ManualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock at monotonic zero whose wall time starts at `wall_origin`.
    pub fn new(wall_origin: Timestamp) -> Self {
        ManualClock {
            state: Mutex::new(ManualState::default()),
            wall_origin,
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.lock().now += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // The state is plain data; a panic elsewhere cannot leave it inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.lock().now)
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }

    fn wall_time(&self) -> Timestamp {
        let now = self.now();
        self.wall_origin
            .checked_add(jiff::SignedDuration::try_from(now).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        {
            let mut state = self.lock();
            state.now += duration;
            state.sleeps.push(duration);
        }
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_sleep_advances_and_records() {
        let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
        clock.advance(Duration::from_secs(1));
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(clock.now(), Duration::from_millis(1500));
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(500)]);
        assert_eq!(clock.wall_time().to_string(), "2026-01-01T00:00:01.5Z");
    }
}
