//! The fault suite: the operator as a process (the benchmark's rig) under faults of Mithril, Kubernetes, bad input, crashes, leader changes and Secrets.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod crash;
mod kubernetes;
mod leader;
mod mithril;
mod secrets;
