//! Conformance: object semantics (create, get, list, update, delete), errors as Status objects,
//! generation, status subresource, finalizers and deletion, dry runs, CRD schemas.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::json;

#[tokio::test]
async fn initial_namespaces_exist() {
    let emulator = kube_emulator::Emulator::new();
    let namespaces: Api<Namespace> = Api::all(emulator.client());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["default", "kube-node-lease", "kube-system"]);
}

#[tokio::test]
async fn create_sets_server_metadata_and_global_resource_versions() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let a = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
        )
        .await
        .unwrap();
    let b = widgets
        .create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    let rv =
        |m: &kube::core::ObjectMeta| m.resource_version.clone().unwrap().parse::<u64>().unwrap();
    assert!(
        rv(&a.metadata) < rv(&cm.metadata) && rv(&cm.metadata) < rv(&b.metadata),
        "one global counter"
    );
    assert_eq!(a.metadata.generation, Some(1));
    assert!(a.metadata.uid.is_some() && a.metadata.uid != b.metadata.uid);
    let created = a.metadata.creation_timestamp.clone().unwrap().0.to_string();
    assert!(
        created.ends_with('Z') && !created.contains('.'),
        "RFC 3339 seconds: {created}"
    );
    assert_eq!(
        cm.metadata.generation, None,
        "ConfigMaps have no generation"
    );
}

#[tokio::test]
async fn generate_name_creates_unique_names() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = widget("", 1);
    w.metadata.name = None;
    w.metadata.generate_name = Some("w-".into());
    let first = widgets.create(&PostParams::default(), &w).await.unwrap();
    let second = widgets.create(&PostParams::default(), &w).await.unwrap();
    let (n1, n2) = (first.metadata.name.unwrap(), second.metadata.name.unwrap());
    assert!(n1.starts_with("w-") && n1.len() == 7 && n1 != n2);
}

#[tokio::test]
async fn errors_are_status_objects() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let missing = api_error(widgets.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        missing.message,
        "widgets.test.mithril.ai \"nope\" not found"
    );
    let details = missing.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("nope", "test.mithril.ai", "widgets")
    );

    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let exists = api_error(
        widgets
            .create(&PostParams::default(), &widget("a", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(
        exists.message,
        "widgets.test.mithril.ai \"a\" already exists"
    );

    let other_ns: Api<Widget> = Api::namespaced(client.clone(), "absent");
    let no_ns = api_error(
        other_ns
            .create(&PostParams::default(), &widget("a", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (no_ns.code, no_ns.message.as_str()),
        (404, "namespaces \"absent\" not found")
    );

    let (code, body) = raw(&client, get("/api/v1/namespaces/default/secrets/x")).await;
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 404);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "secrets \"x\" not found", "reason": "NotFound",
               "details": {"name": "x", "group": "", "kind": "secrets"}, "code": 404})
    );
}

