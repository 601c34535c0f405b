//! The shared Mithril observers against the simulator: cycles, their cost, faults, the registry and write-through.

#[path = "../support/mod.rs"]
mod support;

mod cost;
mod cycles;
mod faults;
mod registry;
mod writes;
