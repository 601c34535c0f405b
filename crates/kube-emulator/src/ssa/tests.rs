use super::*;
use serde_json::json;

const T0: &str = "2026-11-23T10:00:00Z";
const T1: &str = "2026-11-23T10:05:00Z";

fn spot_bid_schema() -> CompiledSchema {
    CompiledSchema::compile(&json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "region": {"type": "string"},
                    "limitPrice": {"type": "string"},
                    "instanceQuantity": {"type": "integer"},
                    "sshKeys": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "command": {"type": "array", "items": {"type": "string"}}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "conditions": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                        "items": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {
                                "type": {"type": "string"},
                                "status": {"type": "string"},
                                "reason": {"type": "string"}
                            }
                        }
                    }
                }
            }
        }
    }))
    .expect("structural schema")
}

fn ctx<'a>(manager: &'a str, schema: &'a CompiledSchema, now: &'a str) -> WriteContext<'a> {
    WriteContext {
        manager,
        subresource: None,
        status_subresource: true,
        schema: Some(schema),
        now,
    }
}

fn status_ctx<'a>(manager: &'a str, schema: &'a CompiledSchema, now: &'a str) -> WriteContext<'a> {
    WriteContext {
        subresource: Some("status"),
        ..ctx(manager, schema, now)
    }
}

fn bid(spec: Value) -> Value {
    json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid", "metadata": {"name": "train", "namespace": "default"}, "spec": spec})
}

fn entry<'v>(object: &'v Value, manager: &str) -> &'v Value {
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|entry| entry["manager"] == manager))
        .unwrap_or_else(|| panic!("no managedFields entry for {manager} in {object:#}"))
}

fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["manager"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn apply_creates_and_records_the_applied_fields() {
    let schema = spot_bid_schema();
    let mut applied =
        bid(json!({"region": "us-central1-a", "limitPrice": "$1.00", "sshKeys": ["a"]}));
    applied["metadata"]["labels"] = json!({"team": "ml"});
    let created =
        apply(None, &applied, &ctx("kubectl", &schema, T0), false).expect("create by apply");
    assert_eq!(created["spec"], applied["spec"]);
    assert_eq!(created["metadata"]["labels"], json!({"team": "ml"}));
    assert_eq!(
        created["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "mithril.ai/v1alpha1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:team": {}}},
                "f:spec": {"f:limitPrice": {}, "f:region": {}, "f:sshKeys": {"v:\"a\"": {}}}
            }
        }])
    );
}

#[test]
fn two_managers_applying_the_same_value_share_it() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a", "limitPrice": "$1.00"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("alice creates");
    let shared = apply(
        Some(&live),
        &bid(json!({"limitPrice": "$1.00"})),
        &ctx("bob", &schema, T1),
        false,
    )
    .expect("same value: no conflict");
    assert_eq!(
        entry(&shared, "bob")["fieldsV1"],
        json!({"f:spec": {"f:limitPrice": {}}})
    );
    assert_eq!(
        entry(&shared, "alice")["fieldsV1"],
        json!({"f:spec": {"f:limitPrice": {}, "f:region": {}}})
    );
    // Nothing changed: bob's entry is new, so it is stamped; alice's keeps its time.
    assert_eq!(entry(&shared, "alice")["time"], T0);

    // Alice stops applying limitPrice: bob still owns it, so it stays.
    let after = apply(
        Some(&shared),
        &bid(json!({"region": "us-central1-a"})),
        &ctx("alice", &schema, T1),
        false,
    )
    .expect("alice drops limitPrice");
    assert_eq!(after["spec"]["limitPrice"], "$1.00");
    assert_eq!(
        entry(&after, "alice")["fieldsV1"],
        json!({"f:spec": {"f:region": {}}})
    );
}

