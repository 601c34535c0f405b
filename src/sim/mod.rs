//! Mithril simulator: the Mithril API on an in-memory world with a driven clock and market.
//! Depends on nothing else in this crate.

pub mod cli;
