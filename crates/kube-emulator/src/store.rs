//! The object store: every collection, one global monotonic resourceVersion, a bounded history of
//! change events (watch resumption and consistent paged lists), and the fan-out to watchers.
//!
//! Callers hold the emulator's state lock around every call, so a write, its history entry and its
//! delivery to watchers are one atomic step, and a watcher that registers sees exactly the events
//! after the snapshot it was given.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where an object lives inside its collection. Cluster-scoped objects have an empty namespace.
/// Ordered by namespace then name: list pages and continue tokens follow this order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        Self {
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change. `prev` is the state before it (None for a creation): watchers with
/// selectors need it, and paged lists rebuild older snapshots from it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub resource: String,
    pub key: ObjectKey,
    pub type_: EventType,
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
}

/// What a watcher receives, in commit order.
#[derive(Debug, Clone)]
pub enum WatchItem {
    Event(Arc<Event>),
    /// Every change up to this resourceVersion has been delivered.
    Bookmark(u64),
}

/// The resourceVersion asked for is older than the history kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

/// One page of a list, taken from one snapshot.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Arc<Value>>,
    /// Set when more matching objects follow: the key of the last item returned.
    pub more_after: Option<ObjectKey>,
}

struct WatcherSlot {
    id: u64,
    namespace: Option<String>,
    sender: mpsc::Sender<WatchItem>,
}

pub struct Store {
    rv: u64,
    collections: HashMap<String, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Events up to and including this resourceVersion are no longer in `history`.
    compacted_rv: u64,
    watchers: HashMap<String, Vec<WatcherSlot>>,
    next_watcher_id: u64,
    watcher_buffer: usize,
    /// uid → where the object is stored (owner lookups for garbage collection).
    uids: HashMap<String, (String, ObjectKey)>,
    /// owner uid → objects naming it in their ownerReferences.
    dependents: HashMap<String, HashSet<(String, ObjectKey)>>,
}

