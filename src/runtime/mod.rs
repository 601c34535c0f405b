//! What turns the library into a running operator: logs, metrics and health endpoints, leader
//! election, and shutdown on signals.

pub mod durations;
pub mod health;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod reconcile_triggers;
pub mod shutdown;
pub mod telemetry;
