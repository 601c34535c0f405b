//! What every request handler shares: the state behind one lock, faults, the request log and
//! the options.

use super::faults::Faults;
use super::request_log::RequestLog;
use super::state::State;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Tuning knobs; the defaults suit tests and the demo.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Change events kept for watch resumption and consistent paging; older resourceVersions get 410.
    pub history_limit: usize,
    /// Events buffered per watcher; a watcher further behind is closed (its client resumes).
    pub watcher_buffer: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Requests kept in the request log.
    pub request_log_capacity: usize,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            history_limit: 50_000,
            watcher_buffer: 16_384,
            bookmark_interval: Duration::from_secs(5),
            request_log_capacity: 100_000,
        }
    }
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub faults: Faults,
    pub log: RequestLog,
    pub options: EmulatorOptions,
}

impl Shared {
    /// The state lock. Never held across an await; a panic while holding it leaves consistent data
    /// (every write is applied in one step at its end), so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
