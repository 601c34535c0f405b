//! InstanceSchedule: pause and resume reserved instances on time windows.
//!
//! - [`windows`]: pure `(spec, now) -> wanted state + next transition`.
//! - [`conflicts`]: which instances a selector picks, and which more than one schedule claims.
//! - [`plan`]: pure `wanted + observed -> batched pauses/resumes`, skips, waits and requeue time.
//! - [`report`]: pure `plan + PATCH outcomes -> status` (and the events to publish).

pub mod conflicts;
pub mod plan;
pub mod report;
pub mod windows;
