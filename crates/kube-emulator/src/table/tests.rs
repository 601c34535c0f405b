use super::*;

fn now() -> jiff::Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("timestamp")
}

fn spot_bid(name: &str, created: &str, quantity: Value, ready: &str) -> Value {
    json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created, "resourceVersion": "42", "uid": "u-1"},
        "spec": {"region": "us-central1-a", "instanceQuantity": quantity, "limitPrice": "$2.00"},
        "status": {
            "phase": "Allocated",
            "instances": [{"id": "i-1", "ip": "10.0.0.1"}, {"id": "i-2", "ip": "10.0.0.2"}],
            "conditions": [
                {"type": "Synced", "status": "True"},
                {"type": "Ready", "status": ready, "lastTransitionTime": "2026-11-23T11:55:00Z"}
            ]
        }
    })
}

fn columns() -> Vec<PrinterColumn> {
    serde_json::from_value(json!([
        {"name": "Region", "type": "string", "jsonPath": ".spec.region"},
        {"name": "Quantity", "type": "integer", "jsonPath": ".spec.instanceQuantity"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "First IP", "type": "string", "jsonPath": ".status.instances[0].ip", "priority": 1},
        {"name": "IPs", "type": "string", "jsonPath": ".status.instances[*].ip", "priority": 1},
        {"name": "Since", "type": "date", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].lastTransitionTime"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason", "description": "Why."},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]))
    .expect("printer columns")
}

#[test]
fn printer_columns_become_typed_cells() {
    let objects = [spot_bid("train", "2026-11-23T11:00:00Z", json!(4), "True")];
    let table = table_at(
        &columns(),
        &objects,
        IncludeObject::None,
        json!({"resourceVersion": "42"}),
        now(),
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["metadata"], json!({"resourceVersion": "42"}));
    assert_eq!(
        table["rows"],
        json!([{"cells": ["train", "us-central1-a", 4, "True", "10.0.0.1", "10.0.0.1", "5m", null, "60m"]}])
    );
}

#[test]
fn column_definitions_start_with_name_and_keep_priority() {
    let table = table_at(&columns(), &[], IncludeObject::None, json!({}), now());
    let definitions = table["columnDefinitions"].as_array().expect("definitions");
    assert_eq!(definitions.len(), 9);
    assert_eq!(definitions[0]["name"], "Name");
    assert_eq!(definitions[0]["format"], "name");
    assert_eq!(
        definitions[1],
        json!({"name": "Region", "type": "string", "format": "", "description": "Custom resource definition column (in JSONPath format): .spec.region", "priority": 0})
    );
    assert_eq!(definitions[4]["priority"], 1);
    assert_eq!(definitions[7]["description"], "Why.");
    assert_eq!(table["rows"], json!([]));
}

#[test]
fn without_printer_columns_the_table_shows_name_and_age() {
    let objects = [spot_bid("train", "2026-11-20T08:00:00Z", json!(1), "False")];
    let table = table_at(&[], &objects, IncludeObject::None, json!({}), now());
    let names: Vec<&Value> = table["columnDefinitions"]
        .as_array()
        .expect("definitions")
        .iter()
        .map(|d| &d["name"])
        .collect();
    assert_eq!(names, vec!["Name", "Age"]);
    assert_eq!(table["columnDefinitions"][1]["type"], "date");
    assert_eq!(table["rows"][0]["cells"], json!(["train", "3d4h"]));
}

