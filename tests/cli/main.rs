//! The executables as processes: `mithril-operator run`, `mithril-dev demo`, `sim`, `bench`.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod bench;
mod binaries;
mod demo;
mod run;
mod sim;
