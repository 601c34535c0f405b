//! Controllers: per kind, a pure planner and a thin reconcile that observes, plans, acts and reports.
//!
//! Shared pieces: [`context`] (clients, observers, keys, events, metrics), [`error`] (the one
//! error type), [`backoff`] (per-object retry delays), [`api_keys`] (keys from Secrets),
//! [`events`] and [`status`] (reporting), [`resync`] (the periodic resync, paced),
//! [`worthy_changes`] (which watch events wake a reconcile), [`trigger_gate`] (wake-ups waiting
//! until the controller is ready), [`secret_wakeups`] (a changed key Secret wakes who names it),
//! [`digest`] (compact keys for what is only compared).

pub mod api_keys;
pub mod backoff;
pub mod context;
pub mod digest;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod instance_schedule;
pub mod resync;
pub mod secret_wakeups;
pub mod spot_bid;
pub mod spot_pool;
pub mod status;
#[cfg(test)]
pub(crate) mod test_support;
pub mod trigger_gate;
pub mod usage;
pub mod wiring;
pub mod worthy_changes;

pub use context::{Context, ControllerConfig, OPERATOR_NAME};
pub use error::{Error, Problem};
