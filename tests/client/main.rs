//! The Mithril client: every endpoint, errors, retries and redaction against scripted servers, and against the simulator.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod against_sim;
mod endpoints;
mod errors;
mod redaction;
mod retries;
