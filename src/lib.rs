//! mithril-operator: a Kubernetes operator for the Mithril GPU cloud.
//!
//! Rooms (see README, "Architecture"):
//! - [`crd`]: the custom resource types (`SpotBid`, `InstanceSchedule`, `SpotPool`).
//! - [`observe`]: shared Mithril observers (bids, instances, prices in memory; change events).
//! - [`runtime`]: logs, metrics, health, leader election, shutdown.
//! - [`controller`]: pure planners and thin reconcilers, one folder per kind.
//! - [`app`]: the `mithril-operator` command (`run`, `crds`).
//! - [`digest`]: 64-bit digests for values only compared (observers and controllers).
//! - `dev` (feature `dev-tools`): the `mithril-dev` commands (demo, bench, sim, kube-emulator).
//!
//! Other crates of the workspace: `mithril-api` (the one typed client for the Mithril API),
//! `mithril-sim` (a Mithril simulator) and `kube-emulator` (an in-process Kubernetes API server).
//! The operator depends on `mithril-api` only; the simulator and the emulator serve tests and `dev`.

pub mod app;
pub mod controller;
pub mod crd;
#[cfg(feature = "dev-tools")]
pub mod dev;
pub mod digest;
pub mod observe;
pub mod runtime;

/// The error type of the command-line entry points.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
