//! SpotBid: one Mithril spot bid per resource.
//!
//! - [`names`]: the deterministic Mithril bid name that makes creation idempotent.
//! - [`plan`]: pure `desired + observed -> action` (create, patch the fields that differ, cancel, nothing).
//! - [`report`]: pure `observed + outcome -> status` (phase, instances, prices, conditions).
//! - [`reconcile`]: the IO around them: observe from the shared observer, act, write status and events.
//! - [`controller`]: the kube-runtime wiring (watch, Mithril change triggers).

pub mod controller;
pub mod index;
pub mod names;
pub mod plan;
pub mod reconcile;
pub mod report;

pub use controller::run;
