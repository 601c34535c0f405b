//! The one support module of the integration tests: each binary uses the parts it needs.

#![allow(dead_code)]

pub mod cli;
pub mod client;
#[path = "../../crates/kube-emulator/tests/common_emulator/mod.rs"]
pub mod emulator;
pub mod faults;
pub mod harness;
pub mod observe;

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 100 ms until it returns `Some`, panicking with `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
