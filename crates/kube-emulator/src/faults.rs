//! Fault injection for tests: drop every open watch, make the next watch expire (410), hold new
//! watches and then expire them, fail or delay a deterministic share of writes, delay lists,
//! optionally for one resource only.

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
    /// True while new watches are held ([`Faults::hold_watches`]).
    watch_hold: watch::Sender<bool>,
    /// The resources (plural) of the watches held since then.
    held: Mutex<Vec<String>>,
    failures: Mutex<Vec<FailRule>>,
    delays: Mutex<Vec<DelayRule>>,
    /// Each list request (every page) of the resource (`None`: any) waits this long.
    list_delays: Mutex<Vec<(Duration, Option<String>)>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            watch_drops: watch::Sender::new(0),
            pending_expirations: AtomicU32::new(0),
            watch_hold: watch::Sender::new(false),
            held: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            delays: Mutex::new(Vec::new()),
            list_delays: Mutex::new(Vec::new()),
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

    /// Holds every new watch request, as an API server unreachable for watches while its writes
    /// still go through: each is answered only at [`Self::expire_held_watches`].
    pub fn hold_watches(&self) {
        self.watch_hold.send_replace(true);
    }

    /// Answers every held watch with a 410 Expired (its client must list again) and holds no more.
    pub fn expire_held_watches(&self) {
        self.watch_hold.send_replace(false);
        lock(&self.held).clear();
    }

    /// The resources (plural) whose watches are held now, one entry per watch.
    pub fn held_watches(&self) -> Vec<String> {
        lock(&self.held).clone()
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

    /// Delays every list request (each page of a list) by `delay`, as a busy or distant API server
    /// would; `resource` as for [`Self::fail_writes`].
    pub fn delay_lists(&self, delay: Duration, resource: Option<&str>) {
        lock(&self.list_delays).push((delay, resource.map(Into::into)));
    }

    /// Removes every list delay.
    pub fn clear_lists(&self) {
        lock(&self.list_delays).clear();
    }

    /// How long one list request of `plural` in `group` waits.
    pub(crate) fn on_list(&self, group: &str, plural: &str) -> Option<Duration> {
        lock(&self.list_delays)
            .iter()
            .filter(|(_, resource)| applies_to(resource, group, plural))
            .map(|(delay, _)| *delay)
            .reduce(|a, b| a + b)
    }

    /// Removes every write failure and delay rule.
    pub fn clear_writes(&self) {
        lock(&self.failures).clear();
        lock(&self.delays).clear();
    }

    /// The faults for one write of `plural` in `group`.
    pub(crate) fn on_write(&self, group: &str, plural: &str) -> WriteFault {
        let applies = |resource: &Option<String>| applies_to(resource, group, plural);
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

    /// While watches are held, records one of `plural` and returns what tells its release.
    pub(crate) fn hold_watch(&self, plural: &str) -> Option<watch::Receiver<bool>> {
        let released = self.watch_hold.subscribe();
        if !*released.borrow() {
            return None;
        }
        lock(&self.held).push(plural.to_owned());
        Some(released)
    }

    pub(crate) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.watch_drops.subscribe()
    }
}

/// Whether a rule for `resource` (plural or plural.group; `None`: any) applies to `plural` in `group`.
fn applies_to(resource: &Option<String>, group: &str, plural: &str) -> bool {
    resource
        .as_deref()
        .is_none_or(|r| r == plural || r == format!("{plural}.{group}"))
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
    fn list_delays_add_up_for_their_resource() {
        let faults = Faults::default();
        assert_eq!(faults.on_list("mithril.ai", "spotbids"), None);
        faults.delay_lists(Duration::from_millis(100), Some("spotbids.mithril.ai"));
        faults.delay_lists(Duration::from_millis(50), None);
        assert_eq!(
            faults.on_list("mithril.ai", "spotbids"),
            Some(Duration::from_millis(150))
        );
        assert_eq!(
            faults.on_list("", "secrets"),
            Some(Duration::from_millis(50))
        );
        faults.clear_lists();
        assert_eq!(faults.on_list("mithril.ai", "spotbids"), None);
    }

    #[test]
    fn watches_are_held_until_expired() {
        let faults = Faults::default();
        assert!(faults.hold_watch("spotbids").is_none());
        faults.hold_watches();
        let mut released = faults.hold_watch("spotbids").expect("held");
        assert_eq!(faults.held_watches(), ["spotbids"]);
        faults.expire_held_watches();
        assert!(!*released.borrow_and_update(), "released");
        assert!(faults.held_watches().is_empty());
        assert!(faults.hold_watch("spotbids").is_none());
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
