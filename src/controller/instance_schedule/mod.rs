//! InstanceSchedule: pause and resume reserved instances on time windows.
//!
//! - [`windows`]: pure `(spec, now) -> wanted state + next transition`.
//! - [`conflicts`]: which instances a selector picks, and which more than one schedule claims.
//! - [`plan`]: pure `wanted + observed -> batched pauses/resumes`, skips, waits and requeue time.
//! - [`report`]: pure `plan + PATCH outcomes -> status` (and the events to publish).
//!
//! One reconcile of a schedule, with the IO around these pure steps:
//! 1. Check the spec: [`windows::Schedule::from_spec`], `spec.selector.validate()`, and resolve
//!    the project and a filter's instance type. On failure report
//!    [`report::Assessment::InvalidSpec`] and stop.
//! 2. Evaluate the windows at `now`; list the project's instances (or take them from the shared
//!    observer, with the time they were listed). On failure report
//!    [`report::Assessment::Unavailable`].
//! 3. [`conflicts::select`] this schedule's instances; build a [`conflicts::Claim`] for every
//!    schedule and take [`conflicts::Conflicts::claimed_elsewhere`] for this one.
//! 4. [`plan::plan`], send each [`plan::Action`] as one `PATCH /v2/instances`, and collect
//!    [`report::batch_outcomes`] of every answer.
//! 5. [`report::status`] from the previous status; write it only if it changed; publish
//!    [`report::events`]; requeue at [`plan::SchedulePlan::requeue_at`], capped by the resync.

pub mod claims;
pub mod conflicts;
pub mod controller;
pub mod index;
pub mod latest;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod resolve;
pub mod windows;

pub use controller::{run, run_with_clock_moves};
