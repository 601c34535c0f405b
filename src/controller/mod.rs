//! Controllers: per kind, a pure planner and a thin reconcile that observes, plans, acts and reports.
//!
//! Shared pieces: [`context`] (clients, observers, keys, events, metrics), [`error`] (the one
//! error type), [`backoff`] (per-object retry delays), [`api_keys`] (keys from Secrets),
//! [`status`] (reporting), [`secret_wakeups`] (a changed key Secret wakes who names it), and
//! [`machinery`]: kube-runtime's pieces replaced for a measured gain (events, finalizer, paced
//! resync, watch filter, trigger gate, digests), each with the invariant it keeps.

pub mod api_keys;
pub mod backoff;
pub mod context;
pub mod error;
pub mod instance_schedule;
pub mod machinery;
pub mod secret_wakeups;
pub mod spot_bid;
pub mod spot_pool;
pub mod status;
#[cfg(test)]
pub(crate) mod test_support;
pub mod usage;
pub mod wiring;

pub use context::{Context, ControllerConfig, OPERATOR_NAME};
pub use error::{Error, Problem};
