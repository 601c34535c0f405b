//! mithril-operator: a Kubernetes operator for the Mithril GPU cloud.
//!
//! Rooms (see README, "Architecture"):
//! - [`crd`]: the custom resource types (`SpotBid`, `InstanceSchedule`).
//! - [`mithril`]: the one typed client for the Mithril API.
//! - [`observe`]: shared Mithril observers (bids, instances, prices in memory; change events).
//! - [`runtime`]: logs, metrics, health, leader election, shutdown.
//! - [`controller`]: pure planners and thin reconcilers, one folder per kind.
//! - [`sim`]: an in-memory Mithril simulator (tests, demo, benchmark).
//! - [`kube_emulator`]: an in-process Kubernetes API server (tests, demo, benchmark).
//!
//! `sim` and `kube_emulator` depend on nothing else in this crate; the operator never imports them.

pub mod app;
pub mod bench;
pub mod controller;
pub mod crd;
pub mod kube_emulator;
pub mod mithril;
pub mod observe;
pub mod runtime;
pub mod sim;

/// The error type of the command-line entry points.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