#[tokio::test]
async fn update_with_stale_resource_version_conflicts() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let original = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let mut first = original.clone();
    first.spec.size = 2;
    let updated = widgets
        .replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let mut stale = original.clone();
    stale.spec.size = 3;
    let conflict = api_error(
        widgets
            .replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on widgets.test.mithril.ai \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let mut without_rv = updated.clone();
    without_rv.metadata.resource_version = None;
    let invalid = api_error(
        widgets
            .replace("a", &PostParams::default(), &without_rv)
            .await
            .unwrap_err(),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn generation_and_status_subresource_rules() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let mut w = widget("a", 1);
    w.status = Some(WidgetStatus {
        phase: Some("ignored".into()),
        observed_size: None,
    });
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(
        created.status, None,
        "status is dropped on create with a status subresource"
    );

    // Status writes change only status, and never generation.
    let status = json!({"status": {"phase": "Ready"}, "spec": {"size": 99}, "metadata": {"labels": {"x": "y"}}});
    let after_status = widgets
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(after_status.status.unwrap().phase.as_deref(), Some("Ready"));
    assert_eq!(after_status.spec.size, 1);
    assert_eq!(after_status.metadata.labels, None);
    assert_eq!(after_status.metadata.generation, Some(1));

    // Main-resource writes keep the stored status; metadata changes keep generation.
    let labels = json!({"metadata": {"labels": {"team": "a"}}, "status": {"phase": "Hacked"}});
    let relabelled = widgets
        .patch("a", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();
    assert_eq!(relabelled.status.unwrap().phase.as_deref(), Some("Ready"));
    assert_eq!(relabelled.metadata.generation, Some(1));
    let resized = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(resized.metadata.generation, Some(2));

    // A write that changes nothing is not stored: same resourceVersion.
    let again = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        resized.metadata.resource_version
    );

    // Without a status subresource, status is part of the object and counts for generation.
    let realms: Api<DynamicObject> = Api::all_with(client, &realm_resource());
    let realm: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.mithril.ai/v1", "kind": "Realm", "metadata": {"name": "r"},
        "spec": {"x": 1}, "status": {"kept": true}
    }))
    .unwrap();
    let created = realms.create(&PostParams::default(), &realm).await.unwrap();
    assert_eq!(created.data["status"], json!({"kept": true}));
    let changed = realms
        .patch(
            "r",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"kept": false}})),
        )
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert!(created.metadata.namespace.is_none());
}

#[tokio::test]
async fn delete_waits_for_finalizers() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = widget("a", 1);
    w.metadata.finalizers = Some(vec!["test.mithril.ai/cleanup".into()]);
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let marked = widgets
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("object while finalizers remain");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(marked.metadata.generation, Some(2));
    // Deleting again changes nothing; adding a finalizer while deleting is refused.
    let again = widgets
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        marked.metadata.resource_version
    );
    let add = json!({"metadata": {"finalizers": ["test.mithril.ai/cleanup", "other"]}});
    let refused = api_error(
        widgets
            .patch("a", &PatchParams::default(), &Patch::Merge(&add))
            .await
            .unwrap_err(),
    );
    assert_eq!(refused.code, 422);
    // Removing the last finalizer removes the object.
    let clear = json!({"metadata": {"finalizers": null}});
    widgets
        .patch("a", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .unwrap();
    assert_eq!(api_error(widgets.get("a").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn delete_preconditions_and_dry_run() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        api_error(widgets.delete("a", &wrong).await.unwrap_err()).code,
        409
    );
    let stale_rv = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        }),
        ..Default::default()
    };
    assert_eq!(
        api_error(widgets.delete("a", &stale_rv).await.unwrap_err()).code,
        409
    );
    widgets
        .delete(
            "a",
            &DeleteParams {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    widgets.get("a").await.expect("dry run deletes nothing");
    let dry_create = PostParams {
        dry_run: true,
        ..Default::default()
    };
    widgets.create(&dry_create, &widget("b", 1)).await.unwrap();
    assert_eq!(api_error(widgets.get("b").await.unwrap_err()).code, 404);
    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: created.metadata.resource_version,
        }),
        ..Default::default()
    };
    widgets.delete("a", &right).await.unwrap();
    assert_eq!(api_error(widgets.get("a").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn delete_collection_honours_selectors() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    for (name, team) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut w = widget(name, 1);
        w.metadata.labels = Some([("team".to_string(), team.to_string())].into());
        widgets.create(&PostParams::default(), &w).await.unwrap();
    }
    widgets
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("team=x"),
        )
        .await
        .unwrap();
    let left: Vec<String> = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|w| w.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn paged_lists_come_from_one_snapshot() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    for i in 0..5 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .unwrap();
    }
    let first = widgets.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    // Changes after the snapshot do not show in later pages.
    widgets
        .delete("w3", &DeleteParams::default())
        .await
        .unwrap();
    widgets
        .create(&PostParams::default(), &widget("w5", 5))
        .await
        .unwrap();
    widgets
        .patch(
            "w4",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 40}})),
        )
        .await
        .unwrap();
    let second = widgets
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    let third = widgets
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(&second.metadata.continue_.clone().unwrap()),
        )
        .await
        .unwrap();
    let names = |l: &kube::core::ObjectList<Widget>| {
        l.items
            .iter()
            .map(|w| w.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["w0", "w1"]);
    assert_eq!(names(&second), ["w2", "w3"]);
    assert_eq!(names(&third), ["w4"]);
    assert_eq!(third.items[0].spec.size, 4, "the snapshot's state of w4");
    assert_eq!(third.metadata.continue_.as_deref().unwrap_or_default(), "");
    assert_eq!(
        first.metadata.resource_version,
        third.metadata.resource_version
    );
    let now = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&now), ["w0", "w1", "w2", "w4", "w5"]);
}

