//! The executables as processes: `mithril-operator run`, `mithril-dev demo`, `sim`, `bench`.

#[path = "../support/mod.rs"]
mod support;

mod bench;
mod binaries;
mod demo;
mod run;
mod sim;
