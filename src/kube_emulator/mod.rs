//! Kubernetes API emulator: an in-process API server that kube-rs and kubectl accept.
//! Depends on nothing else in this crate.

pub mod cli;
pub mod openapi;
pub mod schema;
pub mod ssa;
pub mod table;