#[tokio::test]
async fn expired_continue_token_is_410() {
    let emulator = kube_emulator::Emulator::with_options(kube_emulator::EmulatorOptions {
        history_limit: 3,
        ..Default::default()
    });
    let client = emulator.client();
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    let first = configmaps
        .list(&ListParams::default().limit(1))
        .await
        .unwrap();
    for i in 3..8 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    let token = first.metadata.continue_.unwrap();
    let expired = api_error(
        configmaps
            .list(&ListParams::default().limit(1).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::all(client.clone());
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
    )
    .await
    .unwrap();
    for (namespace, name, env) in [
        ("default", "a", "prod"),
        ("default", "b", "dev"),
        ("other", "a", "prod"),
    ] {
        let api: Api<Widget> = Api::namespaced(client.clone(), namespace);
        let mut w = widget(name, 1);
        w.metadata.labels = Some([("env".to_string(), env.to_string())].into());
        api.create(&PostParams::default(), &w).await.unwrap();
    }
    let keys = |l: kube::core::ObjectList<Widget>| {
        l.items
            .into_iter()
            .map(|w| {
                format!(
                    "{}/{}",
                    w.metadata.namespace.unwrap(),
                    w.metadata.name.unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(
            widgets
                .list(&ListParams::default().labels("env=prod"))
                .await
                .unwrap()
        ),
        ["default/a", "other/a"]
    );
    assert_eq!(
        keys(
            widgets
                .list(&ListParams::default().labels("env in (dev)"))
                .await
                .unwrap()
        ),
        ["default/b"]
    );
    assert_eq!(
        keys(
            widgets
                .list(&ListParams::default().fields("metadata.namespace=other"))
                .await
                .unwrap()
        ),
        ["other/a"]
    );
    assert_eq!(
        keys(
            widgets
                .list(&ListParams::default().fields("metadata.name=a,metadata.namespace!=other"))
                .await
                .unwrap()
        ),
        ["default/a"]
    );
    let unsupported = api_error(
        widgets
            .list(&ListParams::default().fields("spec.size=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(unsupported.code, 400);
}

#[tokio::test]
async fn metadata_only_lists_and_gets() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let list = widgets.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("a"));
    assert_eq!(
        list.items[0].types.as_ref().unwrap().kind,
        "PartialObjectMetadata"
    );
    let one = widgets.get_metadata("a").await.unwrap();
    assert_eq!(one.types.unwrap().api_version, "meta.k8s.io/v1");
}

#[tokio::test]
async fn crd_is_established_and_serves_cluster_and_namespaced_scopes() {
    let (_emulator, client) = emulator_with_crds().await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = crds.get("gadgets.test.mithril.ai").await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    // A CRD whose name is not plural.group is invalid.
    let mut bad = gadget_crd();
    bad["metadata"]["name"] = json!("wrong");
    let bad: DynamicObject = serde_json::from_value(bad).unwrap();
    let crds_dynamic: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    assert_eq!(
        api_error(
            crds_dynamic
                .create(&PostParams::default(), &bad)
                .await
                .unwrap_err()
        )
        .code,
        422
    );
    // Deleting the CRD stops serving its resources.
    crds.delete("realms.test.mithril.ai", &DeleteParams::default())
        .await
        .unwrap();
    let realms: Api<DynamicObject> = Api::all_with(client, &realm_resource());
    assert_eq!(
        api_error(realms.list(&ListParams::default()).await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn schema_defaults_prunes_and_validates() {
    let (_emulator, client) = emulator_with_crds().await;
    let gadgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &gadget_resource());
    let mut g = gadget("g", 2);
    g.data["spec"]["unknown"] = json!(true);
    g.data["spec"]["extra"] = json!({"anything": {"goes": 1}});
    let created = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert_eq!(created.data["spec"]["tier"], "silver", "defaulted");
    assert!(created.data["spec"].get("unknown").is_none(), "pruned");
    assert_eq!(
        created.data["spec"]["extra"],
        json!({"anything": {"goes": 1}}),
        "preserved"
    );

    let invalid = api_error(
        gadgets
            .create(&PostParams::default(), &gadget("h", 0))
            .await
            .unwrap_err(),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid
            .message
            .starts_with("Gadget.test.mithril.ai \"h\" is invalid: spec.quantity"),
        "{}",
        invalid.message
    );
    let causes = invalid.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.quantity");

    let mut with_unknown = gadget("s", 1);
    with_unknown.data["spec"]["typo"] = json!(1);
    // kube's PostParams has no fieldValidation: a raw request asks for Strict.
    let request = http::Request::post(
        "/apis/test.mithril.ai/v1/namespaces/default/gadgets?fieldValidation=Strict",
    )
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&with_unknown).unwrap())
    .unwrap();
    let (code, body) = raw(&client, request).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("strict decoding error: unknown field \\\"spec.typo\\\""),
        "{body}"
    );
}

#[tokio::test]
async fn secrets_and_configmaps_are_served() {
    let emulator = kube_emulator::Emulator::new();
    let secrets: Api<Secret> = Api::namespaced(emulator.client(), "default");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "key"}, "stringData": {"token": "s3cret"}}),
    )
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let stored = secrets.get("key").await.unwrap();
    assert_eq!(stored.data.unwrap()["token"].0, b"s3cret");
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));
}