#[test]
fn a_different_value_for_a_field_owned_by_another_manager_conflicts() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"limitPrice": "$1.00", "region": "us-central1-a"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("alice creates");
    let refused = apply(
        Some(&live),
        &bid(json!({"limitPrice": "$2.00"})),
        &ctx("bob", &schema, T1),
        false,
    );
    let Err(ApplyError::Conflicts(conflicts)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert_eq!(
        conflicts,
        vec![FieldConflict {
            manager: "alice".into(),
            field: ".spec.limitPrice".into(),
            described_manager: "\"alice\"".into()
        }]
    );
    assert_eq!(conflicts[0].cause_message(), "conflict with \"alice\"");
    assert_eq!(
        ApplyError::Conflicts(conflicts).to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.limitPrice"
    );
}

#[test]
fn force_takes_ownership_away_from_the_others() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"limitPrice": "$1.00", "region": "us-central1-a"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("alice creates");
    let forced = apply(
        Some(&live),
        &bid(json!({"limitPrice": "$2.00"})),
        &ctx("bob", &schema, T1),
        true,
    )
    .expect("forced apply");
    assert_eq!(forced["spec"]["limitPrice"], "$2.00");
    assert_eq!(
        entry(&forced, "bob")["fieldsV1"],
        json!({"f:spec": {"f:limitPrice": {}}})
    );
    assert_eq!(
        entry(&forced, "alice")["fieldsV1"],
        json!({"f:spec": {"f:region": {}}})
    );
    assert_eq!(entry(&forced, "alice")["time"], T0);
    assert_eq!(entry(&forced, "bob")["time"], T1);
}

#[test]
fn a_field_the_manager_omits_now_is_removed() {
    let schema = spot_bid_schema();
    let mut first = bid(
        json!({"limitPrice": "$1.00", "region": "us-central1-a", "sshKeys": ["a", "b"], "command": ["run"]}),
    );
    first["metadata"]["labels"] = json!({"team": "ml", "tier": "gold"});
    let live = apply(None, &first, &ctx("alice", &schema, T0), false).expect("create");
    let mut second = bid(json!({"region": "us-central1-a", "sshKeys": ["b"]}));
    second["metadata"]["labels"] = json!({"team": "ml"});
    let after =
        apply(Some(&live), &second, &ctx("alice", &schema, T1), false).expect("apply fewer fields");
    assert_eq!(
        after["spec"],
        json!({"region": "us-central1-a", "sshKeys": ["b"]})
    );
    assert_eq!(after["metadata"]["labels"], json!({"team": "ml"}));
    assert_eq!(
        after["metadata"]["name"], "train",
        "metadata itself is never removed"
    );
    assert_eq!(entry(&after, "alice")["time"], T1);
}

#[test]
fn sets_merge_item_by_item_between_managers() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"sshKeys": ["a"]})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("create");
    let both = apply(
        Some(&live),
        &bid(json!({"sshKeys": ["b"]})),
        &ctx("bob", &schema, T1),
        false,
    )
    .expect("bob adds b");
    assert_eq!(both["spec"]["sshKeys"], json!(["a", "b"]));
    // Atomic lists are replaced whole, and owned whole.
    let replaced = apply(
        Some(&both),
        &bid(json!({"command": ["x", "y"]})),
        &ctx("carol", &schema, T1),
        false,
    )
    .expect("carol");
    assert_eq!(
        entry(&replaced, "carol")["fieldsV1"],
        json!({"f:spec": {"f:command": {}}})
    );
    let refused = apply(
        Some(&replaced),
        &bid(json!({"command": ["z"]})),
        &ctx("dave", &schema, T1),
        false,
    );
    assert!(
        matches!(refused, Err(ApplyError::Conflicts(ref c)) if c[0].field == ".spec.command"),
        "{refused:?}"
    );
}

