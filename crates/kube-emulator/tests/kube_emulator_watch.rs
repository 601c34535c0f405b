//! Conformance: watches (resumption, 410 as an ERROR event, streaming lists, bookmarks, timeouts,
//! selectors, metadata-only watches) and the watch faults.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube_emulator::{Emulator, EmulatorOptions};
use serde_json::json;
use std::time::Duration;

fn name_of<K: kube::Resource>(event: &WatchEvent<K>) -> String {
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
            o.meta().name.clone().unwrap_or_default()
        }
        WatchEvent::Bookmark(b) => format!("bookmark@{}", b.metadata.resource_version),
        WatchEvent::Error(s) => format!("error {}", s.code),
    }
}

fn kind_of<K>(event: &WatchEvent<K>) -> &'static str {
    match event {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        WatchEvent::Bookmark(_) => "BOOKMARK",
        WatchEvent::Error(_) => "ERROR",
    }
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let a = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let from = a.metadata.resource_version.unwrap();
    widgets
        .create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    widgets.delete("b", &DeleteParams::default()).await.unwrap();
    let stream = widgets.watch(&WatchParams::default(), &from).await.unwrap();
    let events: Vec<_> = stream.take(3).try_collect().await.unwrap();
    let seen: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", kind_of(e), name_of(e)))
        .collect();
    assert_eq!(seen, ["ADDED b", "MODIFIED a", "DELETED b"]);
    if let WatchEvent::Deleted(b) = &events[2] {
        assert!(
            b.metadata
                .resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty())
        );
    }
}

#[tokio::test]
async fn too_old_resource_version_is_an_error_event_on_a_200_stream() {
    let emulator = Emulator::with_options(EmulatorOptions {
        history_limit: 2,
        ..Default::default()
    });
    let client = emulator.client();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..4 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    let (code, body) = raw(
        &client,
        get("/api/v1/namespaces/default/configmaps?&watch=true&timeoutSeconds=5&resourceVersion=1"),
    )
    .await;
    assert_eq!(code, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1);
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(
        event["object"],
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("too old resource version: 1 ({})", emulator.resource_version() - 1),
               "reason": "Expired", "code": 410})
    );
}

#[tokio::test]
async fn forced_expiry_sends_410_to_the_next_watch_only() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let rv = emulator.resource_version().to_string();
    emulator.faults().expire_next_watch();
    let mut expired = widgets
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match expired.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        expired.try_next().await.unwrap().is_none(),
        "the stream ends after the error"
    );
    let mut healthy = widgets
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert_eq!(name_of(&healthy.try_next().await.unwrap().unwrap()), "a");
}

#[tokio::test]
async fn streaming_list_sends_initial_events_then_a_marked_bookmark() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    for name in ["a", "b"] {
        widgets
            .create(&PostParams::default(), &widget(name, 1))
            .await
            .unwrap();
    }
    let mut stream = widgets
        .watch(&WatchParams::streaming_lists(), "0")
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(stream.try_next().await.unwrap().unwrap());
    }
    assert_eq!(kind_of(&seen[0]), "ADDED");
    assert_eq!(kind_of(&seen[1]), "ADDED");
    let WatchEvent::Bookmark(bookmark) = &seen[2] else {
        panic!("expected the initial-events-end bookmark")
    };
    assert_eq!(
        bookmark
            .metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        bookmark.metadata.resource_version,
        emulator.resource_version().to_string()
    );
    widgets
        .create(&PostParams::default(), &widget("c", 1))
        .await
        .unwrap();
    assert_eq!(name_of(&stream.try_next().await.unwrap().unwrap()), "c");
}

#[tokio::test]
async fn unset_resource_version_starts_with_synthetic_added_events() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let mut stream = widgets
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let first = stream.try_next().await.unwrap().unwrap();
    assert_eq!((kind_of(&first), name_of(&first).as_str()), ("ADDED", "a"));
}

