//! The controllers end to end: the real kube client (and kubectl) against the emulator or a real API server, the simulator on loopback, its clock driven by the tests.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod chaos;
mod instance_schedule;
mod spot_bid;
mod spot_bid_market;
mod spot_bid_safety;
mod spot_pool;