#[test]
fn conditions_merge_by_type_across_managers() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a"})),
        &ctx("user", &schema, T0),
        false,
    )
    .expect("create");
    let ready = json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Pending"}]}});
    let live = apply(
        Some(&live),
        &ready,
        &status_ctx("bid-controller", &schema, T0),
        false,
    )
    .expect("Ready");
    let synced = json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "status": {"conditions": [{"type": "Synced", "status": "True"}]}});
    let live = apply(
        Some(&live),
        &synced,
        &status_ctx("syncer", &schema, T0),
        false,
    )
    .expect("Synced");
    assert_eq!(
        live["status"]["conditions"],
        json!([{"type": "Ready", "status": "False", "reason": "Pending"}, {"type": "Synced", "status": "True"}])
    );
    assert_eq!(
        entry(&live, "bid-controller")["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}}})
    );
    assert_eq!(entry(&live, "bid-controller")["subresource"], "status");

    // The controller flips its condition; the other manager's condition is untouched.
    let flipped = json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let live = apply(
        Some(&live),
        &flipped,
        &status_ctx("bid-controller", &schema, T1),
        false,
    )
    .expect("flip");
    assert_eq!(
        live["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}]),
        "reason was owned by bid-controller alone and is gone"
    );
    // Another manager changing the controller's condition conflicts on exactly that field.
    let stolen = json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    let refused = apply(
        Some(&live),
        &stolen,
        &status_ctx("syncer", &schema, T1),
        false,
    );
    let Err(ApplyError::Conflicts(conflicts)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0].field,
        ".status.conditions[type=\"Ready\"].status"
    );
    assert_eq!(
        conflicts[0].described_manager,
        "\"bid-controller\" with subresource \"status\""
    );
}

#[test]
fn status_apply_changes_only_status() {
    let schema = spot_bid_schema();
    let mut created = bid(json!({"region": "us-central1-a"}));
    created["metadata"]["labels"] = json!({"team": "ml"});
    let live = apply(None, &created, &ctx("user", &schema, T0), false).expect("create");
    let mut sneaky = bid(json!({"region": "eu-central1-a"}));
    sneaky["metadata"]["labels"] = json!({"team": "other"});
    sneaky["status"] = json!({"phase": "Open"});
    let after = apply(
        Some(&live),
        &sneaky,
        &status_ctx("controller", &schema, T1),
        false,
    )
    .expect("status apply");
    assert_eq!(after["spec"], live["spec"]);
    assert_eq!(after["metadata"]["labels"], json!({"team": "ml"}));
    assert_eq!(after["status"], json!({"phase": "Open"}));
    assert_eq!(
        entry(&after, "controller")["fieldsV1"],
        json!({"f:status": {"f:phase": {}}})
    );
}

#[test]
fn main_resource_apply_ignores_status_when_there_is_a_status_subresource() {
    let schema = spot_bid_schema();
    let mut applied = bid(json!({"region": "us-central1-a"}));
    applied["status"] = json!({"phase": "Forged"});
    let created = apply(None, &applied, &ctx("user", &schema, T0), false).expect("create");
    assert!(created.get("status").is_none());
    assert_eq!(
        entry(&created, "user")["fieldsV1"],
        json!({"f:spec": {"f:region": {}}})
    );

    // Without a status subresource, status is an ordinary field.
    let plain = WriteContext {
        status_subresource: false,
        ..ctx("user", &schema, T0)
    };
    let created = apply(None, &applied, &plain, false).expect("create");
    assert_eq!(created["status"], json!({"phase": "Forged"}));
}

#[test]
fn kube_rs_status_patch_apply_keeps_the_rest_of_the_object() {
    // kube's `Patch::Apply` on `/status` sends apiVersion, kind and status only.
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a", "limitPrice": "$1.00"})),
        &ctx("user", &schema, T0),
        false,
    )
    .expect("create");
    let patch = json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "status": {"phase": "Allocated", "conditions": [{"type": "Ready", "status": "True"}, {"type": "Billing", "status": "True"}]}
    });
    let after = apply(
        Some(&live),
        &patch,
        &status_ctx("mithril-operator", &schema, T1),
        true,
    )
    .expect("status apply");
    assert_eq!(after["metadata"]["name"], "train");
    assert_eq!(after["spec"], live["spec"]);
    assert_eq!(after["status"]["phase"], "Allocated");
    assert_eq!(
        managers(&after),
        vec!["user".to_owned(), "mithril-operator".to_owned()]
    );

    // The next status omits the Billing condition: it is removed, the spec still untouched.
    let patch = json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "status": {"phase": "Allocated", "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let after = apply(
        Some(&after),
        &patch,
        &status_ctx("mithril-operator", &schema, T1),
        true,
    )
    .expect("status apply");
    assert_eq!(
        after["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}])
    );
    assert_eq!(after["spec"], live["spec"]);
}

