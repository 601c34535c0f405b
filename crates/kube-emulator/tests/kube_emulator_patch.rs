//! Conformance: merge, JSON and strategic-merge patches, kube's finalizer helper, and server-side
//! apply (field managers, conflicts, force, status, preconditions).

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let (_emulator, client) = emulator_with_crds().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}))
            .unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let merged = configmaps
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"a": null, "c": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(merged.data).unwrap(),
        json!({"b": "2", "c": "3"})
    );
    let strategic = configmaps
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"d": "4"}, "$setElementOrder/x": []})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.data.unwrap().len(), 3);
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/b", "value": "20"}]))
            .unwrap();
    let patched = configmaps
        .patch("c", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["b"], "20");
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "0"}])).unwrap();
    let error = api_error(
        configmaps
            .patch("c", &PatchParams::default(), &Patch::Json::<()>(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(error.code, 422);
    let missing = api_error(
        configmaps
            .patch("nope", &PatchParams::default(), &Patch::Merge(&json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn resource_version_in_a_patch_is_a_precondition() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let with_rv = |size: i32| json!({"metadata": {"resourceVersion": rv}, "spec": {"size": size}});
    widgets
        .patch("a", &PatchParams::default(), &Patch::Merge(&with_rv(2)))
        .await
        .unwrap();
    let stale = api_error(
        widgets
            .patch("a", &PatchParams::default(), &Patch::Merge(&with_rv(3)))
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn kube_finalizer_helper_adds_and_removes_its_finalizer() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let name = "test.mithril.ai/cleanup";
    let run = |object: Widget| {
        let widgets = widgets.clone();
        async move {
            finalizer(&widgets, name, Arc::new(object), |event| async move {
                Ok::<_, std::convert::Infallible>(match event {
                    FinalizerEvent::Apply(_) => Action::await_change(),
                    FinalizerEvent::Cleanup(_) => Action::await_change(),
                })
            })
            .await
            .unwrap()
        }
    };
    run(widgets.get("a").await.unwrap()).await;
    assert_eq!(
        widgets.get("a").await.unwrap().metadata.finalizers,
        Some(vec![name.to_string()])
    );
    run(widgets.get("a").await.unwrap()).await; // Apply: nothing to change.
    widgets.delete("a", &DeleteParams::default()).await.unwrap();
    let deleting = widgets.get("a").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    run(deleting).await; // Cleanup, then the finalizer is removed and the object goes.
    assert_eq!(api_error(widgets.get("a").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn server_side_apply_creates_and_tracks_managers() {
    let (_emulator, client) = emulator_with_crds().await;
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &gadget_resource());
    let config = |quantity: i64, tier: Option<&str>| {
        let mut spec = json!({"quantity": quantity});
        if let Some(tier) = tier {
            spec["tier"] = json!(tier);
        }
        json!({"apiVersion": "test.mithril.ai/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": spec})
    };
    let alice = PatchParams::apply("alice");
    let created = gadgets
        .patch("g", &alice, &Patch::Apply(config(2, Some("gold"))))
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["tier"], "gold");
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(
        (
            managed[0].manager.as_deref(),
            managed[0].operation.as_deref()
        ),
        (Some("alice"), Some("Apply"))
    );

    // Another manager changing alice's field conflicts, unless forced.
    let bob = PatchParams::apply("bob");
    let conflict = api_error(
        gadgets
            .patch("g", &bob, &Patch::Apply(config(3, None)))
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let causes = conflict.details.unwrap().causes;
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".spec.quantity")
    );
    let forced = gadgets
        .patch("g", &bob.clone().force(), &Patch::Apply(config(3, None)))
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["quantity"], 3);

    // Alice stops applying tier: her field is removed (defaulted again by the schema).
    let alice_again = gadgets.patch("g", &alice, &Patch::Apply(json!({
        "apiVersion": "test.mithril.ai/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}
    }))).await.unwrap();
    assert_eq!(alice_again.data["spec"]["tier"], "silver");
    assert_eq!(alice_again.data["spec"]["quantity"], 3, "bob's field stays");
}

#[tokio::test]
async fn server_side_apply_merges_map_lists_by_key() {
    let (_emulator, client) = emulator_with_crds().await;
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &gadget_resource());
    let ports = |name: &str, port: i64| {
        json!({"apiVersion": "test.mithril.ai/v1", "kind": "Gadget", "metadata": {"name": "g"},
               "spec": {"quantity": 1, "ports": [{"name": name, "port": port}]}})
    };
    gadgets
        .patch(
            "g",
            &PatchParams::apply("a"),
            &Patch::Apply(ports("http", 80)),
        )
        .await
        .unwrap();
    let both = gadgets
        .patch(
            "g",
            &PatchParams::apply("b"),
            &Patch::Apply(ports("https", 443)),
        )
        .await
        .unwrap();
    assert_eq!(
        both.data["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    );
}

#[tokio::test]
async fn server_side_apply_request_rules() {
    let (_emulator, client) = emulator_with_crds().await;
    let apply = |query: &str, body: serde_json::Value| {
        http::Request::patch(format!(
            "/apis/test.mithril.ai/v1/namespaces/default/gadgets/g{query}"
        ))
        .header("content-type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap()
    };
    let good = json!({"apiVersion": "test.mithril.ai/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"quantity": 1}});
    assert_eq!(
        raw(&client, apply("", good.clone())).await.0,
        422,
        "fieldManager is required"
    );
    let mut wrong_kind = good.clone();
    wrong_kind["kind"] = json!("Widget");
    assert_eq!(
        raw(&client, apply("?fieldManager=m", wrong_kind)).await.0,
        400
    );
    let mut wrong_name = good.clone();
    wrong_name["metadata"]["name"] = json!("other");
    assert_eq!(
        raw(&client, apply("?fieldManager=m", wrong_name)).await.0,
        400
    );
    let mut with_managed = good.clone();
    with_managed["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    assert_eq!(
        raw(&client, apply("?fieldManager=m", with_managed)).await.0,
        400
    );
    let status_of_missing = http::Request::patch(
        "/apis/test.mithril.ai/v1/namespaces/default/gadgets/g/status?fieldManager=m",
    )
    .header("content-type", "application/apply-patch+yaml")
    .body(serde_json::to_vec(&good).unwrap())
    .unwrap();
    assert_eq!(raw(&client, status_of_missing).await.0, 404);
    let (code, _) = raw(&client, apply("?fieldManager=m", good)).await;
    assert_eq!(code, 201, "apply creates");
    let forced_merge =
        http::Request::patch("/apis/test.mithril.ai/v1/namespaces/default/gadgets/g?force=true")
            .header("content-type", "application/merge-patch+json")
            .body(b"{}".to_vec())
            .unwrap();
    assert_eq!(
        raw(&client, forced_merge).await.0,
        422,
        "force is for apply only"
    );
    let yaml = http::Request::patch("/apis/test.mithril.ai/v1/namespaces/default/gadgets/g?fieldManager=m")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: test.mithril.ai/v1\nkind: Gadget\nmetadata:\n  name: g\nspec:\n  quantity: 4\n".to_vec())
        .unwrap();
    let (code, body) = raw(&client, yaml).await;
    assert_eq!(code, 200);
    assert!(body.contains("\"quantity\":4"), "{body}");
}

#[tokio::test]
async fn server_side_apply_of_status() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let status = json!({"apiVersion": "test.mithril.ai/v1", "kind": "Widget", "metadata": {"name": "a"},
                        "status": {"phase": "Ready", "observed_size": 1}});
    let applied = widgets
        .patch_status("a", &PatchParams::apply("operator"), &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(applied.status.unwrap().phase.as_deref(), Some("Ready"));
    assert_eq!(applied.metadata.generation, Some(1));
    let managed = applied.metadata.managed_fields.unwrap();
    assert!(
        managed
            .iter()
            .any(|m| m.manager.as_deref() == Some("operator")
                && m.subresource.as_deref() == Some("status"))
    );
    // Applying the same status again stores nothing new.
    let again = widgets
        .patch_status("a", &PatchParams::apply("operator"), &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
}

/// As kube-apiserver: a strategic merge patch merges `metadata.finalizers` (new ones first) and
/// lists tagged for it by key, and is refused on a custom resource, which has no patch strategies.
#[tokio::test]
async fn strategic_patches_merge_tagged_lists_and_are_refused_on_custom_resources() {
    let (_emulator, client) = emulator_with_crds().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["a.io/one"]}, "data": {"k": "v"}}),
    )
    .unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let patched = configmaps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"finalizers": ["b.io/two"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.finalizers.unwrap(),
        ["b.io/two", "a.io/one"]
    );

    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let (code, status) = send_json(
        &client,
        "PATCH",
        "/apis/test.mithril.ai/v1/namespaces/default/widgets/w",
        "application/strategic-merge-patch+json",
        json!({"spec": {"size": 2}}),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(status["reason"], "UnsupportedMediaType");
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

/// A JSON patch that does not apply: kube-apiserver's generic message and empty details; an
/// apply conflict: causes only, no object named in the details.
#[tokio::test]
async fn failed_json_patches_and_apply_conflicts_are_worded_as_kube_apiserver_does() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let (code, status) = send_json(
        &client,
        "PATCH",
        "/apis/test.mithril.ai/v1/namespaces/default/widgets/w",
        "application/json-patch+json",
        json!([{"op": "test", "path": "/spec/size", "value": 7}]),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(status["details"], json!({}));

    let apply = |size: i32| json!({"apiVersion": "test.mithril.ai/v1", "kind": "Widget", "spec": {"size": size}});
    widgets
        .patch(
            "w",
            &PatchParams::apply("alpha").force(),
            &Patch::Apply(apply(2)),
        )
        .await
        .unwrap();
    let conflict = api_error(
        widgets
            .patch("w", &PatchParams::apply("beta"), &Patch::Apply(apply(3)))
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    let details = conflict.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(details.causes[0].reason, "FieldManagerConflict");
}

/// Writes are computed outside the emulator's lock: one computed from an object another write
/// replaced meanwhile is computed again, so concurrent patches of one object all land, and of
/// concurrent creates of one name exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_to_one_object_lose_nothing() {
    let (_emulator, client) = emulator_with_crds().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let writers = 64;
    let creates = (0..writers).map(|_| {
        let configmaps = configmaps.clone();
        tokio::spawn(async move {
            let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
            configmaps.create(&PostParams::default(), &cm).await.is_ok()
        })
    });
    let created = futures::future::join_all(creates).await;
    assert_eq!(
        created
            .into_iter()
            .filter(|ok| *ok.as_ref().unwrap())
            .count(),
        1
    );
    let before: u64 = configmaps
        .get("c")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap();

    let patches = (0..writers).map(|i| {
        let configmaps = configmaps.clone();
        tokio::spawn(async move {
            let patch = json!({"data": {format!("k{i}"): "v"}});
            // Merge patches and server-side applies alike.
            match i % 2 {
                0 => configmaps
                    .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap(),
                _ => {
                    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {format!("k{i}"): "v"}});
                    configmaps
                        .patch("c", &PatchParams::apply(&format!("writer-{i}")), &Patch::Apply(&applied))
                        .await
                        .unwrap()
                }
            };
        })
    });
    for patched in futures::future::join_all(patches).await {
        patched.unwrap();
    }
    let after = configmaps.get("c").await.unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.len(), writers, "{data:?}");
    let rv: u64 = after.metadata.resource_version.unwrap().parse().unwrap();
    assert_eq!(
        rv - before,
        writers as u64,
        "one new resourceVersion per write"
    );
    // Each applier's ownership is recorded.
    let applied = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter(|entry| entry.operation.as_deref() == Some("Apply"))
        .count();
    assert_eq!(applied, writers / 2);
}
