//! Controllers: per kind, a pure planner and a thin reconcile that observes, plans, acts and reports.

pub mod instance_schedule;
pub mod spot_bid;
