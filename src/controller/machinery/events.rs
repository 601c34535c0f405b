//! Kubernetes Events for what the operator did or failed to do.
//!
//! An event that cannot be written is logged and dropped: events inform people, and a failing
//! events API must never stop a bid from being placed or cancelled.
//!
//! [`Recorder`] publishes like kube-runtime's recorder (`events.k8s.io/v1`; an event repeated
//! within a few minutes becomes a series on the first one) but remembers, per recent event, only
//! what a repeat needs (when it was created, its count and time), forgets them oldest first, and
//! never walks all of them under one lock as kube-runtime's does (BENCHMARKS.md, rounds 1 and 6).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::Reporter;
pub use kube::runtime::events::{Event, EventType};
use kube::{Client, Resource, ResourceExt};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

/// The longest event note the API server accepts, in bytes.
pub const NOTE_BYTES: usize = 1024;

/// `note` cut to [`NOTE_BYTES`] at a character boundary, ending in `...` when cut: a longer note
/// would make the API server refuse the whole event.
pub fn cut_note(note: &str) -> String {
    if note.len() <= NOTE_BYTES {
        return note.to_owned();
    }
    let mut cut = NOTE_BYTES - 3;
    while !note.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &note[..cut])
}

/// How long a published event is remembered: a repeat within it adds to its series.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Publishes events as the operator (one per process, shared by every reconcile).
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<RecentEvents>,
}

/// What a repeat of a recent event needs: the event is named after its object and this creation
/// time ([`event_name`]), in its object's namespace, which a repeat is about too (both are part
/// of the key).
struct Recent {
    created: Timestamp,
    count: i32,
    last_seen: Timestamp,
}

/// Recent events by key, and their keys in the order they were last published (a key appears
/// once per publish; stale positions are skipped when forgetting).
#[derive(Default)]
struct RecentEvents {
    by_key: HashMap<u64, Recent>,
    order: VecDeque<(Timestamp, u64)>,
}

impl RecentEvents {
    /// Forgets events last published before `cutoff`; amortised O(1) per publish.
    fn forget_before(&mut self, cutoff: Timestamp) {
        while let Some(&(at, key)) = self.order.front() {
            if at >= cutoff {
                break;
            }
            self.order.pop_front();
            if self
                .by_key
                .get(&key)
                .is_some_and(|recent| recent.last_seen == at)
            {
                self.by_key.remove(&key);
            }
        }
    }
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let instance = reporter
            .instance
            .clone()
            .unwrap_or_else(|| reporter.controller.clone());
        Self {
            client,
            controller: reporter.controller,
            instance,
            recent: Mutex::default(),
        }
    }

    /// Publishes `event` about `regarding`: created, or added to the series of the same event
    /// (type, reason, action, object) published in the last few minutes.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = event_key(event, regarding);
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let repeat = {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent.forget_before(now - SERIES_WINDOW);
            recent.by_key.get(&key).map(|r| (r.created, r.count + 1))
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let (created, count) = match repeat {
            Some((created, count)) => {
                let series = serde_json::json!({
                    "series": EventSeries { count, last_observed_time: MicroTime(now) },
                });
                api.patch(
                    &self.event_name(regarding, created),
                    &PatchParams::default(),
                    &Patch::Merge(&series),
                )
                .await?;
                (created, count)
            }
            None => {
                api.create(
                    &PostParams::default(),
                    &self.new_event(event, regarding, now),
                )
                .await?;
                (now, 1)
            }
        };
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.by_key.insert(
            key,
            Recent {
                created,
                count,
                last_seen: now,
            },
        );
        recent.order.push_back((now, key));
        Ok(())
    }

    /// The name of the event about `regarding` created at `created`, as kube-runtime names it.
    fn event_name(&self, regarding: &ObjectReference, created: Timestamp) -> String {
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        format!("{object}.{:x}", created.as_nanosecond())
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            // Every controller's notes pass here: one place keeps them within the API's limit.
            note: event.note.as_deref().map(cut_note),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(self.event_name(regarding, now)),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..K8sEvent::default()
        }
    }

    /// Events remembered for series (for tests and diagnostics).
    pub fn remembered(&self) -> usize {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .len()
    }
}

