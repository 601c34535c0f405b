//! The watch events worth a reconcile: a resource is passed on when what a reconcile acts on
//! (hashed by the caller) changed since it was last passed on, or when it is deleted.
//!
//! kube-runtime's `predicate_filter` does the same but remembers each resource as three strings
//! for an hour; this filter keeps a 16-byte digest per resource, forgets a resource when its
//! deletion is seen, and after a relist forgets those the relist no longer showed (BENCHMARKS.md,
//! rounds 1 and 6).

use crate::digest::digest;
use futures::{Stream, StreamExt, future};
use kube::Resource;
use kube::runtime::watcher::{self, Event};
use std::collections::{HashMap, HashSet};

/// The resources of `events` worth a reconcile, by `worthy`'s hash of each (see the module).
pub fn worthy_changes<K, S>(
    events: S,
    worthy: fn(&K) -> u64,
) -> impl Stream<Item = Result<K, watcher::Error>>
where
    K: Resource,
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut filter = WorthyFilter::new(worthy);
    events.filter_map(move |event| future::ready(event.map(|e| filter.admit(e)).transpose()))
}

/// The last hash passed on per resource identity, and the identities a relist has shown so far.
struct WorthyFilter<K> {
    worthy: fn(&K) -> u64,
    passed: HashMap<u64, u64>,
    relisted: Option<HashSet<u64>>,
}

impl<K: Resource> WorthyFilter<K> {
    fn new(worthy: fn(&K) -> u64) -> Self {
        WorthyFilter {
            worthy,
            passed: HashMap::new(),
            relisted: None,
        }
    }

    /// The resource to reconcile for `event`, if any.
    fn admit(&mut self, event: Event<K>) -> Option<K> {
        match event {
            Event::Init => {
                self.relisted = Some(HashSet::new());
                None
            }
            Event::InitApply(resource) => {
                let identity = identity(&resource);
                if let Some(relisted) = &mut self.relisted {
                    relisted.insert(identity);
                }
                self.changed(identity, resource)
            }
            Event::InitDone => {
                if let Some(relisted) = self.relisted.take() {
                    self.passed
                        .retain(|identity, _| relisted.contains(identity));
                    self.passed.shrink_to_fit();
                }
                None
            }
            Event::Apply(resource) => self.changed(identity(&resource), resource),
            Event::Delete(resource) => {
                // Passed on whatever it hashes to: the reconcile finds it gone and forgets it.
                self.passed.remove(&identity(&resource));
                Some(resource)
            }
        }
    }

    fn changed(&mut self, identity: u64, resource: K) -> Option<K> {
        let hash = (self.worthy)(&resource);
        let before = self.passed.insert(identity, hash);
        (before != Some(hash)).then_some(resource)
    }
}

/// A resource's identity: namespace, name and uid (a resource deleted and created again under
/// the same name is another resource).
fn identity<K: Resource>(resource: &K) -> u64 {
    let meta = resource.meta();
    digest(&(&meta.namespace, &meta.name, &meta.uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn config_map(name: &str, uid: &str, generation: i64) -> ConfigMap {
        let mut resource = test_support::config_map(name);
        resource.metadata.uid = Some(uid.into());
        resource.metadata.generation = Some(generation);
        resource
    }

    fn generation(resource: &ConfigMap) -> u64 {
        resource.metadata.generation.unwrap_or_default() as u64
    }

    fn names(admitted: &[Option<ConfigMap>]) -> Vec<Option<String>> {
        admitted
            .iter()
            .map(|r| r.as_ref().and_then(|r| r.metadata.name.clone()))
            .collect()
    }

    #[test]
    fn only_changes_of_the_hash_and_deletions_pass() {
        let mut filter = WorthyFilter::new(generation);
        let admitted: Vec<Option<ConfigMap>> = [
            Event::Apply(config_map("a", "1", 1)),
            Event::Apply(config_map("a", "1", 1)),
            Event::Apply(config_map("a", "1", 2)),
            Event::Delete(config_map("a", "1", 2)),
            // Created again under the same name: another resource.
            Event::Apply(config_map("a", "2", 2)),
        ]
        .into_iter()
        .map(|event| filter.admit(event))
        .collect();
        let a = Some("a".to_owned());
        assert_eq!(names(&admitted), [a.clone(), None, a.clone(), a.clone(), a]);
        assert_eq!(filter.passed.len(), 1);
    }

    #[test]
    fn a_relist_passes_what_changed_and_forgets_what_it_no_longer_shows() {
        let mut filter = WorthyFilter::new(generation);
        filter.admit(Event::Apply(config_map("a", "1", 1)));
        filter.admit(Event::Apply(config_map("b", "2", 1)));
        let admitted: Vec<Option<ConfigMap>> = [
            Event::Init,
            Event::InitApply(config_map("a", "1", 1)),
            Event::InitApply(config_map("c", "3", 1)),
            Event::InitDone,
        ]
        .into_iter()
        .map(|event| filter.admit(event))
        .collect();
        assert_eq!(names(&admitted), [None, None, Some("c".into()), None]);
        // "b" was deleted while the watch was down: forgotten.
        let mut kept: Vec<u64> = filter.passed.keys().copied().collect();
        kept.sort();
        let mut expected = vec![
            identity(&config_map("a", "1", 1)),
            identity(&config_map("c", "3", 1)),
        ];
        expected.sort();
        assert_eq!(kept, expected);
    }
}
