//! The shared Mithril observers against the simulator: cycles, their cost, faults, the registry and write-through.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod cost;
mod cycles;
mod faults;
mod registry;
mod writes;
