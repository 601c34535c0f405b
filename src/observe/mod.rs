//! Shared Mithril observers: one poller per (API key, project) keeps bids, instances and spot
//! prices in memory, so controllers read memory instead of the network, and tells them which
//! bids and reserved instances changed, so only the resources concerned are reconciled.
//!
//! - [`MithrilObserver`]: the cache of one project, its polling cycle ([`MithrilObserver::poll_once`],
//!   [`MithrilObserver::run`]), the read API, write-through and the change stream.
//! - [`ObserverRegistry`]: one observer per (key, project), one client per key, and cached
//!   project and instance type resolution.
//!
//! Cost per cycle for N live bids in steady state: `ceil(N/100) + 2` requests plus up to 3 (the bid
//! pages of each of the four live statuses, one page of unsettled instances, spot availability),
//! whatever the number of ended bids; see [`MithrilObserver`] for what costs more. After it, at most
//! [`ObserverConfig::spend_reads_per_cycle`] reads of bids' pricing and event histories
//! ([`MithrilObserver::refresh_spend`]).

mod auctions;
mod catalog;
mod change;
mod config;
mod cycle;
mod error;
mod fetch;
mod health;
mod observer;
mod pages;
mod registry;
mod settled;
mod snapshot;
mod spend;
mod spend_cycle;
mod state;
#[cfg(test)]
mod test_support;
mod write_through;

pub use change::{Change, ChangeStream};
pub use config::{MAX_TARGETED_BATCH, ObserverConfig};
pub use error::ObserveError;
pub use health::{FailureKind, ObserverHealth, PollFailure};
pub use health::{PollReport, Settling};
pub use observer::MithrilObserver;
pub use registry::{ClientFactory, CycleListener, ObserverRegistry, Polling, RegistryConfig};
pub use settled::{SETTLED, is_settled, unsettled_statuses};
pub use snapshot::InstanceFilter;
pub use spend::{Cost, HISTORY_EVENTS, cost_of};
pub use spend_cycle::SpendReport;