#[test]
fn rows_carry_metadata_or_the_object_on_request() {
    let object = spot_bid("train", "2026-11-23T11:00:00Z", json!(4), "True");
    let with_metadata = table_at(
        &[],
        std::slice::from_ref(&object),
        IncludeObject::Metadata,
        json!({}),
        now(),
    );
    assert_eq!(
        with_metadata["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
    );
    let with_object = table_at(
        &[],
        std::slice::from_ref(&object),
        IncludeObject::Object,
        json!({}),
        now(),
    );
    assert_eq!(with_object["rows"][0]["object"], object);
}

#[test]
fn cells_that_do_not_fit_their_type_are_null() {
    let objects = [spot_bid("odd", "yesterday", json!(2.9), "True")];
    let odd: Vec<PrinterColumn> = serde_json::from_value(json!([
        {"name": "Quantity", "type": "integer", "jsonPath": ".spec.instanceQuantity"},
        {"name": "Ready?", "type": "boolean", "jsonPath": ".spec.region"},
        {"name": "Spec", "type": "string", "jsonPath": ".spec.instanceQuantity"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Broken", "type": "string", "jsonPath": ".spec[oops"}
    ]))
    .expect("columns");
    let table = table_at(&odd, &objects, IncludeObject::None, json!({}), now());
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["odd", 2, null, "2.9", "<invalid>", null])
    );
}

#[test]
fn json_paths_select_like_kubectl() {
    let object = spot_bid("train", "2026-11-23T11:00:00Z", json!(4), "True");
    let select = |path: &str| -> Vec<Value> {
        JsonPath::parse(path)
            .expect("path")
            .find(&object)
            .into_iter()
            .cloned()
            .collect()
    };
    assert_eq!(
        select(".status.instances[*].id"),
        vec![json!("i-1"), json!("i-2")]
    );
    assert_eq!(select(".status.instances[-1].id"), vec![json!("i-2")]);
    assert_eq!(select("{.metadata['namespace']}"), vec![json!("default")]);
    assert_eq!(
        select(".status.conditions[?(@.status != 'True')].type"),
        Vec::<Value>::new()
    );
    assert_eq!(
        select(".status.conditions[?(@.type=='Synced')].status"),
        vec![json!("True")]
    );
    assert!(select(".spec.missing").is_empty());
    assert!(JsonPath::parse(".spec[?(@.x ~ 1)]").is_err());
}

/// The cells of each row of a built-in kind's Table.
fn builtin_cells(printer: BuiltInTable, object: Value) -> Vec<Value> {
    let table = builtin_table_at(printer, &[object], IncludeObject::None, json!({}), now());
    serde_json::from_value(table["rows"][0]["cells"].clone()).expect("cells")
}

#[test]
fn events_k8s_io_events_print_like_core_events() {
    // What kube-runtime's Recorder writes: eventTime and a series, no deprecated fields.
    let event = json!({
        "metadata": {"name": "g1.abc", "namespace": "default"},
        "eventTime": "2026-11-23T11:50:00.000000Z",
        "series": {"count": 4, "lastObservedTime": "2026-11-23T11:58:00.000000Z"},
        "reportingController": "gadget-controller", "reportingInstance": "pod-1",
        "action": "Scale", "reason": "Scaled", "regarding": {"kind": "Gadget", "name": "g1"},
        "note": "running 5 gadgets", "type": "Normal"
    });
    assert_eq!(
        builtin_cells(BuiltInTable::Event, event),
        json!([
            "2m",
            "Normal",
            "Scaled",
            "gadget/g1",
            "",
            "gadget-controller, pod-1",
            "running 5 gadgets",
            "10m",
            4,
            "g1.abc"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let singleton = json!({"metadata": {"name": "e"}, "eventTime": "2026-11-23T11:59:00.000000Z",
        "involvedObject": {"kind": "Node"}, "type": "Warning", "reason": "R"});
    let cells = builtin_cells(BuiltInTable::Event, singleton);
    assert_eq!(
        cells[0], "60s",
        "last seen falls back on the first time, then eventTime"
    );
    assert_eq!(cells[3], "node");
    assert_eq!(cells[8], 1, "a singleton counts once");
}

#[test]
fn services_deployments_and_bindings_print_like_kube_apiserver() {
    let created = "2026-11-23T11:00:00Z";
    let service = json!({"metadata": {"name": "lb", "creationTimestamp": created},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10"], "selector": {"b": "2", "a": "1"},
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}});
    assert_eq!(
        builtin_cells(BuiltInTable::Service, service),
        [
            "lb",
            "LoadBalancer",
            "10.96.0.10",
            "<pending>",
            "80:30080/TCP,53/UDP",
            "60m",
            "a=1,b=2"
        ]
    );
    let deployment = json!({"metadata": {"name": "d", "creationTimestamp": created},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            "template": {"spec": {"containers": [{"name": "main", "image": "nginx"}, {"name": "side", "image": "busybox"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        builtin_cells(BuiltInTable::Deployment, deployment),
        json!([
            "d",
            "2/3",
            3,
            2,
            "60m",
            "main,side",
            "nginx,busybox",
            "app=d,tier in (a,b)"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let binding = json!({"metadata": {"name": "rb", "creationTimestamp": created},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "runner", "namespace": "gpu"}, {"kind": "User", "name": "bob"}]});
    assert_eq!(
        builtin_cells(BuiltInTable::RoleBinding, binding),
        [
            "rb",
            "ClusterRole/view",
            "60m",
            "alice, bob",
            "devs",
            "gpu/runner"
        ]
    );
    let role = json!({"metadata": {"name": "r", "creationTimestamp": created}});
    assert_eq!(
        builtin_cells(BuiltInTable::Role, role),
        ["r", "2026-11-23T11:00:00Z"]
    );
}