#[test]
fn an_unchanged_apply_keeps_the_entry_time() {
    let schema = spot_bid_schema();
    let applied = bid(json!({"region": "us-central1-a"}));
    let live = apply(None, &applied, &ctx("user", &schema, T0), false).expect("create");
    let again = apply(Some(&live), &applied, &ctx("user", &schema, T1), false).expect("same apply");
    assert_eq!(again, live);
}

#[test]
fn managed_fields_in_the_applied_body_are_refused() {
    let schema = spot_bid_schema();
    let mut applied = bid(json!({"region": "us-central1-a"}));
    applied["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    let refused = apply(None, &applied, &ctx("user", &schema, T0), false);
    assert_eq!(
        refused,
        Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into()
        ))
    );
}

#[test]
fn updates_take_ownership_of_what_they_change() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a", "limitPrice": "$1.00"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("create");
    let mut edited = live.clone();
    edited["spec"]["limitPrice"] = json!("$3.00");
    edited["spec"]["instanceQuantity"] = json!(4);
    record_update(Some(&live), &mut edited, &ctx("kubectl-edit", &schema, T1));
    assert_eq!(entry(&edited, "kubectl-edit")["operation"], "Update");
    assert_eq!(
        entry(&edited, "kubectl-edit")["fieldsV1"],
        json!({"f:spec": {"f:instanceQuantity": {}, "f:limitPrice": {}}})
    );
    assert_eq!(
        entry(&edited, "alice")["fieldsV1"],
        json!({"f:spec": {"f:region": {}}})
    );

    // Alice applying her old price now conflicts with the editor, named with its version and time.
    let refused = apply(
        Some(&edited),
        &bid(json!({"region": "us-central1-a", "limitPrice": "$1.00"})),
        &ctx("alice", &schema, T1),
        false,
    );
    let Err(ApplyError::Conflicts(conflicts)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert_eq!(
        conflicts[0].described_manager,
        format!("\"kubectl-edit\" using mithril.ai/v1alpha1 at {T1}")
    );
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("create");
    let mut same = live.clone();
    record_update(Some(&live), &mut same, &ctx("kubectl-edit", &schema, T1));
    assert_eq!(same, live);
}

#[test]
fn create_records_every_field_for_the_creator() {
    let schema = spot_bid_schema();
    let mut created = bid(json!({"region": "us-central1-a"}));
    created["metadata"]["finalizers"] = json!(["mithril.ai/cleanup"]);
    record_update(None, &mut created, &ctx("mithril-operator", &schema, T0));
    assert_eq!(
        entry(&created, "mithril-operator")["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"mithril.ai/cleanup\"": {}}}, "f:spec": {".": {}, "f:region": {}}})
    );
}

#[test]
fn status_updates_only_record_status() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a"})),
        &ctx("alice", &schema, T0),
        false,
    )
    .expect("create");
    let mut new = live.clone();
    new["status"] = json!({"phase": "Open"});
    record_update(
        Some(&live),
        &mut new,
        &status_ctx("controller", &schema, T1),
    );
    let controller = entry(&new, "controller");
    assert_eq!(controller["subresource"], "status");
    // status appeared whole, so the object itself is recorded too, as kube-apiserver does.
    assert_eq!(
        controller["fieldsV1"],
        json!({"f:status": {".": {}, "f:phase": {}}})
    );
}

