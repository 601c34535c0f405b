//! SpotBid: one Mithril spot bid per resource.
//!
//! - [`names`]: the deterministic Mithril bid name that makes creation idempotent.
//! - [`plan`]: pure `desired + observed -> action` (create, patch the fields that differ, cancel, nothing).
//! - [`report`]: pure `observed + outcome -> status` (phase, instances, prices, conditions).

pub mod names;
pub mod plan;
pub mod report;
