//! The Mithril client: every endpoint, errors, retries and redaction against scripted servers, and against the simulator.

#[path = "../support/mod.rs"]
mod support;

mod against_sim;
mod endpoints;
mod errors;
mod redaction;
mod retries;