#[tokio::test]
async fn deleting_an_owner_deletes_dependents_whose_owners_are_all_gone() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = widgets
        .create(&PostParams::default(), &widget("first", 1))
        .await
        .unwrap();
    let second = widgets
        .create(&PostParams::default(), &widget("second", 1))
        .await
        .unwrap();
    let owner = |w: &Widget| json!({"apiVersion": "test.mithril.ai/v1", "kind": "Widget", "name": w.metadata.name, "uid": w.metadata.uid});
    let dependent = |name: &str, owners: Vec<serde_json::Value>| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": owners}}))
            .unwrap()
    };
    configmaps
        .create(
            &PostParams::default(),
            &dependent("only-first", vec![owner(&first)]),
        )
        .await
        .unwrap();
    configmaps
        .create(
            &PostParams::default(),
            &dependent("both", vec![owner(&first), owner(&second)]),
        )
        .await
        .unwrap();
    widgets
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(configmaps.get("only-first").await.unwrap_err()).code,
        404
    );
    configmaps.get("both").await.expect("one owner remains");
    widgets
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(configmaps.get("both").await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn dry_run_updates_and_patches_store_nothing() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let created = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let rv = emulator.resource_version();
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let patched = widgets
        .patch("a", &dry, &Patch::Merge(&json!({"spec": {"size": 9}})))
        .await
        .unwrap();
    assert_eq!(patched.spec.size, 9, "the answer shows the result");
    let mut replacement = created.clone();
    replacement.spec.size = 7;
    widgets
        .replace(
            "a",
            &PostParams {
                dry_run: true,
                field_manager: None,
            },
            &replacement,
        )
        .await
        .unwrap();
    assert_eq!(widgets.get("a").await.unwrap().spec.size, 1);
    assert_eq!(emulator.resource_version(), rv, "no write happened");
}

