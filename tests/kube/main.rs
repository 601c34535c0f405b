//! Kubernetes API behaviour: the emulator with the project's CRDs and kubectl, and the differential corpus against a real API server.

#![recursion_limit = "256"]
#![allow(clippy::unwrap_used)] // a test's panic is its failure report

#[path = "../support/mod.rs"]
mod support;

mod differential;
mod emulator_cel;
mod emulator_kubectl;
mod emulator_scale;
mod emulator_scale_subresource;