impl Store {
    pub fn new(history_limit: usize, watcher_buffer: usize) -> Self {
        Self {
            rv: 0,
            collections: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted_rv: 0,
            watchers: HashMap::new(),
            next_watcher_id: 0,
            watcher_buffer: watcher_buffer.max(1),
            uids: HashMap::new(),
            dependents: HashMap::new(),
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, resource: &str, key: &ObjectKey) -> Option<Arc<Value>> {
        self.collections.get(resource)?.get(key).cloned()
    }

    pub fn len(&self, resource: &str) -> usize {
        self.collections.get(resource).map_or(0, BTreeMap::len)
    }

    /// Stores `object` under a new resourceVersion (ADDED or MODIFIED) and returns it as stored.
    pub fn put(&mut self, resource: &str, key: ObjectKey, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        set_resource_version(&mut object, self.rv);
        let object = Arc::new(object);
        let prev = self
            .collections
            .entry(resource.to_string())
            .or_default()
            .insert(key.clone(), object.clone());
        if let Some(prev) = &prev {
            self.unindex(resource, &key, prev);
        }
        self.index(resource, &key, &object);
        let type_ = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv: self.rv,
            resource: resource.to_string(),
            key,
            type_,
            object: object.clone(),
            prev,
        });
        object
    }

    /// Removes an object; `last_state` (usually the stored object) is what the DELETED event carries,
    /// under a new resourceVersion. None when it was not there.
    pub fn remove(
        &mut self,
        resource: &str,
        key: &ObjectKey,
        mut last_state: Value,
    ) -> Option<Arc<Value>> {
        let prev = self.collections.get_mut(resource)?.remove(key)?;
        self.unindex(resource, key, &prev);
        self.rv += 1;
        set_resource_version(&mut last_state, self.rv);
        let object = Arc::new(last_state);
        self.record(Event {
            rv: self.rv,
            resource: resource.to_string(),
            key: key.clone(),
            type_: EventType::Deleted,
            object: object.clone(),
            prev: Some(prev),
        });
        Some(object)
    }

    /// Whether an object with this uid is stored.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.uids.contains_key(uid)
    }

    /// Objects naming `uid` in their ownerReferences: (storage key, object key).
    pub fn dependents_of(&self, uid: &str) -> Vec<(String, ObjectKey)> {
        self.dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn index(&mut self, resource: &str, key: &ObjectKey, object: &Value) {
        if let Some(uid) = object["metadata"]["uid"].as_str() {
            self.uids
                .insert(uid.to_string(), (resource.to_string(), key.clone()));
        }
        for owner in owner_uids(object) {
            self.dependents
                .entry(owner)
                .or_default()
                .insert((resource.to_string(), key.clone()));
        }
    }

    fn unindex(&mut self, resource: &str, key: &ObjectKey, object: &Value) {
        if let Some(uid) = object["metadata"]["uid"].as_str() {
            self.uids.remove(uid);
        }
        for owner in owner_uids(object) {
            if let Some(dependents) = self.dependents.get_mut(&owner) {
                dependents.remove(&(resource.to_string(), key.clone()));
                if dependents.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    /// Keys of a collection, optionally within one namespace.
    pub fn keys(&self, resource: &str, namespace: Option<&str>) -> Vec<ObjectKey> {
        self.scope(resource, namespace, None)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Current objects of a collection in key order, optionally within one namespace.
    pub fn objects(&self, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.scope(resource, namespace, None)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn scope<'a>(
        &'a self,
        resource: &str,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a> {
        let Some(collection) = self.collections.get(resource) else {
            return Box::new(std::iter::empty());
        };
        let start = match (after, namespace) {
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(ns)) => Bound::Included(ObjectKey::new(Some(ns), "")),
            (None, None) => Bound::Unbounded,
        };
        let range = collection.range((start, Bound::Unbounded));
        match namespace {
            Some(ns) => Box::new(range.take_while(move |(k, _)| k.namespace == ns)),
            None => Box::new(range),
        }
    }

    /// One page of the collection as it was at `snapshot_rv`: current objects, with those changed
    /// since the snapshot replaced by their state then (from the history). Work is proportional to
    /// the page and to the changes since the snapshot, not to the collection.
    pub fn page(
        &self,
        resource: &str,
        namespace: Option<&str>,
        snapshot_rv: u64,
        after: Option<&ObjectKey>,
        limit: Option<usize>,
        matches: &dyn Fn(&Value) -> bool,
    ) -> Result<Page, TooOld> {
        if snapshot_rv < self.compacted_rv {
            return Err(TooOld {
                requested: snapshot_rv,
                oldest: self.compacted_rv + 1,
            });
        }
        let in_scope = |key: &ObjectKey| {
            namespace.is_none_or(|ns| key.namespace == ns) && after.is_none_or(|after| key > after)
        };
        // The state at the snapshot of every key changed since: the `prev` of its first later event.
        let mut then: BTreeMap<&ObjectKey, Option<&Arc<Value>>> = BTreeMap::new();
        let first_later = self.history.partition_point(|e| e.rv <= snapshot_rv);
        for event in self.history.range(first_later..) {
            if event.resource == resource && in_scope(&event.key) {
                then.entry(&event.key).or_insert(event.prev.as_ref());
            }
        }
        let mut current = self
            .scope(resource, namespace, after)
            .filter(|(k, _)| !then.contains_key(k))
            .peekable();
        let mut replaced = then
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .peekable();
        let mut next = move || -> Option<(&ObjectKey, &Arc<Value>)> {
            match (current.peek(), replaced.peek()) {
                (Some((a, _)), Some((b, _))) => {
                    if a < b {
                        current.next()
                    } else {
                        replaced.next()
                    }
                }
                (Some(_), None) => current.next(),
                (None, Some(_)) => replaced.next(),
                (None, None) => None,
            }
        };
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        while let Some((key, object)) = next() {
            if !matches(object) {
                continue;
            }
            if items.len() == limit {
                return Ok(Page {
                    items,
                    more_after: last_key,
                });
            }
            items.push(object.clone());
            last_key = Some(key.clone());
        }
        Ok(Page {
            items,
            more_after: None,
        })
    }

    /// Events of `resource` after `rv` (optionally within one namespace), for a watch resuming there.
    pub fn events_after(
        &self,
        resource: &str,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<Arc<Event>>, TooOld> {
        if rv < self.compacted_rv {
            return Err(TooOld {
                requested: rv,
                oldest: self.compacted_rv + 1,
            });
        }
        let first = self.history.partition_point(|e| e.rv <= rv);
        Ok(self
            .history
            .range(first..)
            .filter(|e| e.resource == resource && namespace.is_none_or(|ns| e.key.namespace == ns))
            .cloned()
            .collect())
    }

    /// A new watcher on `resource`, receiving every event committed from now on.
    pub fn register_watcher(
        &mut self,
        resource: &str,
        namespace: Option<&str>,
    ) -> (u64, mpsc::Receiver<WatchItem>) {
        let (sender, receiver) = mpsc::channel(self.watcher_buffer);
        self.next_watcher_id += 1;
        let id = self.next_watcher_id;
        self.watchers
            .entry(resource.to_string())
            .or_default()
            .push(WatcherSlot {
                id,
                namespace: namespace.map(str::to_string),
                sender,
            });
        (id, receiver)
    }

    pub fn unregister_watcher(&mut self, resource: &str, id: u64) {
        if let Some(slots) = self.watchers.get_mut(resource) {
            slots.retain(|slot| slot.id != id);
        }
    }

    /// Queues a bookmark at the current resourceVersion behind the events already queued for that watcher.
    pub fn bookmark(&mut self, resource: &str, id: u64) {
        let rv = self.rv;
        if let Some(slots) = self.watchers.get_mut(resource) {
            slots.retain(|slot| {
                slot.id != id || slot.sender.try_send(WatchItem::Bookmark(rv)).is_ok()
            });
        }
    }

    pub fn watcher_count(&self) -> usize {
        self.watchers.values().map(Vec::len).sum()
    }

    fn record(&mut self, event: Event) {
        let event = Arc::new(event);
        if let Some(slots) = self.watchers.get_mut(&event.resource) {
            // A watcher that cannot keep up is closed, as kube-apiserver does: its client resumes
            // from the last resourceVersion it saw.
            slots.retain(|slot| {
                if slot
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| ns != event.key.namespace)
                {
                    return !slot.sender.is_closed();
                }
                slot.sender
                    .try_send(WatchItem::Event(event.clone()))
                    .is_ok()
            });
        }
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
    }
}

/// The uids in an object's ownerReferences.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(name: &str, value: i64) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}, "value": value})
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(Some("ns"), name)
    }

    #[test]
    fn pages_rebuild_the_snapshot_from_history() {
        let mut store = Store::new(100, 10);
        for name in ["a", "b", "c", "d"] {
            store.put("r", key(name), object(name, 0));
        }
        let snapshot = store.current_rv();
        store.put("r", key("b"), object("b", 1));
        store.remove("r", &key("c"), object("c", 0));
        store.put("r", key("bb"), object("bb", 0));
        let all = |_: &Value| true;
        let page = store
            .page("r", Some("ns"), snapshot, Some(&key("a")), Some(2), &all)
            .unwrap();
        let seen: Vec<(String, i64)> = page
            .items
            .iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    o["value"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(seen, [("b".to_string(), 0), ("c".to_string(), 0)]);
        assert_eq!(page.more_after, Some(key("c")));
        let now = store
            .page("r", Some("ns"), store.current_rv(), None, None, &all)
            .unwrap();
        assert_eq!(now.items.len(), 4);
    }

    #[test]
    fn compacted_history_is_too_old() {
        let mut store = Store::new(2, 10);
        for name in ["a", "b", "c"] {
            store.put("r", key(name), object(name, 0));
        }
        assert_eq!(
            store.events_after("r", None, 0).unwrap_err(),
            TooOld {
                requested: 0,
                oldest: 2
            }
        );
        assert_eq!(store.events_after("r", None, 1).unwrap().len(), 2);
        let all = |_: &Value| true;
        assert!(store.page("r", None, 0, None, None, &all).is_err());
    }

    #[test]
    fn a_watcher_that_falls_behind_is_closed_after_its_buffer() {
        let mut store = Store::new(100, 2);
        let (_, mut receiver) = store.register_watcher("r", None);
        for name in ["a", "b", "c"] {
            store.put("r", key(name), object(name, 0));
        }
        assert_eq!(store.watcher_count(), 0);
        let mut delivered = 0;
        while let Ok(WatchItem::Event(_)) = receiver.try_recv() {
            delivered += 1;
        }
        assert_eq!(
            delivered, 2,
            "buffered events are still delivered, then the stream ends"
        );
    }

    #[test]
    fn namespaced_watchers_only_get_their_namespace() {
        let mut store = Store::new(100, 10);
        let (_, mut receiver) = store.register_watcher("r", Some("other"));
        store.put("r", key("a"), object("a", 0));
        assert!(receiver.try_recv().is_err());
        assert_eq!(store.watcher_count(), 1);
    }
}