#[tokio::test]
async fn empty_metadata_collections_are_dropped() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let mut w = widget("a", 1);
    w.metadata.finalizers = Some(vec!["f".into()]);
    w.metadata.labels = Some(Default::default());
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "f"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]))
    .unwrap();
    widgets
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(remove))
        .await
        .unwrap();
    let (_, body) = raw(
        &client,
        get("/apis/test.mithril.ai/v1/namespaces/default/widgets/a"),
    )
    .await;
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        stored["metadata"].get("finalizers").is_none()
            && stored["metadata"].get("labels").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content() {
    let (_emulator, client) = emulator_with_crds().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
        )
        .await
        .unwrap();
    let team: Api<Widget> = Api::namespaced(client.clone(), "team");
    let kept: Api<Widget> = Api::namespaced(client, "default");
    team.create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["f".into()]);
    team.create(&PostParams::default(), &held).await.unwrap();
    kept.create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(team.get("a").await.unwrap_err()).code, 404);
    assert!(
        team.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some(),
        "finalizers still hold it"
    );
    kept.get("a").await.expect("other namespaces are untouched");
}

/// Field selectors as kube-apiserver takes them: a CRD's `selectableFields`, the metadata-only
/// kinds' own refusal, and a label selector whose value is an operator.
#[tokio::test]
async fn selectable_fields_and_selector_refusals() {
    let (_emulator, client) = emulator_with_crds().await;
    let mut crd = gadget_crd();
    crd["metadata"]["name"] = json!("tools.test.mithril.ai");
    crd["spec"]["names"] = json!({"plural": "tools", "singular": "tool", "kind": "Tool"});
    crd["spec"]["versions"][0]["selectableFields"] = json!([{"jsonPath": ".spec.tier"}]);
    install_crd(&client, crd).await;
    let tools: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("test.mithril.ai", "v1", "Tool"),
            "tools",
        ),
    );
    for (name, tier) in [("t1", "gold"), ("t2", "silver")] {
        let mut tool = gadget(name, 1);
        tool.types.as_mut().unwrap().kind = "Tool".into();
        tool.data["spec"]["tier"] = json!(tier);
        tools.create(&PostParams::default(), &tool).await.unwrap();
    }
    let gold = tools
        .list(&ListParams::default().fields("spec.tier=gold"))
        .await
        .unwrap();
    let names: Vec<String> = gold
        .items
        .into_iter()
        .filter_map(|t| t.metadata.name)
        .collect();
    assert_eq!(names, ["t1"]);
    let unsupported = api_error(
        tools
            .list(&ListParams::default().fields("spec.quantity=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        unsupported.message,
        "field label not supported: spec.quantity"
    );

    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let unknown = api_error(
        configmaps
            .list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (unknown.code, unknown.message.as_str()),
        (
            400,
            r#""data.k" is not a known field selector: only "metadata.name", "metadata.namespace""#
        )
    );
    let operator = api_error(
        configmaps
            .list(&ListParams::default().labels("tier===gold"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (operator.code, operator.message.as_str()),
        (
            400,
            "unable to parse requirement: found '=', expected: identifier"
        )
    );
}

/// A finalizer added while the object is deleted: the cause twice (kube-apiserver finds it in two
/// checks), the message once.
#[tokio::test]
async fn no_finalizer_is_added_while_deleting() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = widget("held", 1);
    w.metadata.finalizers = Some(vec!["test.mithril.ai/hold".into()]);
    widgets.create(&PostParams::default(), &w).await.unwrap();
    widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    let refused = api_error(
        widgets
            .patch(
                "held",
                &PatchParams::default(),
                &Patch::Merge(
                    &json!({"metadata": {"finalizers": ["test.mithril.ai/hold", "x.ai/new"]}}),
                ),
            )
            .await
            .unwrap_err(),
    );
    let forbidden = "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"x.ai/new\"}";
    assert_eq!(
        refused.message,
        format!("Widget.test.mithril.ai \"held\" is invalid: metadata.finalizers: {forbidden}")
    );
    let causes = refused.details.unwrap().causes;
    assert_eq!(causes.len(), 2);
    assert!(causes.iter().all(|c| c.message == forbidden));
}

/// kube-apiserver's list and table shapes: a custom resource list always has `continue`, a
/// Table of one object carries its resourceVersion.
#[tokio::test]
async fn list_and_table_metadata_as_kube_apiserver_sends_them() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let (_, list) = raw(
        &client,
        get("/apis/test.mithril.ai/v1/namespaces/default/widgets"),
    )
    .await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["metadata"]["continue"], "");
    let (_, configmaps) = raw(&client, get("/api/v1/namespaces/default/configmaps")).await;
    let configmaps: serde_json::Value = serde_json::from_str(&configmaps).unwrap();
    assert!(configmaps["metadata"].get("continue").is_none());
    let table = http::Request::get("/apis/test.mithril.ai/v1/namespaces/default/widgets/w")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let (_, table) = raw(&client, table).await;
    let table: serde_json::Value = serde_json::from_str(&table).unwrap();
    assert_eq!(
        table["metadata"]["resourceVersion"].as_str(),
        created.metadata.resource_version.as_deref()
    );
    // Column descriptions in full, as kube-apiserver's printers give them.
    let table = http::Request::get("/api/v1/namespaces/default/configmaps")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let (_, table) = raw(&client, table).await;
    let table: serde_json::Value = serde_json::from_str(&table).unwrap();
    assert!(
        table["columnDefinitions"][1]["description"]
            .as_str()
            .unwrap()
            .ends_with("this is enforced during validation process.")
    );
}

