//! Per-object exponential backoff for failed reconciles.
//!
//! kube-runtime requeues whatever `error_policy` says; the attempt count is kept here, per object,
//! so one failing resource backs off alone and never slows the others.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Backoff state of every object that failed since its last success.
#[derive(Debug)]
pub struct Backoffs {
    base: Duration,
    max: Duration,
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoffs {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: Mutex::default(),
        }
    }

    /// Records a failure of `key` (the object's uid) and returns how long to wait: base × 2^(n-1),
    /// capped at max, with up to 10 % added so failures of many objects do not retry in lockstep.
    pub fn failed(&self, key: &str) -> Duration {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = attempts.entry(key.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        let exponential = self
            .base
            .saturating_mul(1u32.checked_shl(*count - 1).unwrap_or(u32::MAX));
        let delay = exponential.min(self.max);
        delay + delay.mul_f64(rand::random::<f64>() * 0.1)
    }

    /// Forgets `key` after a success (or when the object is gone).
    pub fn succeeded(&self, key: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Failures of `key` since its last success.
    pub fn attempts(&self, key: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_failure_up_to_the_cap_and_resets_on_success() {
        let backoffs = Backoffs::new(Duration::from_secs(1), Duration::from_secs(10));
        let waits: Vec<Duration> = (0..6).map(|_| backoffs.failed("uid-a")).collect();
        for (wait, expected) in waits.iter().zip([1, 2, 4, 8, 10, 10]) {
            let expected = Duration::from_secs(expected);
            assert!(
                *wait >= expected && *wait <= expected.mul_f64(1.1),
                "{wait:?} vs {expected:?}"
            );
        }
        assert_eq!(backoffs.attempts("uid-a"), 6);
        assert!(
            backoffs.failed("uid-b") <= Duration::from_millis(1100),
            "objects back off alone"
        );
        backoffs.succeeded("uid-a");
        assert_eq!(backoffs.attempts("uid-a"), 0);
        assert!(backoffs.failed("uid-a") <= Duration::from_millis(1100));
    }
}