/// The identity of an event for series: type, reason, action, the object and the related one.
fn event_key(event: &Event, regarding: &ObjectReference) -> u64 {
    let mut hasher = DefaultHasher::new();
    event.type_.hash(&mut hasher);
    event.reason.hash(&mut hasher);
    event.action.hash(&mut hasher);
    for reference in std::iter::once(regarding).chain(event.secondary.as_ref()) {
        reference.api_version.hash(&mut hasher);
        reference.kind.hash(&mut hasher);
        reference.namespace.hash(&mut hasher);
        reference.name.hash(&mut hasher);
        reference.uid.hash(&mut hasher);
    }
    hasher.finish()
}

/// Publishes an event a pure step prepared about `object`; one that cannot be written is logged.
pub async fn publish_event<K>(recorder: &Recorder, object: &K, event: &Event)
where
    K: Resource<DynamicType = ()>,
{
    if let Err(error) = recorder.publish(event, &object.object_ref(&())).await {
        tracing::warn!(object = %object.name_any(), reason = %event.reason, %error, "could not publish an event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(last_seen: Timestamp) -> Recent {
        Recent {
            created: last_seen,
            count: 1,
            last_seen,
        }
    }

    #[test]
    fn forgets_events_oldest_first_and_keeps_repeated_ones() {
        let start = Timestamp::UNIX_EPOCH;
        let minute = SignedDuration::from_mins(1);
        let mut events = RecentEvents::default();
        for (key, at) in [(1, start), (2, start + minute), (1, start + minute * 3)] {
            events.by_key.insert(key, recent(at));
            events.order.push_back((at, key));
        }
        // Key 1 was published again at minute 3: its first position no longer forgets it.
        events.forget_before(start + minute * 2);
        assert_eq!(events.by_key.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(events.order.len(), 1);
        events.forget_before(start + minute * 4);
        assert!(events.by_key.is_empty() && events.order.is_empty());
    }

    #[test]
    fn notes_are_cut_to_the_api_limit_at_a_character_boundary() {
        assert_eq!(cut_note("short"), "short");
        let exact = "x".repeat(NOTE_BYTES);
        assert_eq!(cut_note(&exact), exact);
        // Two-byte characters: the cut may not fall inside one.
        let long = format!("x{}", "é".repeat(NOTE_BYTES));
        let cut = cut_note(&long);
        assert!(cut.len() <= NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with("...") && cut.starts_with("xé"));
    }

    #[tokio::test]
    async fn every_published_note_fits_the_api_limit() {
        let recorder = Recorder::new(
            kube_emulator::Emulator::new().client(),
            Reporter {
                controller: "mithril-operator".into(),
                instance: None,
            },
        );
        let event = Event {
            type_: EventType::Warning,
            reason: "BidCreateFailed".into(),
            note: Some(format!("Mithril said: {}", "detail ".repeat(400))),
            action: "Create".into(),
            secondary: None,
        };
        let regarding = ObjectReference {
            kind: Some("SpotBid".into()),
            namespace: Some("team".into()),
            name: Some("train".into()),
            ..ObjectReference::default()
        };
        let written = recorder.new_event(&event, &regarding, Timestamp::UNIX_EPOCH);
        let note = written.note.expect("a note");
        assert!(note.len() <= NOTE_BYTES && note.starts_with("Mithril said: detail"));
    }

    #[test]
    fn series_are_per_reason_action_and_object() {
        let object = |name: &str| ObjectReference {
            kind: Some("SpotBid".into()),
            namespace: Some("team".into()),
            name: Some(name.into()),
            ..ObjectReference::default()
        };
        let event = |reason: &str, note: &str| Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Update".into(),
            secondary: None,
        };
        let key = event_key(&event("BidUpdated", "a"), &object("one"));
        assert_eq!(key, event_key(&event("BidUpdated", "b"), &object("one")));
        assert_ne!(key, event_key(&event("BidUpdated", "a"), &object("two")));
        assert_ne!(key, event_key(&event("BidCreated", "a"), &object("one")));
    }
}
