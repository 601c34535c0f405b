//! Fault injection for tests: drop every open watch, make the next watch expire (410), fail or delay a
//! deterministic share of writes, optionally for one resource only.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// A share of writes, picked deterministically: with `percent` = 25 the 4th, 8th, 12th... matching write.
#[derive(Debug)]
struct Share {
    percent: u32,
    seen: u64,
}

impl Share {
    fn new(percent: u32) -> Self {
        Self {
            percent: percent.min(100),
            seen: 0,
        }
    }

    fn pick(&mut self) -> bool {
        self.seen += 1;
        let p = u64::from(self.percent);
        self.seen * p / 100 > (self.seen - 1) * p / 100
    }
}

#[derive(Debug)]
struct FailRule {
    share: Share,
    status: u16,
    resource: Option<String>,
}

#[derive(Debug)]
struct DelayRule {
    share: Share,
    delay: Duration,
    resource: Option<String>,
}

/// What to do to one write.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteFault {
    pub delay: Option<Duration>,
    /// Refuse the write with this HTTP status (409 Conflict, 500 InternalError, 429, 503...).
    pub fail_with: Option<u16>,
}

/// The emulator's fault switches (shared by every client and socket of one emulator).
#[derive(Debug)]
pub struct Faults {
    watch_drops: watch::Sender<u64>,
    pending_expirations: AtomicU32,
    failures: Mutex<Vec<FailRule>>,
    delays: Mutex<Vec<DelayRule>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            watch_drops: watch::Sender::new(0),
            pending_expirations: AtomicU32::new(0),
            failures: Mutex::new(Vec::new()),
            delays: Mutex::new(Vec::new()),
        }
    }
}

impl Faults {
    /// Ends every open watch stream cleanly (as an apiserver restart or a load balancer would):
    /// clients must re-watch from the last resourceVersion they saw.
    pub fn drop_all_watches(&self) {
        self.watch_drops.send_modify(|generation| *generation += 1);
    }

    /// The next watch request gets a 200 stream holding one ERROR event with a 410 Expired Status.
    pub fn expire_next_watch(&self) {
        self.pending_expirations.fetch_add(1, Ordering::SeqCst);
    }

    /// Refuses `percent` % of writes (create, update, patch, delete) with `status`. `resource` limits
    /// the rule to one resource, named by plural (`spotbids`) or plural.group (`spotbids.mithril.ai`).
    pub fn fail_writes(&self, percent: u32, status: u16, resource: Option<&str>) {
        lock(&self.failures).push(FailRule {
            share: Share::new(percent),
            status,
            resource: resource.map(Into::into),
        });
    }

    /// Delays `percent` % of writes by `delay` before they are applied.
    pub fn delay_writes(&self, percent: u32, delay: Duration, resource: Option<&str>) {
        lock(&self.delays).push(DelayRule {
            share: Share::new(percent),
            delay,
            resource: resource.map(Into::into),
        });
    }

    /// Removes every write failure and delay rule.
    pub fn clear_writes(&self) {
        lock(&self.failures).clear();
        lock(&self.delays).clear();
    }

    /// The faults for one write of `plural` in `group`.
    pub(crate) fn on_write(&self, group: &str, plural: &str) -> WriteFault {
        let applies = |resource: &Option<String>| {
            resource
                .as_deref()
                .is_none_or(|r| r == plural || r == format!("{plural}.{group}"))
        };
        let mut fault = WriteFault::default();
        for rule in lock(&self.delays).iter_mut() {
            if applies(&rule.resource) && rule.share.pick() {
                fault.delay = Some(fault.delay.unwrap_or_default() + rule.delay);
            }
        }
        for rule in lock(&self.failures).iter_mut() {
            if applies(&rule.resource) && rule.share.pick() && fault.fail_with.is_none() {
                fault.fail_with = Some(rule.status);
            }
        }
        fault
    }

    /// Consumes one pending forced expiry.
    pub(crate) fn take_watch_expiry(&self) -> bool {
        self.pending_expirations
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.watch_drops.subscribe()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_deterministic() {
        let faults = Faults::default();
        faults.fail_writes(25, 500, Some("spotbids"));
        let picked: Vec<bool> = (0..8)
            .map(|_| {
                faults
                    .on_write("mithril.ai", "spotbids")
                    .fail_with
                    .is_some()
            })
            .collect();
        assert_eq!(
            picked,
            [false, false, false, true, false, false, false, true]
        );
        assert_eq!(faults.on_write("", "secrets"), WriteFault::default());
        faults.clear_writes();
        assert_eq!(
            faults.on_write("mithril.ai", "spotbids"),
            WriteFault::default()
        );
    }

    #[test]
    fn expiries_are_counted() {
        let faults = Faults::default();
        assert!(!faults.take_watch_expiry());
        faults.expire_next_watch();
        assert!(faults.take_watch_expiry());
        assert!(!faults.take_watch_expiry());
    }
}
