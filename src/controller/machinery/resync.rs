//! The periodic resync, paced: every resource once per interval, spread evenly over it.
//!
//! Requeueing each resource after its reconcile (`Action::requeue(resync)`) keeps a scheduler
//! entry per resource for as long as the operator runs, and resources created together come due
//! together. Here the interval is cut into slots; a resource belongs to one slot by a hash of its
//! namespace and name, and at each slot's turn the store is read for that slot's resources.
//! Nothing is kept between turns but the slot number (BENCHMARKS.md, round 3).

use crate::controller::wiring::scheduling_ref;
use crate::digest::digest;
use futures::{Stream, StreamExt, stream};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// The shortest turn: below it a turn would read the store more often than it finds anything.
const MIN_TURN: Duration = Duration::from_millis(100);
/// At most this many slots, so a long interval is not read in thousands of tiny turns.
const MAX_SLOTS: u32 = 600;

/// How many slots `interval` is cut into.
fn slots_for(interval: Duration) -> u32 {
    let slots = interval.as_nanos() / MIN_TURN.as_nanos();
    u32::try_from(slots)
        .unwrap_or(MAX_SLOTS)
        .clamp(1, MAX_SLOTS)
}

/// The slot of the resource named `name` in `namespace`. A digest is fixed for the life of the
/// process, so a resource keeps its slot (and its place in the interval) for as long as it exists.
fn slot_of(namespace: Option<&str>, name: &str, slots: u32) -> u32 {
    (digest(&(namespace, name)) % u64::from(slots)) as u32
}

/// Every resource of `store`, once per `interval`, the first turn one slot from now.
pub fn paced_resync<K>(store: Store<K>, interval: Duration) -> impl Stream<Item = ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let slots = slots_for(interval);
    let turn = interval / slots;
    let mut ticker = tokio::time::interval_at(Instant::now() + turn, turn);
    // A late turn (a busy runtime) is taken late, not made up for with a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    stream::unfold((ticker, 0), move |(mut ticker, slot)| {
        let store = store.clone();
        async move {
            ticker.tick().await;
            let due: Vec<ObjectRef<K>> = store
                .state()
                .iter()
                .filter(|resource| {
                    let meta = resource.meta();
                    let name = meta.name.as_deref().unwrap_or_default();
                    slot_of(meta.namespace.as_deref(), name, slots) == slot
                })
                .map(|resource| scheduling_ref(resource.as_ref()))
                .collect();
            Some((stream::iter(due), (ticker, (slot + 1) % slots)))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use std::collections::HashMap;

    /// With a uid and a resourceVersion, which the resync must leave out of its references.
    fn config_map(name: &str) -> ConfigMap {
        let mut resource = test_support::config_map(name);
        resource.metadata.uid = Some(format!("uid-{name}"));
        resource.metadata.resource_version = Some("1".into());
        resource
    }

    #[test]
    fn slots_are_at_least_one_turn_long_and_bounded() {
        assert_eq!(slots_for(Duration::from_millis(50)), 1);
        assert_eq!(slots_for(Duration::from_millis(200)), 2);
        assert_eq!(slots_for(Duration::from_secs(20)), 200);
        assert_eq!(slots_for(Duration::from_secs(300)), MAX_SLOTS);
    }

    #[tokio::test(start_paused = true)]
    async fn every_resource_comes_once_per_interval_spread_over_it() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let names: Vec<String> = (0..1000).map(|i| format!("cm-{i}")).collect();
        for name in &names {
            writer.apply_watcher_event(&Event::Apply(config_map(name)));
        }
        let interval = Duration::from_secs(20);
        let started = Instant::now();
        let mut resyncs = std::pin::pin!(paced_resync(store, interval));

        // Two intervals: each resource twice, an interval apart.
        let mut seen: HashMap<String, Vec<Duration>> = HashMap::new();
        let mut per_turn: HashMap<Duration, usize> = HashMap::new();
        for _ in 0..2 * names.len() {
            let reference = resyncs.next().await.expect("the stream never ends");
            assert!(reference.extra.uid.is_none() && reference.extra.resource_version.is_none());
            let at = started.elapsed();
            *per_turn.entry(at).or_default() += 1;
            seen.entry(reference.name).or_default().push(at);
        }
        assert_eq!(seen.len(), names.len());
        for times in seen.values() {
            assert_eq!(times.len(), 2);
            assert_eq!(times[1] - times[0], interval);
            assert!(times[0] > Duration::ZERO && times[0] <= interval);
        }
        // 1,000 resources over 200 slots: 5 a turn on average, never a burst of them all.
        let busiest = per_turn.values().max().copied().unwrap_or_default();
        assert!(busiest <= 20, "{busiest} resources in one turn");
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_created_later_joins_and_a_deleted_one_leaves() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&Event::Apply(config_map("old")));
        let interval = Duration::from_millis(200);
        let mut resyncs = std::pin::pin!(paced_resync(store, interval));
        assert_eq!(resyncs.next().await.unwrap().name, "old");

        writer.apply_watcher_event(&Event::Delete(config_map("old")));
        writer.apply_watcher_event(&Event::Apply(config_map("new")));
        for _ in 0..3 {
            assert_eq!(resyncs.next().await.unwrap().name, "new");
        }
    }
}
