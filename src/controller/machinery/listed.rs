//! The objects a watch touched, each handed to the controller once its cache shows it.
//!
//! kube-runtime's cache takes a list's objects only at the list's end (`InitDone`), and its
//! controller drops a trigger whose object the cache lacks (`ObjectNotFound`): after a watch
//! outage, an object created meanwhile would wait for its resync, and one changed meanwhile would
//! be reconciled from its old version. A list's objects are handed over at its end instead.

use futures::{Stream, StreamExt, future, stream};
use kube::runtime::watcher::{Error, Event};

/// What kube-runtime's `touched_objects()` yields of `events` (read after the cache took them),
/// a list's objects held until the list is done.
pub fn touched_when_cached<K, S>(events: S) -> impl Stream<Item = Result<K, Error>>
where
    S: Stream<Item = Result<Event<K>, Error>>,
{
    events
        .scan(Vec::new(), |listed, event| {
            let ready: Vec<Result<K, Error>> = match event {
                Ok(Event::Apply(object) | Event::Delete(object)) => vec![Ok(object)],
                // A list that starts again (the last one failed midway) lists everything again.
                Ok(Event::Init) => {
                    listed.clear();
                    Vec::new()
                }
                Ok(Event::InitApply(object)) => {
                    listed.push(object);
                    Vec::new()
                }
                Ok(Event::InitDone) => std::mem::take(listed).into_iter().map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            future::ready(Some(stream::iter(ready)))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::config_map;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector::{self, ObjectRef};

    #[tokio::test]
    async fn every_object_handed_over_is_in_the_cache() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let events = [
            Event::Init,
            Event::InitApply(config_map("a")),
            Event::InitDone,
            Event::Apply(config_map("b")),
            // A relist after an outage: c was created meanwhile, b deleted.
            Event::Init,
            Event::InitApply(config_map("a")),
            Event::InitApply(config_map("c")),
            Event::InitDone,
            Event::Delete(config_map("a")),
        ];
        let handed = touched_when_cached(reflector::reflector(
            writer,
            stream::iter(events.into_iter().map(Ok)),
        ));
        let mut handed = std::pin::pin!(handed);
        let mut seen = Vec::new();
        while let Some(object) = handed.next().await {
            let object = object.expect("no error");
            let cached = store.get(&ObjectRef::from_obj(&object)).is_some();
            seen.push((object.metadata.name.unwrap_or_default(), cached));
        }
        let expected = [
            ("a", true),
            ("b", true),
            ("a", true),
            ("c", true),
            ("a", false),
        ];
        // The deleted a is handed over as `touched_objects()` does, gone from the cache.
        assert_eq!(
            seen,
            expected.map(|(name, cached)| (name.to_owned(), cached))
        );
    }
}
