//! Watch streams: resumption from a resourceVersion (410 as an ERROR event when too old), synthetic
//! ADDED events and streaming lists (`sendInitialEvents`), bookmarks, selectors (objects entering or
//! leaving a selector are ADDED or DELETED), `timeoutSeconds`, and the watch faults (dropped,
//! expired, held).

use super::output::{Form, bookmark_object, present_object};
use super::reads::too_old_error;
use super::resources::ResourceType;
use super::selectors::Selectors;
use super::shared::Shared;
use super::status::ApiError;
use super::store::{Event, EventType, TooOld, WatchItem};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The watch-related query parameters.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub resource_version: Option<String>,
    pub send_initial_events: bool,
    pub allow_bookmarks: bool,
    pub timeout: Duration,
    pub selectors: Selectors,
    pub form: Form,
}

/// Where the stream starts.
enum Start {
    /// Synthetic ADDED events for these objects (then, for a streaming list, the end bookmark).
    Initial(Vec<Arc<Value>>),
    /// Events after the requested resourceVersion.
    Backlog(Vec<Arc<Event>>),
}

/// Opens a watch: a 200 response whose body is one JSON event per line.
pub fn open(
    shared: Arc<Shared>,
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    req: WatchRequest,
    cancel: CancellationToken,
) -> Result<Response, ApiError> {
    let resource = rt.storage_key();
    let held = shared.faults.hold_watch(&rt.plural);
    let forced_expiry = held.is_none() && shared.faults.take_watch_expiry();
    let (start, registration, start_rv) = {
        let mut state = shared.lock();
        let current = state.store.current_rv();
        let requested = match req.resource_version.as_deref() {
            None | Some("") | Some("0") => None,
            Some(rv) => Some(
                rv.parse::<u64>()
                    .map_err(|_| ApiError::watch_resource_version_invalid(rv))?,
            ),
        };
        if held.is_some() || forced_expiry {
            let expired = too_old_error(TooOld {
                requested: requested.unwrap_or(current),
                oldest: current + 1,
            });
            return Ok(match held {
                Some(released) => held_error_stream(released, expired),
                None => error_stream(expired),
            });
        }
        let start = match (req.send_initial_events, requested) {
            (true, _) | (false, None) => {
                let objects = state.store.objects(&resource, namespace.as_deref());
                Start::Initial(
                    objects
                        .into_iter()
                        .filter(|o| req.selectors.matches(o))
                        .collect(),
                )
            }
            (false, Some(rv)) if rv < state.registry.history_start(&resource) => {
                return Ok(error_stream(too_old_error(TooOld {
                    requested: rv,
                    oldest: state.registry.history_start(&resource),
                })));
            }
            (false, Some(rv)) => match state
                .store
                .events_after(&resource, namespace.as_deref(), rv)
            {
                Ok(events) => Start::Backlog(events),
                Err(too_old) => return Ok(error_stream(too_old_error(too_old))),
            },
        };
        let registration = state
            .store
            .register_watcher(&resource, namespace.as_deref());
        (start, registration, current)
    };
    let (out, body) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let stream = WatchStream {
        shared,
        rt,
        req,
        cancel,
        out,
        watcher_id: registration.0,
        first_table: true,
    };
    tokio::spawn(stream.run(start, registration.1, start_rv));
    Ok(stream_response(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(body),
    )))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// HTTP 200, then one ERROR event, then the end of the stream: kube-rs relists on it (an HTTP 410 at
/// watch start would make kube 5 retry the same resourceVersion forever).
fn error_stream(error: ApiError) -> Response {
    let line = event_line("ERROR", error.to_status());
    stream_response(Body::from(line))
}

/// The ERROR event of `error`, sent once the watch is released (or the emulator is gone).
fn held_error_stream(
    mut released: tokio::sync::watch::Receiver<bool>,
    error: ApiError,
) -> Response {
    let line = event_line("ERROR", error.to_status());
    let body = futures::stream::once(async move {
        let _ = released.wait_for(|held| !held).await;
        Ok::<_, Infallible>(line)
    });
    stream_response(Body::from_stream(body))
}