/// kube-openapi checks an object's properties before its required list: the missing field is
/// reported after what is wrong within the same object.
#[tokio::test]
async fn required_fields_are_reported_after_the_objects_other_failures() {
    let (_emulator, client) = emulator_with_crds().await;
    let mut crd = gadget_crd();
    crd["metadata"]["name"] = json!("pumps.test.mithril.ai");
    crd["spec"]["names"] = json!({"plural": "pumps", "singular": "pump", "kind": "Pump"});
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] =
        json!(["quantity", "extra"]);
    install_crd(&client, crd).await;
    let pumps: Api<DynamicObject> = Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("test.mithril.ai", "v1", "Pump"),
            "pumps",
        ),
    );
    let pump: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.mithril.ai/v1", "kind": "Pump", "metadata": {"name": "p"},
        "spec": {"quantity": 0}
    }))
    .unwrap();
    let refused = api_error(
        pumps
            .create(&PostParams::default(), &pump)
            .await
            .unwrap_err(),
    );
    let fields: Vec<(String, String)> = refused
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| (c.field, c.reason))
        .collect();
    assert_eq!(
        fields,
        [
            ("spec.quantity".to_owned(), "FieldValueInvalid".to_owned()),
            ("spec.extra".to_owned(), "FieldValueRequired".to_owned()),
        ]
    );
}

/// A DELETE that removes the object at once answers a Success Status naming it, as
/// kube-apiserver does (the object itself only while finalizers hold it).
#[tokio::test]
async fn a_delete_that_removes_answers_a_success_status() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let created = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let status = widgets
        .delete("w", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .expect("a Status, not the object");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let details = status.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("w", "test.mithril.ai", "widgets")
    );
    assert_eq!(Some(details.uid), created.metadata.uid);
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let status = configmaps
        .delete("c", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .expect("a Status");
    assert_eq!(status.details.unwrap().kind, "configmaps");
}
