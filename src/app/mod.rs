//! The commands that turn the library into a running operator.
//!
//! - [`run`]: `mithril-operator run`, the operator as deployed: flags ([`run::RunArgs`]), start-up
//!   checks, leader election, health and metrics, controllers, graceful shutdown.
//! - [`demo`]: `mithril-operator demo`, the same operator pointed at an in-process Kubernetes API
//!   emulator and Mithril simulator, with the example resources applied.
//!
//! `main.rs` only parses and dispatches, so tests drive these entry points in process.

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
pub use settings::{ApiKeySource, LeaderElection, SecretName, Settings};