fn event_line(type_: &str, object: Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct WatchStream {
    shared: Arc<Shared>,
    rt: Arc<ResourceType>,
    req: WatchRequest,
    cancel: CancellationToken,
    out: mpsc::Sender<Result<Bytes, Infallible>>,
    watcher_id: u64,
    /// Tables carry column definitions on the first event only, as kube-apiserver sends them.
    first_table: bool,
}

impl WatchStream {
    async fn run(mut self, start: Start, mut events: mpsc::Receiver<WatchItem>, start_rv: u64) {
        let resource = self.rt.storage_key();
        self.stream(start, &mut events, start_rv).await;
        self.shared
            .lock()
            .store
            .unregister_watcher(&resource, self.watcher_id);
    }

    async fn stream(
        &mut self,
        start: Start,
        events: &mut mpsc::Receiver<WatchItem>,
        start_rv: u64,
    ) {
        match start {
            Start::Initial(objects) => {
                for object in objects {
                    if !self.send_object(EventType::Added, &object).await {
                        return;
                    }
                }
                if self.req.send_initial_events {
                    let annotations = json!({"k8s.io/initial-events-end": "true"});
                    let object =
                        bookmark_object(&self.rt, start_rv, self.req.form, Some(annotations));
                    if !self.send(event_line("BOOKMARK", object)).await {
                        return;
                    }
                }
            }
            Start::Backlog(backlog) => {
                for event in backlog {
                    if !self.send_event(&event).await {
                        return;
                    }
                }
            }
        }
        let mut drops = self.shared.faults.watch_drops();
        drops.mark_unchanged();
        let deadline = tokio::time::sleep(self.req.timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(self.shared.options.bookmark_interval);
        bookmarks.tick().await;
        let out = self.out.clone();
        loop {
            tokio::select! {
                item = events.recv() => match item {
                    // The store closed this watcher (it fell behind): end cleanly, the client resumes.
                    None => return,
                    Some(WatchItem::Event(event)) => if !self.send_event(&event).await { return },
                    Some(WatchItem::Bookmark(rv)) => {
                        if self.req.allow_bookmarks {
                            let object = bookmark_object(&self.rt, rv, self.req.form, None);
                            if !self.send(event_line("BOOKMARK", object)).await { return }
                        }
                    }
                },
                _ = bookmarks.tick(), if self.req.allow_bookmarks => {
                    // Queued behind the events already delivered to this watcher, so its resourceVersion is safe.
                    self.shared.lock().store.bookmark(&self.rt.storage_key(), self.watcher_id);
                }
                _ = &mut deadline => return,
                _ = drops.changed() => return,
                _ = self.cancel.cancelled() => return,
                _ = out.closed() => return,
            }
        }
    }

    /// Sends one stored event as seen through this watch's selectors.
    async fn send_event(&mut self, event: &Event) -> bool {
        let selectors = &self.req.selectors;
        let now = selectors.matches(&event.object);
        let type_ = match event.type_ {
            EventType::Added | EventType::Deleted if now => Some(event.type_),
            EventType::Modified => match (
                event.prev.as_deref().is_some_and(|p| selectors.matches(p)),
                now,
            ) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
            _ => None,
        };
        match type_ {
            // Leaving the selector: kube-apiserver sends the object as it was (at the event's
            // resourceVersion), which the selector still matches.
            Some(EventType::Deleted) if event.type_ == EventType::Modified => {
                let mut previous = event.prev.as_deref().cloned().unwrap_or_default();
                previous["metadata"]["resourceVersion"] =
                    event.object["metadata"]["resourceVersion"].clone();
                self.send_object(EventType::Deleted, &previous).await
            }
            Some(type_) => self.send_object(type_, &event.object).await,
            None => true,
        }
    }

    async fn send_object(&mut self, type_: EventType, object: &Value) -> bool {
        let mut presented = present_object(&self.rt, object, self.req.form);
        if matches!(self.req.form, Form::Table(_)) {
            if !self.first_table {
                presented["columnDefinitions"] = json!([]);
            }
            self.first_table = false;
        }
        self.send(event_line(type_.as_str(), presented)).await
    }

    async fn send(&self, line: Bytes) -> bool {
        self.out.send(Ok(line)).await.is_ok()
    }
}
