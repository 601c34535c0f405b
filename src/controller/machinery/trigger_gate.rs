//! Triggers waiting outside kube-runtime's scheduler until the controller is ready for them, in
//! arrival order.
//!
//! kube-runtime's controller holds every trigger in its scheduler (strings per reference) from
//! its arrival until its reconcile starts; while thousands of resources converge that is nearly
//! all of them at once, and its queue hands out the latest arrivals first, so the first ones can
//! wait for as long as new ones keep coming. The gate keeps a waiting trigger as a shared pointer,
//! a digest and its name, and hands one over, oldest first, only when a reconcile can take it at
//! once (fewer running and handed over than the controller's concurrency), so the controller's
//! queue stays near empty and never picks among many (BENCHMARKS.md, rounds 6 and 10). A waiting
//! resource's reference is held once, however many triggers queued it.
//!
//! A reconcile that starts takes its resource out of the gate whatever woke it: it reads the
//! observers' cache as it is then, which already holds every change that queued the resource.
//! Safety-net revisits (the paced resync) wait in a second lane, handed over only when no other
//! trigger waits, so an edit or a Mithril change never queues behind them.
//!
//! While the watch lists, nothing is handed over: a list's resources reach the cache only at its
//! end, and a trigger handed over for one not there yet would be dropped.

use crate::digest::digest;
use futures::{Stream, StreamExt, stream};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A trigger handed over whose reconcile has not started by then is counted as started: the
/// gate never stalls on a trigger the controller dropped (kube-runtime skips one whose resource
/// left its cache meanwhile) or is slow to run.
const ISSUED_FOR: Duration = Duration::from_secs(30);

/// How often the gate looks for such triggers when nothing else wakes it.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Waiting triggers of a controller, handed over at most `limit` at a time.
pub struct TriggerGate<K: Resource> {
    state: Mutex<GateState<K>>,
    wake: Notify,
    limit: usize,
    /// Triggers waiting (not handed over), shared with the other gates of the kind.
    waiting_gauge: Gauge,
}

/// Which lane a trigger waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Urgent,
    Background,
}

