//! Conformance: discovery, Tables (also on watches), OpenAPI v3, the kubeconfig and socket
//! transport, the request log, and write faults.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_emulator::{Emulator, RequestRecord};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn get_json(client: &kube::Client, uri: &str) -> Value {
    let (code, body) = raw(client, get(uri)).await;
    assert_eq!(code, 200, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn discovery_documents_list_built_ins_and_crds() {
    let (_emulator, client) = emulator_with_crds().await;
    let version = get_json(&client, "/version").await;
    assert_eq!(
        (version["major"].as_str(), version["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    assert_eq!(get_json(&client, "/api").await["versions"], json!(["v1"]));
    let core = get_json(&client, "/api/v1").await;
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for name in [
        "namespaces",
        "namespaces/status",
        "secrets",
        "configmaps",
        "events",
        "serviceaccounts",
        "services",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let groups = get_json(&client, "/apis").await;
    let group_names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for group in [
        "apps",
        "events.k8s.io",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "test.mithril.ai",
    ] {
        assert!(group_names.contains(&group), "{group} missing");
    }
    let test_group = get_json(&client, "/apis/test.mithril.ai/v1").await;
    let widgets = test_group["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap();
    assert_eq!(widgets["kind"], "Widget");
    assert_eq!(widgets["namespaced"], true);
    assert_eq!(widgets["shortNames"], json!(["wg"]));
    assert!(
        test_group["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "widgets/status")
    );
    let realms = test_group["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "realms")
        .unwrap();
    assert_eq!(realms["namespaced"], false);
    assert_eq!(
        raw(&client, get("/apis/absent.example.com/v1")).await.0,
        404
    );
}

#[tokio::test]
async fn aggregated_discovery_when_asked_first() {
    let (_emulator, client) = emulator_with_crds().await;
    let request = http::Request::get("/apis")
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let document: Value =
        serde_json::from_slice(&response.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(document["kind"], "APIGroupDiscoveryList");
    let group = document["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "test.mithril.ai")
        .unwrap();
    let resources = group["versions"][0]["resources"].as_array().unwrap();
    let widgets = resources
        .iter()
        .find(|r| r["resource"] == "widgets")
        .unwrap();
    assert_eq!(widgets["scope"], "Namespaced");
    assert_eq!(widgets["responseKind"]["kind"], "Widget");
    assert_eq!(widgets["subresources"][0]["subresource"], "status");
    // Without the aggregated type first, the legacy APIGroupList.
    assert_eq!(get_json(&client, "/apis").await["kind"], "APIGroupList");
}

#[tokio::test]
async fn tables_carry_printer_columns_in_lists_gets_and_watches() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets
        .create(&PostParams::default(), &widget("a", 3))
        .await
        .unwrap();
    let table_of = |uri: &str| {
        http::Request::get(uri)
            .header(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .unwrap()
    };
    let (_, body) = raw(
        &client,
        table_of("/apis/test.mithril.ai/v1/namespaces/default/widgets"),
    )
    .await;
    let table: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Name", "Size", "Phase"]);
    assert_eq!(table["rows"][0]["cells"][0], "a");
    assert_eq!(table["rows"][0]["cells"][1], 3);
    assert!(table["metadata"]["resourceVersion"].is_string());

    // A watch as Table: column definitions on the first event only, as kube-apiserver sends them.
    let rv = emulator.resource_version();
    let uri = format!(
        "/apis/test.mithril.ai/v1/namespaces/default/widgets?watch=true&resourceVersion={rv}&timeoutSeconds=1"
    );
    let watching = tokio::spawn({
        let client = client.clone();
        async move { raw(&client, table_of(&uri)).await }
    });
    while emulator.watcher_count() == 0 {
        tokio::task::yield_now().await;
    }
    widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    let (code, body) = watching.await.unwrap();
    assert_eq!(code, 200);
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "MODIFIED");
    assert_eq!(events[0]["object"]["kind"], "Table");
    assert_eq!(
        events[0]["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(events[1]["object"]["columnDefinitions"], json!([]));
    assert_eq!(events[1]["object"]["rows"][0]["cells"][1], 5);

    // Built-ins: kube-apiserver's printer columns (namespaces: Name, Status, Age).
    let (_, body) = raw(&client, table_of("/api/v1/namespaces")).await;
    let namespaces: Value = serde_json::from_str(&body).unwrap();
    let columns: Vec<&str> = namespaces["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Name", "Status", "Age"]);
}

#[tokio::test]
async fn openapi_v3_serves_crd_schemas() {
    let (_emulator, client) = emulator_with_crds().await;
    let index = get_json(&client, "/openapi/v3").await;
    let url = index["paths"]["apis/test.mithril.ai/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/test.mithril.ai/v1?hash="));
    assert!(index["paths"]["api/v1"].is_object());
    let document = get_json(&client, &url).await;
    let gadget = &document["components"]["schemas"]["ai.mithril.test.v1.Gadget"];
    assert_eq!(
        gadget["properties"]["spec"]["properties"]["quantity"]["description"],
        "How many gadgets to run."
    );
    assert_eq!(
        gadget["x-kubernetes-group-version-kind"][0]["kind"],
        "Gadget"
    );
    // The index hash changes when a group-version's document does.
    let crds: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    crds.delete("realms.test.mithril.ai", &Default::default())
        .await
        .unwrap();
    let after = get_json(&client, "/openapi/v3").await;
    assert_ne!(
        after["paths"]["apis/test.mithril.ai/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap(),
        url
    );
}

#[tokio::test]
async fn kubeconfig_and_socket_serve_a_real_client() {
    let emulator = Emulator::new();
    let server = emulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let kubeconfig = Kubeconfig::from_yaml(&emulator.kubeconfig_yaml(server.addr)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "over-tcp"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    assert_eq!(
        configmaps
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Shutting the socket down ends its open watches.
    let rv = emulator.resource_version().to_string();
    let mut stream = Box::pin(
        configmaps
            .watch(&WatchParams::default().disable_bookmarks(), &rv)
            .await
            .unwrap(),
    );
    server.shutdown().await;
    match stream.try_next().await {
        Ok(None) | Err(_) => {}
        Ok(Some(event)) => panic!("the stream should end with the socket, got {event:?}"),
    }
}

#[tokio::test]
async fn request_log_records_what_rbac_must_allow() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    widgets.get("a").await.unwrap();
    widgets.list(&ListParams::default()).await.unwrap();
    let status = json!({"status": {"phase": "Ready"}});
    widgets
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let record = |verb: &str, subresource: Option<&str>| RequestRecord {
        verb: verb.into(),
        group: "test.mithril.ai".into(),
        resource: "widgets".into(),
        subresource: subresource.map(Into::into),
        namespace: Some("default".into()),
    };
    let log: Vec<RequestRecord> = emulator
        .request_log()
        .into_iter()
        .filter(|r| r.resource == "widgets")
        .collect();
    assert_eq!(
        log,
        [
            record("create", None),
            record("get", None),
            record("list", None),
            record("patch", Some("status"))
        ]
    );
    let crd_creates = emulator
        .request_log()
        .iter()
        .filter(|r| r.resource == "customresourcedefinitions")
        .count();
    assert_eq!(crd_creates, 3);
}

#[tokio::test]
async fn write_faults_fail_or_delay_a_share_of_writes() {
    let (emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    emulator.faults().fail_writes(50, 409, Some("widgets"));
    let mut outcomes = Vec::new();
    for i in 0..4 {
        outcomes.push(
            match widgets
                .create(&PostParams::default(), &widget(&format!("w{i}"), 1))
                .await
            {
                Ok(_) => 201,
                Err(error) => api_error(error).code,
            },
        );
    }
    assert_eq!(outcomes, [201, 409, 201, 409]);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .expect("other resources are not affected");
    widgets.get("w0").await.expect("reads are never failed");
    emulator.faults().clear_writes();
    emulator.faults().fail_writes(100, 500, None);
    let failed = api_error(
        widgets
            .create(&PostParams::default(), &widget("x", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (failed.code, failed.reason.as_str()),
        (500, "InternalError")
    );
    emulator.faults().clear_writes();
    emulator.faults().delay_writes(
        100,
        Duration::from_millis(30),
        Some("widgets.test.mithril.ai"),
    );
    let started = Instant::now();
    widgets
        .create(&PostParams::default(), &widget("slow", 1))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// Verbs in kube-apiserver's order (the apiextensions server's for custom resources, no
/// deletecollection for namespaces) and the storage version hashes it lists.
#[tokio::test]
async fn discovery_verbs_and_storage_version_hashes_are_kube_apiservers() {
    let (_emulator, client) = emulator_with_crds().await;
    let resource = |list: &Value, name: &str| -> Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let custom = get_json(&client, "/apis/test.mithril.ai/v1").await;
    let gadgets = resource(&custom, "gadgets");
    assert_eq!(
        gadgets["verbs"],
        json!([
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch"
        ])
    );
    // base64 of the first 8 bytes of SHA-256("test.mithril.ai/v1/Gadget").
    assert_eq!(gadgets["storageVersionHash"], "e6w4kNTj6vA=");
    let core = get_json(&client, "/api/v1").await;
    assert_eq!(
        resource(&core, "namespaces")["verbs"],
        json!([
            "create", "delete", "get", "list", "patch", "update", "watch"
        ])
    );
    // As kube-apiserver v1.37 lists them; both Event APIs share the core v1 storage.
    assert_eq!(
        resource(&core, "configmaps")["storageVersionHash"],
        "qFsyl6wFWjQ="
    );
    let events = get_json(&client, "/apis/events.k8s.io/v1").await;
    assert_eq!(
        resource(&events, "events")["storageVersionHash"],
        "r2yiGXH7wu8="
    );
    assert!(
        resource(&core, "namespaces/status")
            .get("storageVersionHash")
            .is_none()
    );
}
