//! The commands that turn the library into a running operator.
//!
//! - [`run`]: `mithril-operator run`, the operator as deployed: flags ([`run::RunArgs`]), start-up
//!   checks, leader election, health and metrics, controllers, graceful shutdown.
//! - [`cli`]: the command line of `mithril-operator` (what the image ships); `mithril-dev` adds
//!   its own commands to it (`crate::dev`).
//!
//! The binaries only parse and dispatch, so tests drive these entry points in process.

pub mod cli;
pub mod error;
pub mod run;
pub mod settings;

mod leadership;
mod operator;
mod preflight;
mod sync;

pub use error::RunError;
pub use operator::SHUTDOWN_DRAIN;
pub use settings::{ApiKeySource, BidSafety, LeaderElection, SecretName, Settings};
