//! Kubernetes Events for what the operator did or failed to do.
//!
//! An event that cannot be written is logged and dropped: events inform people, and a failing
//! events API must never stop a bid from being placed or cancelled.

use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};

/// Publishes one event about `object`.
pub async fn publish<K>(
    recorder: &Recorder,
    object: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(object = %object.name_any(), %reason, %error, "could not publish an event");
    }
}

/// A `Normal` event.
pub async fn normal<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(recorder, object, EventType::Normal, reason, action, note).await;
}

/// A `Warning` event.
pub async fn warning<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(recorder, object, EventType::Warning, reason, action, note).await;
}
