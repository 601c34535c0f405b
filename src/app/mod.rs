//! The commands that turn the library into a running operator.
//!
//! - [`run`]: `mithril-operator run`, the operator as deployed: flags ([`run::RunArgs`]), start-up
//!   checks, leader election, health and metrics, controllers, graceful shutdown.
//! - [`demo`]: `mithril-dev demo`, the same operator pointed at an in-process Kubernetes API
//!   emulator and Mithril simulator, with the example resources applied.
//!
//! - [`cli`]: the command lines of `mithril-operator` (what the image ships) and `mithril-dev`.
//!
//! The binaries only parse and dispatch, so tests drive these entry points in process.

pub mod cli;
pub mod demo;
pub mod error;
pub mod run;
pub mod settings;

pub mod durations;
mod examples;
mod leadership;
mod operator;
mod preflight;
mod sync;

pub use error::RunError;
pub use operator::SHUTDOWN_DRAIN;
pub use settings::{ApiKeySource, BidSafety, LeaderElection, SecretName, Settings};
