//! The development tools of `mithril-dev` (feature `dev-tools`, on by default): the demo, the
//! benchmark, and the commands serving the Mithril simulator and the Kubernetes API emulator.
//! The operator's own modules never import this one.

pub mod bench;
pub mod cli;
pub mod demo;
mod examples;
