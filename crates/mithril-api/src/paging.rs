//! Cursor pagination: one page at a time, or every item as a stream.
//!
//! Mithril lists return `next_cursor`; `null` (or an empty string) means the last page. A server
//! bug that hands back a cursor already followed would make a naive loop spin forever, so the
//! stream remembers every cursor and ends with [`MithrilError::RepeatedCursor`] instead.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::error::MithrilError;

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page, normalizing an empty cursor to "no more pages".
    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Page {
            items,
            next_cursor: next_cursor.filter(|cursor| !cursor.is_empty()),
        }
    }
}

/// Remembers the cursors followed so far.
#[derive(Debug, Default)]
pub struct CursorTracker {
    seen: HashSet<String>,
}

impl CursorTracker {
    /// Records the cursor of the first request, if it has one.
    pub fn starting_at(cursor: Option<&str>) -> Self {
        let mut tracker = CursorTracker::default();
        if let Some(cursor) = cursor {
            tracker.seen.insert(cursor.to_owned());
        }
        tracker
    }

    /// The cursor to follow next: `Ok(None)` when the list is complete, `Err(cursor)` when the
    /// server repeated a cursor.
    pub fn follow(&mut self, next: Option<String>) -> Result<Option<String>, String> {
        match next.filter(|cursor| !cursor.is_empty()) {
            None => Ok(None),
            Some(cursor) if self.seen.insert(cursor.clone()) => Ok(Some(cursor)),
            Some(cursor) => Err(cursor),
        }
    }
}

/// Streams every item of a list, fetching pages with `fetch(cursor)` lazily. Errors end the
/// stream after being yielded.
pub(crate) fn paginate<'a, T, F, Fut>(
    endpoint: Endpoint,
    first_cursor: Option<String>,
    fetch: F,
) -> impl Stream<Item = Result<T, MithrilError>> + 'a
where
    T: 'a,
    F: FnMut(Option<String>) -> Fut + 'a,
    Fut: Future<Output = Result<Page<T>, MithrilError>> + 'a,
{
    struct State<F> {
        fetch: F,
        cursor: Option<String>,
        tracker: CursorTracker,
        done: bool,
    }
    let state = State {
        fetch,
        tracker: CursorTracker::starting_at(first_cursor.as_deref()),
        cursor: first_cursor,
        done: false,
    };
    stream::unfold(state, move |mut state| {
        let endpoint = endpoint.clone();
        async move {
            if state.done {
                return None;
            }
            let batch: Vec<Result<T, MithrilError>> = match (state.fetch)(state.cursor.take()).await
            {
                Err(error) => {
                    state.done = true;
                    vec![Err(error)]
                }
                Ok(page) => {
                    let mut batch: Vec<_> = page.items.into_iter().map(Ok).collect();
                    match state.tracker.follow(page.next_cursor) {
                        Ok(Some(next)) => state.cursor = Some(next),
                        Ok(None) => state.done = true,
                        Err(cursor) => {
                            state.done = true;
                            batch.push(Err(MithrilError::RepeatedCursor { endpoint, cursor }));
                        }
                    }
                    batch
                }
            };
            Some((stream::iter(batch), state))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::LIST_BIDS;
    use futures::TryStreamExt;

    #[test]
    fn tracker_detects_repeats_and_ends_on_null_or_empty() {
        let mut tracker = CursorTracker::starting_at(Some("c0"));
        assert_eq!(tracker.follow(Some("c1".into())), Ok(Some("c1".into())));
        assert_eq!(tracker.follow(Some("c2".into())), Ok(Some("c2".into())));
        assert_eq!(tracker.follow(Some("c1".into())), Err("c1".into()));
        assert_eq!(
            tracker.follow(Some("c0".into())),
            Err("c0".into()),
            "the starting cursor counts"
        );
        assert_eq!(tracker.follow(None), Ok(None));
        assert_eq!(tracker.follow(Some(String::new())), Ok(None));
    }

    fn pages(
        script: Vec<(Vec<u32>, Option<&'static str>)>,
    ) -> impl FnMut(Option<String>) -> std::future::Ready<Result<Page<u32>, MithrilError>> {
        let mut script = script.into_iter();
        move |_cursor| {
            let (items, next) = script.next().expect("fetched past the scripted pages");
            std::future::ready(Ok(Page::new(items, next.map(str::to_owned))))
        }
    }

    #[tokio::test]
    async fn streams_all_pages_until_null() {
        let items: Vec<u32> = paginate(
            LIST_BIDS,
            None,
            pages(vec![
                (vec![1, 2], Some("a")),
                (vec![3], Some("b")),
                (vec![4], None),
            ]),
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn repeated_cursor_yields_the_page_then_an_error() {
        let results: Vec<_> = paginate(
            LIST_BIDS,
            None,
            pages(vec![
                (vec![1], Some("a")),
                (vec![2], Some("a")),
                (vec![9], None),
            ]),
        )
        .collect()
        .await;
        assert_eq!(results.len(), 3);
        assert_eq!(results[1].as_ref().ok(), Some(&2));
        assert!(
            matches!(&results[2], Err(MithrilError::RepeatedCursor { cursor, .. }) if cursor == "a")
        );
    }
}
