//! SpotBid: one Mithril spot bid per resource.
//!
//! - [`names`]: the deterministic Mithril bid name that makes creation idempotent.
//! - [`plan`]: pure `desired + observed -> action` (create, patch the fields that differ, cancel,
//!   move, nothing), deciding the region with [`regions`] and the limit price with [`pricing`].
//! - [`tracking`]: pure: which bid the resource manages, which twins to cancel, when not to place.
//! - [`sweep`]: pure: which bids this cluster placed have lost their resource.
//! - [`report`]: pure `observed + outcome -> status` (phase, instances, prices, conditions).
//! - [`decide`]: pure: when not to place yet, whether a refusal is final, the events to publish.
//! - [`cancelling`]: cancelling a bid and recording it, for every path that cancels.
//! - [`reconcile`]: the IO around them: observe from the shared observer, act, write status and events.
//! - [`controller`]: the kube-runtime wiring (metadata-only watch, Mithril change triggers).
//! - [`index`] and [`phases`]: what reconciles note per resource, for the Mithril change
//!   triggers and for the metrics.

pub mod cancelling;
pub mod controller;
pub mod decide;
pub mod index;
pub mod names;
pub mod phases;
pub mod plan;
pub mod pricing;
pub mod reconcile;
pub mod regions;
pub mod report;
pub mod sweep;
pub mod tracking;
pub mod watched;

pub use controller::run;
