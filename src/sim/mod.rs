//! Mithril simulator: the Mithril API on an in-memory world with a driven clock and market.
//! Depends on nothing else in this crate.

pub mod cli;
pub mod error;
pub mod fid;
mod handle;
pub mod http;
pub mod money;
mod server;
pub mod wire;
pub mod world;
pub mod world_spec;

pub use error::SimError;
pub use handle::{ClockMode, Sim, SimConfig};
pub use http::counters::{CounterKey, Counters, Outcome};
pub use http::faults::{FaultSpec, FaultsHandle};
pub use server::SimServer;
pub use world_spec::WorldSpec;
