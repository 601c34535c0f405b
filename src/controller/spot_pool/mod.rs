//! SpotPool: a number of instances, kept as SpotBids of a block size each.
//!
//! - [`children`]: pure: a pool's SpotBids made from its template, and read back.
//! - [`plan`]: pure `spec + SpotBids -> creates, in-place patches, deletes`, scale-down order and
//!   rolling replacement within `maxSurge`/`maxUnavailable`.
//! - [`report`]: pure `SpotBids + plan + outcome -> status, events`.
//! - [`reconcile`]: the IO around them (SpotBids through the API server only; never Mithril).
//! - [`controller`]: the kube-runtime wiring (pools, and their SpotBids' metadata as triggers).

pub mod children;
pub mod controller;
pub mod plan;
pub mod reconcile;
pub mod report;

pub use controller::run;