#[tokio::test]
async fn bookmarks_carry_the_delivered_resource_version_and_timeout_closes_the_stream() {
    let emulator = Emulator::with_options(EmulatorOptions {
        bookmark_interval: Duration::from_millis(20),
        ..Default::default()
    });
    let configmaps: Api<ConfigMap> = Api::namespaced(emulator.client(), "default");
    let rv = emulator.resource_version().to_string();
    let mut stream = configmaps
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    let mut bookmarks = 0;
    // Nothing changes: the stream holds only bookmarks at the current resourceVersion, then ends at its timeout.
    while let Some(event) = stream.try_next().await.unwrap() {
        let WatchEvent::Bookmark(bookmark) = event else {
            panic!("only bookmarks expected")
        };
        assert_eq!(bookmark.metadata.resource_version, rv);
        assert_eq!(bookmark.types.kind, "ConfigMap");
        bookmarks += 1;
    }
    assert!(bookmarks > 0);
    // The stream's task unregisters its watcher as it ends.
    while emulator.watcher_count() > 0 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn label_selector_watch_sees_objects_enter_and_leave() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let rv = emulator.resource_version().to_string();
    let mut stream = widgets
        .watch(&WatchParams::default().labels("env=prod"), &rv)
        .await
        .unwrap()
        .boxed();
    widgets
        .create(&PostParams::default(), &widget("plain", 1))
        .await
        .unwrap();
    let label = |env: &str| json!({"metadata": {"labels": {"env": env}}});
    widgets
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(&label("prod")),
        )
        .await
        .unwrap();
    widgets
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap();
    widgets
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(&label("dev")),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(kind_of(&stream.try_next().await.unwrap().unwrap()));
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn namespaced_watch_ignores_other_namespaces() {
    let (emulator, client) = emulator_with_crds().await;
    let in_system: Api<Widget> = Api::namespaced(client.clone(), "kube-system");
    let in_default: Api<Widget> = Api::namespaced(client, "default");
    let rv = emulator.resource_version().to_string();
    let mut stream = in_default
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    in_system
        .create(&PostParams::default(), &widget("elsewhere", 1))
        .await
        .unwrap();
    in_default
        .create(&PostParams::default(), &widget("here", 1))
        .await
        .unwrap();
    assert_eq!(name_of(&stream.try_next().await.unwrap().unwrap()), "here");
}

#[tokio::test]
async fn metadata_watch_streams_partial_object_metadata() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let rv = emulator.resource_version().to_string();
    let mut stream = widgets
        .watch_metadata(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let WatchEvent::Added(meta) = stream.try_next().await.unwrap().unwrap() else {
        panic!("ADDED expected")
    };
    assert_eq!(meta.metadata.name.as_deref(), Some("a"));
    assert_eq!(meta.types.unwrap().kind, "PartialObjectMetadata");
}

#[tokio::test]
async fn dropping_all_watches_ends_streams_cleanly() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let rv = emulator.resource_version().to_string();
    let mut stream = widgets
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert_eq!(name_of(&stream.try_next().await.unwrap().unwrap()), "a");
    emulator.faults().drop_all_watches();
    assert!(stream.try_next().await.unwrap().is_none());
}

/// kube-apiserver's watch cache of a custom resource starts with its CRD: a watch from an older
/// resourceVersion is a 410 ERROR event, even where the emulator's history reaches back.
#[tokio::test]
async fn watch_from_before_the_crd_existed_is_too_old() {
    let emulator = Emulator::new();
    let client = emulator.client();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "before"}})).unwrap();
    let before = configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    install_crd(&client, gadget_crd()).await;
    let installed = emulator.resource_version();
    let (code, body) = raw(
        &client,
        get(&format!(
            "/apis/test.mithril.ai/v1/namespaces/default/gadgets?watch=true&timeoutSeconds=1&resourceVersion={before}"
        )),
    )
    .await;
    assert_eq!(code, 200);
    let event: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    let message = event["object"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("too old resource version: {before} (")),
        "{message}"
    );
    // From the CRD's own resourceVersion on, the watch runs.
    let (code, body) = raw(
        &client,
        get(&format!(
            "/apis/test.mithril.ai/v1/namespaces/default/gadgets?watch=true&timeoutSeconds=1&resourceVersion={installed}"
        )),
    )
    .await;
    assert_eq!((code, body.as_str()), (200, ""));
}

/// An object leaving a watch's selector is DELETED as it was (still matching), at the
/// resourceVersion of the change, as kube-apiserver sends it.
#[tokio::test]
async fn leaving_the_selector_is_deleted_with_the_previous_object() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = widget("w", 1);
    w.metadata.labels = Some([("env".to_string(), "prod".to_string())].into());
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let rv = emulator.resource_version().to_string();
    let mut stream = widgets
        .watch(&WatchParams::default().labels("env=prod"), &rv)
        .await
        .unwrap()
        .boxed();
    let moved = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"env": "dev"}}})),
        )
        .await
        .unwrap();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(gone) => {
            assert_eq!(gone.metadata.labels.unwrap()["env"], "prod");
            assert_eq!(
                gone.metadata.resource_version,
                moved.metadata.resource_version
            );
        }
        other => panic!("expected DELETED, got {other:?}"),
    }
}

/// A watch from a resourceVersion that is no number: 500 without a reason, as kube-apiserver.
#[tokio::test]
async fn watch_from_an_unparsable_resource_version_is_a_500() {
    let (_emulator, client) = emulator_with_crds().await;
    let (code, body) = raw(
        &client,
        get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc"),
    )
    .await;
    assert_eq!(code, 500);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
    assert!(status.get("reason").is_none());
}