#[test]
fn leases_without_schema_merge_maps_and_conflict_on_holder() {
    let lease = |holder: &str| {
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "mithril-operator", "namespace": "default"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": "2026-11-23T10:00:00.000000Z"}
        })
    };
    let builtin = |manager: &'static str| WriteContext {
        manager,
        subresource: None,
        status_subresource: false,
        schema: None,
        now: T0,
    };
    let live =
        apply(None, &lease("pod-a"), &builtin("pod-a"), false).expect("pod-a takes the lease");
    assert_eq!(
        entry(&live, "pod-a")["fieldsV1"],
        json!({"f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {}, "f:renewTime": {}}})
    );
    let refused = apply(Some(&live), &lease("pod-b"), &builtin("pod-b"), false);
    let Err(ApplyError::Conflicts(conflicts)) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert_eq!(conflicts.len(), 1, "only the holder differs: {conflicts:?}");
    let taken =
        apply(Some(&live), &lease("pod-b"), &builtin("pod-b"), true).expect("forced takeover");
    assert_eq!(taken["spec"]["holderIdentity"], "pod-b");
    assert_eq!(
        entry(&taken, "pod-a")["fieldsV1"],
        json!({"f:spec": {"f:leaseDurationSeconds": {}, "f:renewTime": {}}})
    );
}

#[test]
fn finalizers_and_owner_references_are_tracked_per_item() {
    let schema = spot_bid_schema();
    let mut first = bid(json!({}));
    first["metadata"]["finalizers"] = json!(["a"]);
    first["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u-1"}]);
    let live = apply(None, &first, &ctx("alice", &schema, T0), false).expect("create");
    let mut second = bid(json!({}));
    second["metadata"]["finalizers"] = json!(["b"]);
    let both =
        apply(Some(&live), &second, &ctx("bob", &schema, T1), false).expect("bob adds a finalizer");
    assert_eq!(both["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(
        entry(&both, "alice")["fieldsV1"]["f:metadata"]["f:ownerReferences"],
        json!({"k:{\"uid\":\"u-1\"}": {".": {}, "f:apiVersion": {}, "f:kind": {}, "f:name": {}, "f:uid": {}}})
    );
}

#[test]
fn conflict_messages_group_by_manager() {
    let conflicts = vec![
        FieldConflict {
            manager: "a".into(),
            field: ".spec.x".into(),
            described_manager: "\"a\"".into(),
        },
        FieldConflict {
            manager: "a".into(),
            field: ".spec.y".into(),
            described_manager: "\"a\"".into(),
        },
    ];
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.x\n- .spec.y"
    );
}

#[test]
fn list_map_items_without_keys_and_repeated_items_are_refused() {
    let schema = spot_bid_schema();
    let live = apply(
        None,
        &bid(json!({"region": "us-central1-a"})),
        &ctx("user", &schema, T0),
        false,
    )
    .expect("create");
    let keyless = json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid", "status": {"conditions": [{"status": "True"}]}});
    assert_eq!(
        apply(Some(&live), &keyless, &status_ctx("controller", &schema, T1), false),
        Err(ApplyError::Invalid(
            ".status.conditions: element 0: associative list with keys has an element that omits key field \"type\" (and doesn't have default value)".into()
        ))
    );
    let repeated = bid(json!({"sshKeys": ["a", "a"]}));
    assert_eq!(
        apply(Some(&live), &repeated, &ctx("user", &schema, T1), false),
        Err(ApplyError::Invalid(
            ".spec.sshKeys[=\"a\"]: duplicate entries in the applied configuration".into()
        ))
    );
}

#[test]
fn list_map_keys_with_defaults_may_be_omitted() {
    let schema = CompiledSchema::compile(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["port", "protocol"],
            "items": {"type": "object", "required": ["port"], "properties": {
                "port": {"type": "integer"},
                "protocol": {"type": "string", "default": "TCP"},
                "name": {"type": "string"}
            }}
        }}}}
    }))
    .expect("structural schema");
    let applied = bid(json!({"ports": [{"port": 80, "name": "http"}]}));
    let created = apply(None, &applied, &ctx("user", &schema, T0), false).expect("create");
    assert_eq!(
        entry(&created, "user")["fieldsV1"],
        json!({"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
    );
}