struct GateState<K: Resource> {
    /// Each lane in arrival order: a resource's key and the trigger's name; an entry whose key
    /// left `waiting`, or waits there in the other lane, is skipped.
    urgent: VecDeque<(u64, &'static str)>,
    background: VecDeque<(u64, &'static str)>,
    /// Each waiting resource once: key -> (its lane, the resource).
    waiting: HashMap<u64, (Lane, Arc<ObjectRef<K>>)>,
    /// Handed to the controller, reconcile not started yet: key -> (resource, when handed).
    issued: HashMap<u64, (Arc<ObjectRef<K>>, Instant)>,
    /// Reconciles running, whatever woke them.
    running: usize,
    /// The watch is listing (between its `Init` and `InitDone`).
    listing: bool,
}

/// A resource's key in the gate: what kube-runtime's scheduler compares, its namespace and name.
fn key(namespace: Option<&str>, name: &str) -> u64 {
    digest(&(namespace, name))
}

fn key_of<K: Resource>(resource: &ObjectRef<K>) -> u64 {
    key(resource.namespace.as_deref(), &resource.name)
}

/// The lane the resource of `key` waits in, if it waits.
fn waits_in<K: Resource>(
    waiting: &HashMap<u64, (Lane, Arc<ObjectRef<K>>)>,
    key: u64,
) -> Option<Lane> {
    waiting.get(&key).map(|(lane, _)| *lane)
}

impl<K> TriggerGate<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// A gate handing over triggers while fewer than `limit` (at least 1) are handed over or
    /// running.
    pub fn new(limit: usize) -> Self {
        TriggerGate {
            state: Mutex::new(GateState {
                urgent: VecDeque::new(),
                background: VecDeque::new(),
                waiting: HashMap::new(),
                issued: HashMap::new(),
                running: 0,
                listing: false,
            }),
            wake: Notify::new(),
            limit: limit.max(1),
            waiting_gauge: Gauge::default(),
        }
    }

    /// The same gate, adding the triggers it holds waiting to `gauge`.
    pub fn with_waiting_gauge(mut self, gauge: Gauge) -> Self {
        gauge.inc_by(i64::try_from(self.lock().waiting.len()).unwrap_or(i64::MAX));
        self.waiting_gauge = gauge;
        self
    }

    /// Moves the gauge by the change in waiting triggers, `before` to now.
    fn count_waiting(&self, before: usize, state: &GateState<K>) {
        let after = state.waiting.len();
        let delta =
            i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX);
        if delta != 0 {
            self.waiting_gauge.inc_by(delta);
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState<K>> {
        // Plain collections: a panic elsewhere cannot leave them half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a reconcile of `resource` for `reason`, unless one is already waiting (that one
    /// will read what this trigger is about, and keeps its name). One handed over and not started
    /// does not count: it may never start (its resource was deleted meanwhile, and may come back
    /// under the same name), and if it does, its start takes this one with it.
    /// A trigger waiting as a safety-net revisit moves ahead under this name.
    pub fn push(&self, resource: Arc<ObjectRef<K>>, reason: &'static str) {
        self.push_in(Lane::Urgent, resource, reason);
    }

    /// As [`Self::push`], for a safety-net revisit: handed over only when no other trigger waits.
    pub fn push_background(&self, resource: Arc<ObjectRef<K>>, reason: &'static str) {
        self.push_in(Lane::Background, resource, reason);
    }

    fn push_in(&self, lane: Lane, resource: Arc<ObjectRef<K>>, reason: &'static str) {
        let key = key_of(&resource);
        let mut state = self.lock();
        match state.waiting.get_mut(&key) {
            None => {
                self.waiting_gauge.inc();
                state.waiting.insert(key, (lane, resource));
            }
            Some((waits_in, _)) if *waits_in == Lane::Background && lane == Lane::Urgent => {
                *waits_in = lane;
            }
            Some(_) => return,
        }
        let GateState {
            urgent,
            background,
            waiting,
            ..
        } = &mut *state;
        let queue = match lane {
            Lane::Urgent => urgent,
            Lane::Background => background,
        };
        queue.push_back((key, reason));
        // Entries left behind (their reconcile started, or they moved lanes) are dropped once
        // they outnumber what waits, one entry kept per waiting resource.
        if queue.len() > 2 * waiting.len() + 64 {
            let mut kept = HashSet::with_capacity(waiting.len());
            queue.retain(|(key, _)| waits_in(waiting, *key) == Some(lane) && kept.insert(*key));
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Notes that the reconcile of the resource `name` in `namespace` started; it runs until the
    /// returned guard is dropped.
    pub fn started(self: &Arc<Self>, namespace: Option<&str>, name: &str) -> Running<K> {
        let key = key(namespace, name);
        let mut state = self.lock();
        state.issued.remove(&key);
        if state.waiting.remove(&key).is_some() {
            self.waiting_gauge.dec();
        }
        state.running += 1;
        Running(self.clone())
    }

    fn finished(&self) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        drop(state);
        self.wake.notify_one();
    }

    /// The watch started a list (`Init`): triggers wait until it is done.
    pub fn list_started(&self) {
        self.lock().listing = true;
    }

    /// The watch's list is done (`InitDone`) and its resources are in the cache.
    pub fn list_done(&self) {
        self.lock().listing = false;
        self.wake.notify_one();
    }

    /// Triggers waiting, issued and not started (for tests and diagnostics).
    pub fn pending(&self) -> (usize, usize) {
        let state = self.lock();
        (state.waiting.len(), state.issued.len())
    }

    /// The triggers to hand over now: as many waiting ones as the limit allows, after forgetting
    /// issued ones that are stale or whose resource left `store`.
    fn take(&self, store: &Store<K>, now: Instant) -> Vec<(ObjectRef<K>, &'static str)> {
        let mut state = self.lock();
        if state.listing {
            return Vec::new();
        }
        if state.issued.len() + state.running >= self.limit {
            state.issued.retain(|_, (resource, at)| {
                now.duration_since(*at) < ISSUED_FOR && store.get(resource).is_some()
            });
        }
        let before = state.waiting.len();
        let mut batch = Vec::new();
        while state.issued.len() + state.running < self.limit {
            let (lane, (key, reason)) = match state.urgent.pop_front() {
                Some(entry) => (Lane::Urgent, entry),
                None => match state.background.pop_front() {
                    Some(entry) => (Lane::Background, entry),
                    None => break,
                },
            };
            if waits_in(&state.waiting, key) != Some(lane) {
                continue;
            }
            let Some((_, resource)) = state.waiting.remove(&key) else {
                continue;
            };
            // A resource that left the cache has nothing to reconcile (kube-runtime would skip it).
            if store.get(&resource).is_some() {
                batch.push((ObjectRef::clone(&resource), reason));
                state.issued.insert(key, (resource, now));
            }
        }
        self.count_waiting(before, &state);
        if state.urgent.is_empty() && state.background.is_empty() {
            // Shrunk after a burst: a deque keeps its largest size otherwise.
            state.urgent.shrink_to(64);
            state.background.shrink_to(64);
            state.waiting.shrink_to(64);
        }
        batch
    }

    /// The triggers with their names, as the controller can take them; never ends.
    pub fn triggers(
        self: Arc<Self>,
        store: Store<K>,
    ) -> impl Stream<Item = (ObjectRef<K>, &'static str)> {
        stream::unfold((self, store), |(gate, store)| async move {
            let batch = loop {
                let notified = gate.wake.notified();
                tokio::pin!(notified);
                // Registered before looking, so a push or start meanwhile is not missed.
                notified.as_mut().enable();
                let batch = gate.take(&store, Instant::now());
                if !batch.is_empty() {
                    break batch;
                }
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep(CHECK_EVERY) => {}
                }
            };
            Some((stream::iter(batch), (gate, store)))
        })
        .flatten()
    }
}

/// A reconcile running: the gate lets another trigger through when it is dropped.
pub struct Running<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static>(
    Arc<TriggerGate<K>>,
);

impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> Drop for Running<K> {
    fn drop(&mut self) {
        self.0.finished();
    }
}

impl<K: Resource> Drop for TriggerGate<K> {
    fn drop(&mut self) {
        // A gate that goes (its controller stopped) takes its waiting triggers off the gauge.
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.waiting_gauge
            .dec_by(i64::try_from(state.waiting.len()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::config_map;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    const CHANGE: &str = "change";

    fn reference(name: &str) -> Arc<ObjectRef<ConfigMap>> {
        Arc::new(ObjectRef::new(name).within("team"))
    }

    fn names<'a>(batch: &'a [(ObjectRef<ConfigMap>, &'static str)]) -> Vec<&'a str> {
        batch.iter().map(|(r, _)| r.name.as_str()).collect()
    }

    fn store_of(names: &[&str]) -> Store<ConfigMap> {
        let (store, mut writer) = reflector::store();
        for name in names {
            writer.apply_watcher_event(&Event::Apply(config_map(name)));
        }
        store
    }

    #[test]
    fn hands_over_at_most_the_limit_and_more_as_reconciles_finish() {
        let gate = Arc::new(TriggerGate::new(2));
        let store = store_of(&["a", "b", "c"]);
        let now = Instant::now();
        for name in ["a", "b", "a", "c"] {
            gate.push(reference(name), CHANGE);
        }
        assert_eq!(gate.pending(), (3, 0), "a repeat waits once");
        assert_eq!(names(&gate.take(&store, now)), ["a", "b"]);
        assert!(gate.take(&store, now).is_empty(), "two not started yet");
        // A trigger for a resource handed over waits, and the reconcile that starts takes it.
        gate.push(reference("a"), CHANGE);
        let running = gate.started(Some("team"), "a");
        assert!(
            gate.take(&store, now).is_empty(),
            "one running, one handed over"
        );
        drop(running);
        assert_eq!(names(&gate.take(&store, now)), ["c"]);
        assert_eq!(gate.pending(), (0, 2));
    }

    #[test]
    fn the_oldest_trigger_goes_first_under_its_first_name() {
        let gate = Arc::new(TriggerGate::new(2));
        let store = store_of(&["a", "b", "c"]);
        let now = Instant::now();
        gate.push(reference("a"), "first");
        gate.push(reference("b"), "first");
        gate.push(reference("c"), "later");
        gate.push(reference("a"), "later");
        let batch = gate.take(&store, now);
        assert_eq!(
            batch
                .iter()
                .map(|(r, reason)| (r.name.as_str(), *reason))
                .collect::<Vec<_>>(),
            [("a", "first"), ("b", "first")]
        );
        gate.started(Some("team"), "a");
        assert_eq!(names(&gate.take(&store, now)), ["c"]);
    }

    #[test]
    fn other_triggers_go_before_waiting_revisits_and_move_one_ahead() {
        let gate = Arc::new(TriggerGate::new(1));
        let store = store_of(&["a", "b", "c", "d"]);
        let now = Instant::now();
        for name in ["a", "b", "c"] {
            gate.push_background(reference(name), "resync");
        }
        gate.push(reference("d"), CHANGE);
        gate.push(reference("b"), CHANGE);
        gate.push_background(reference("d"), "resync");
        assert_eq!(gate.pending(), (4, 0), "each resource waits once");
        let mut order = Vec::new();
        for _ in 0..4 {
            let batch = gate.take(&store, now);
            let (resource, reason) = &batch[0];
            order.push((resource.name.clone(), *reason));
            gate.started(Some("team"), &resource.name);
        }
        let order: Vec<(&str, &str)> = order.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        assert_eq!(
            order,
            [
                ("d", CHANGE),
                ("b", CHANGE),
                ("a", "resync"),
                ("c", "resync")
            ]
        );
        assert_eq!(gate.pending(), (0, 0));
    }

    #[test]
    fn a_started_reconcile_takes_its_waiting_trigger_with_it() {
        let gate = Arc::new(TriggerGate::new(1));
        let store = store_of(&["a", "b"]);
        let now = Instant::now();
        gate.push(reference("a"), CHANGE);
        gate.push(reference("b"), CHANGE);
        // Woken by its own watch event meanwhile: it reads the change "b" waited for.
        gate.started(Some("team"), "b");
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
        gate.started(Some("team"), "a");
        assert!(gate.take(&store, now).is_empty());
        assert_eq!(gate.pending(), (0, 0));
    }

    #[test]
    fn triggers_never_started_stop_counting_when_stale_or_gone() {
        let gate = Arc::new(TriggerGate::new(1));
        let (store, mut writer) = reflector::store();
        for name in ["a", "b", "c"] {
            writer.apply_watcher_event(&Event::Apply(config_map(name)));
        }
        let now = Instant::now();
        for name in ["gone", "a", "b", "c"] {
            gate.push(reference(name), CHANGE);
        }
        // "gone" is not in the cache: nothing to hand over.
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
        // "a" left the cache once handed over: the controller never starts it.
        writer.apply_watcher_event(&Event::Delete(config_map("a")));
        assert_eq!(names(&gate.take(&store, now)), ["b"]);
        // "b" is in the cache but its reconcile never started (or is very late).
        assert!(gate.take(&store, now + ISSUED_FOR / 2).is_empty());
        assert_eq!(names(&gate.take(&store, now + ISSUED_FOR)), ["c"]);
    }

    #[test]
    fn triggers_wait_while_the_watch_lists_and_go_when_the_list_is_in_the_cache() {
        let gate = Arc::new(TriggerGate::new(2));
        let (store, mut writer) = reflector::store();
        let now = Instant::now();
        writer.apply_watcher_event(&Event::Init);
        gate.list_started();
        // Listed, not yet in the cache (the reflector fills it at the list's end).
        writer.apply_watcher_event(&Event::InitApply(config_map("a")));
        gate.push(reference("a"), CHANGE);
        assert!(gate.take(&store, now).is_empty());
        assert_eq!(gate.pending(), (1, 0), "kept, not dropped");
        writer.apply_watcher_event(&Event::InitDone);
        gate.list_done();
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
    }

    #[test]
    fn a_lane_keeps_one_entry_per_waiting_resource_however_often_reconciles_start() {
        let gate = Arc::new(TriggerGate::new(1));
        let store = store_of(&["a", "b"]);
        // Each push is taken by a reconcile that starts before the gate hands it over.
        for _ in 0..1000 {
            gate.push_background(reference("a"), "resync");
            gate.started(Some("team"), "a");
        }
        gate.push_background(reference("a"), "resync");
        gate.push(reference("b"), CHANGE);
        assert!(
            gate.lock().background.len() <= 2 + 64,
            "left-behind entries dropped"
        );
        let now = Instant::now();
        assert_eq!(names(&gate.take(&store, now)), ["b"]);
        gate.started(Some("team"), "b");
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
        gate.started(Some("team"), "a");
        assert!(gate.take(&store, now).is_empty(), "nothing waits twice");
        assert_eq!(gate.pending(), (0, 0));
    }

    #[test]
    fn a_waiting_resource_is_held_once_and_let_go_when_its_reconcile_starts() {
        let gate = Arc::new(TriggerGate::new(1));
        let (first, again) = (reference("a"), reference("a"));
        gate.push_background(first.clone(), "resync");
        gate.push(again.clone(), CHANGE);
        gate.push_background(again.clone(), "resync");
        assert_eq!(Arc::strong_count(&first), 2, "the first reference waits");
        assert_eq!(Arc::strong_count(&again), 1, "later triggers hold nothing");
        gate.started(Some("team"), "a");
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "the lanes' entries left behind hold no reference"
        );
    }
    #[test]
    fn a_resource_back_under_its_name_is_handed_over_again() {
        let gate = Arc::new(TriggerGate::new(2));
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Apply(config_map("a")));
        let now = Instant::now();
        gate.push(reference("a"), CHANGE);
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
        // Deleted before its reconcile started, then created again: the new one's trigger waits.
        writer.apply_watcher_event(&Event::Delete(config_map("a")));
        writer.apply_watcher_event(&Event::Apply(config_map("a")));
        gate.push(reference("a"), CHANGE);
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
    }

    #[tokio::test]
    async fn the_stream_yields_what_is_pushed_while_it_waits() {
        let gate = Arc::new(TriggerGate::new(4));
        let mut triggers = Box::pin(gate.clone().triggers(store_of(&["a"])));
        let pusher = {
            let gate = gate.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                gate.push(reference("a"), CHANGE);
            })
        };
        let (first, reason) = triggers.next().await.expect("a trigger");
        assert_eq!((first.name.as_str(), reason), ("a", CHANGE));
        pusher.await.expect("pushed");
    }

    #[test]
    fn the_gauge_counts_what_waits_across_the_gates_of_a_kind() {
        let gauge = Gauge::default();
        let store = store_of(&["a", "b", "c"]);
        let now = Instant::now();
        let gate = Arc::new(TriggerGate::new(1).with_waiting_gauge(gauge.clone()));
        let other = TriggerGate::new(1).with_waiting_gauge(gauge.clone());
        for name in ["a", "b", "a", "c"] {
            gate.push(reference(name), CHANGE);
        }
        other.push(reference("a"), CHANGE);
        assert_eq!(
            gauge.get(),
            4,
            "three waiting in one gate, one in the other"
        );
        assert_eq!(names(&gate.take(&store, now)), ["a"]);
        assert_eq!(gauge.get(), 3, "handed over: no longer waiting");
        gate.started(Some("team"), "c");
        assert_eq!(gauge.get(), 2, "taken by a reconcile that started");
        drop(gate);
        assert_eq!(
            gauge.get(),
            1,
            "a gate that goes takes its triggers with it"
        );
    }
}
