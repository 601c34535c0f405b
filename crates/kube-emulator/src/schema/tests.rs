use super::*;
use serde_json::json;

/// A SpotBid-like schema exercising every keyword the server must understand.
fn spot_bid_schema() -> Value {
    json!({
        "type": "object",
        "description": "A Mithril spot bid.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["region", "instanceQuantity"],
                "properties": {
                    "region": {"type": "string", "enum": ["us-central1-a", "eu-central1-a"]},
                    "instanceQuantity": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 64},
                    "limitPrice": {"type": "string", "pattern": "^\\$\\d+\\.\\d{2}$"},
                    "name": {"type": "string", "maxLength": 8},
                    "paused": {"type": "boolean", "default": false},
                    "note": {"type": "string", "nullable": true, "default": "none"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "expiresAt": {"type": "string", "format": "date-time", "nullable": true},
                    "sshKeys": {
                        "type": "array",
                        "items": {"type": "string"},
                        "x-kubernetes-list-type": "set"
                    },
                    "volumes": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "sizeGb": {"type": "integer", "default": 100}
                            }
                        }
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "extra": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"pinned": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    },
                    "startup": {
                        "type": "object",
                        "default": {},
                        "properties": {"script": {"type": "string", "default": "#!/bin/sh"}}
                    }
                },
                "x-kubernetes-validations": [{"rule": "self.instanceQuantity < 100"}]
            },
            "status": {
                "type": "object",
                "properties": {
                    "conditions": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                        "items": {
                            "type": "object",
                            "required": ["type", "status"],
                            "properties": {
                                "type": {"type": "string"},
                                "status": {"type": "string"},
                                "lastTransitionTime": {"type": "string", "format": "date-time"}
                            }
                        }
                    }
                }
            }
        }
    })
}

fn compiled() -> CompiledSchema {
    CompiledSchema::compile(&spot_bid_schema()).expect("the SpotBid schema is structural")
}

fn valid_bid() -> Value {
    json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "metadata": {"name": "train", "namespace": "default"},
        "spec": {"region": "us-central1-a", "instanceQuantity": 2, "limitPrice": "$12.50"}
    })
}

fn causes_of(spec: Value) -> Vec<Cause> {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"] = spec;
    schema.prune_and_default(&mut bid);
    schema.validate(&bid, None)
}

fn cause(reason: &str, field: &str, message: &str) -> Cause {
    Cause {
        reason: reason.into(),
        field: field.into(),
        message: message.into(),
    }
}

#[test]
fn a_valid_object_has_no_causes() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"]["port"] = json!("http");
    bid["spec"]["expiresAt"] = json!("2026-11-23T15:00:00Z");
    bid["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T15:00:00Z"}]});
    schema.prune_and_default(&mut bid);
    assert_eq!(schema.validate(&bid, None), Vec::new());
}

/// What kube-apiserver adds when a type, required, enum or size failure keeps it from running the
/// CEL rules.
fn rules_not_checked() -> Cause {
    cause(
        "FieldValueInvalid",
        "<nil>",
        "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
    )
}

#[test]
fn minimum_is_reported_as_kube_apiserver_words_it() {
    let causes = causes_of(json!({"region": "us-central1-a", "instanceQuantity": 0}));
    assert_eq!(
        causes,
        vec![cause(
            "FieldValueInvalid",
            "spec.instanceQuantity",
            "Invalid value: 0: spec.instanceQuantity in body should be greater than or equal to 1"
        )]
    );
}

#[test]
fn maximum_required_enum_pattern_and_length_causes() {
    let causes = causes_of(
        json!({"instanceQuantity": 65, "limitPrice": "12", "name": "much-too-long", "region": "mars"}),
    );
    assert!(
        !causes.iter().any(|c| c.reason == "FieldValueRequired"),
        "region is present"
    );
    assert!(causes.contains(&cause(
        "FieldValueInvalid",
        "spec.instanceQuantity",
        "Invalid value: 65: spec.instanceQuantity in body should be less than or equal to 64"
    )));
    assert!(causes.contains(&cause(
        "FieldValueNotSupported",
        "spec.region",
        "Unsupported value: \"mars\": supported values: \"us-central1-a\", \"eu-central1-a\""
    )));
    assert!(causes.contains(&cause(
        "FieldValueInvalid",
        "spec.limitPrice",
        "Invalid value: \"12\": spec.limitPrice in body should match '^\\$\\d+\\.\\d{2}$'"
    )));
    assert!(causes.contains(&cause(
        "FieldValueTooLong",
        "spec.name",
        "Too long: may not be more than 8 bytes"
    )));
    assert!(
        causes.contains(&rules_not_checked()),
        "an enum or length failure blocks the CEL rules"
    );
    assert_eq!(causes.len(), 5, "{causes:#?}");
}

#[test]
fn missing_required_fields_name_the_missing_field() {
    let causes = causes_of(json!({"instanceQuantity": 1}));
    assert_eq!(
        causes,
        vec![
            cause("FieldValueRequired", "spec.region", "Required value"),
            rules_not_checked()
        ]
    );
}

#[test]
fn wrong_types_name_the_type_found() {
    let causes = causes_of(
        json!({"region": "us-central1-a", "instanceQuantity": "two", "paused": 3, "port": true}),
    );
    assert!(causes.contains(&cause(
        "FieldValueTypeInvalid",
        "spec.instanceQuantity",
        "Invalid value: \"string\": spec.instanceQuantity in body must be of type integer: \"string\""
    )));
    assert!(causes.contains(&cause(
        "FieldValueTypeInvalid",
        "spec.paused",
        "Invalid value: \"integer\": spec.paused in body must be of type boolean: \"integer\""
    )));
    assert!(causes.contains(&cause(
        "FieldValueTypeInvalid",
        "spec.port",
        "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
    )));
}

#[test]
fn int_or_string_accepts_both() {
    assert!(
        causes_of(json!({"region": "us-central1-a", "instanceQuantity": 1, "port": 8080}))
            .is_empty()
    );
    assert!(
        causes_of(json!({"region": "us-central1-a", "instanceQuantity": 1, "port": "http"}))
            .is_empty()
    );
}

#[test]
fn known_formats_are_checked_and_numeric_formats_ignored() {
    let causes = causes_of(
        json!({"region": "us-central1-a", "instanceQuantity": 1, "expiresAt": "tomorrow"}),
    );
    assert_eq!(
        causes,
        vec![
            cause(
                "FieldValueTypeInvalid",
                "spec.expiresAt",
                "Invalid value: \"tomorrow\": spec.expiresAt in body must be of type date-time: \"tomorrow\""
            ),
            rules_not_checked()
        ]
    );
    // int32 on a large-enough integer is no failure: kube-apiserver does not check numeric formats.
    assert!(causes_of(json!({"region": "us-central1-a", "instanceQuantity": 64})).is_empty());
}

#[test]
fn nullable_fields_accept_null_and_keep_it() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"]["expiresAt"] = Value::Null;
    bid["spec"]["note"] = Value::Null;
    schema.prune_and_default(&mut bid);
    assert_eq!(bid["spec"]["expiresAt"], Value::Null);
    assert_eq!(
        bid["spec"]["note"],
        Value::Null,
        "a present nullable null is not defaulted"
    );
    assert!(schema.validate(&bid, None).is_empty());
}

#[test]
fn array_item_paths_use_indexes() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["status"] =
        json!({"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced"}]});
    schema.prune_and_default(&mut bid);
    assert_eq!(
        schema.validate(&bid, None),
        vec![
            cause(
                "FieldValueRequired",
                "status.conditions[1].status",
                "Required value"
            ),
            rules_not_checked()
        ]
    );
}

#[test]
fn set_and_map_lists_reject_duplicates() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"]["sshKeys"] = json!(["a", "b", "a"]);
    bid["status"] = json!({"conditions": [
        {"type": "Ready", "status": "True"},
        {"type": "Ready", "status": "False"}
    ]});
    schema.prune_and_default(&mut bid);
    assert_eq!(
        schema.validate(&bid, None),
        vec![
            cause(
                "FieldValueDuplicate",
                "spec.sshKeys[2]",
                "Duplicate value: \"a\""
            ),
            cause(
                "FieldValueDuplicate",
                "status.conditions[1]",
                "Duplicate value: {\"type\":\"Ready\"}"
            ),
        ]
    );
}

#[test]
fn pruning_drops_undeclared_fields_and_keeps_type_meta() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["metadata"]["labels"] = json!({"team": "ml"});
    bid["spec"]["bogus"] = json!(1);
    bid["spec"]["volumes"] = json!([{"name": "data", "mode": "rw"}]);
    bid["spec"]["labels"] = json!({"any": "thing"});
    bid["unknownTopLevel"] = json!({"x": 1});
    schema.prune_and_default(&mut bid);
    assert_eq!(
        bid["metadata"],
        json!({"name": "train", "namespace": "default", "labels": {"team": "ml"}})
    );
    assert_eq!(bid["apiVersion"], "mithril.ai/v1alpha1");
    assert!(bid.get("unknownTopLevel").is_none());
    assert!(bid["spec"].get("bogus").is_none());
    assert_eq!(
        bid["spec"]["volumes"],
        json!([{"name": "data", "sizeGb": 100}])
    );
    assert_eq!(bid["spec"]["labels"], json!({"any": "thing"}));
}

#[test]
fn preserve_unknown_fields_keeps_unknowns_but_prunes_declared_children() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"]["extra"] = json!({"free": {"form": [1, 2]}, "pinned": {"a": "x", "b": "pruned"}});
    schema.prune_and_default(&mut bid);
    assert_eq!(
        bid["spec"]["extra"],
        json!({"free": {"form": [1, 2]}, "pinned": {"a": "x"}})
    );
}

#[test]
fn defaults_apply_inside_existing_parents_only() {
    let schema = compiled();
    let mut bid = valid_bid();
    schema.prune_and_default(&mut bid);
    assert_eq!(bid["spec"]["paused"], json!(false));
    assert_eq!(bid["spec"]["note"], json!("none"));
    // A defaulted object is defaulted inside too.
    assert_eq!(bid["spec"]["startup"], json!({"script": "#!/bin/sh"}));
    // status has no default: it stays absent, and nothing inside it is defaulted.
    assert!(bid.get("status").is_none());
}

#[test]
fn non_nullable_nulls_are_dropped_or_defaulted() {
    let schema = compiled();
    let mut bid = valid_bid();
    bid["spec"]["paused"] = Value::Null;
    bid["spec"]["limitPrice"] = Value::Null;
    schema.prune_and_default(&mut bid);
    assert_eq!(
        bid["spec"]["paused"],
        json!(false),
        "null with a default takes the default"
    );
    assert!(
        bid["spec"].get("limitPrice").is_none(),
        "null without a default is dropped"
    );
    assert!(schema.validate(&bid, None).is_empty());
}

#[test]
fn non_structural_schemas_are_refused_with_reasons() {
    let missing_type = json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}});
    let message = CompiledSchema::compile(&missing_type).expect_err("no type on spec");
    assert_eq!(
        message,
        "openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
    );

    let both = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": {"type": "string"}
    }}});
    let message = CompiledSchema::compile(&both).expect_err("properties and additionalProperties");
    assert!(
        message.contains("additionalProperties and properties are mutual exclusive"),
        "{message}"
    );

    let typed_junctor = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "anyOf": [{"type": "object", "required": ["a"]}]
    }}});
    let message = CompiledSchema::compile(&typed_junctor).expect_err("type inside anyOf");
    assert_eq!(
        message,
        "openAPIV3Schema.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural"
    );

    let keyless_map = json!({"type": "object", "properties": {"items": {
        "type": "array", "x-kubernetes-list-type": "map",
        "items": {"type": "object", "properties": {"name": {"type": "string"}}}
    }}});
    let error = CompiledSchema::try_compile(&keyless_map).expect_err("list map without keys");
    assert!(
        matches!(error, SchemaError::NotStructural(ref violations) if violations.len() == 1),
        "{error}"
    );

    let not_object_root = json!({"type": "string"});
    assert!(CompiledSchema::compile(&not_object_root).is_err());
}

#[test]
fn int_or_string_spelled_with_any_of_is_structural() {
    let schema = json!({"type": "object", "properties": {"port": {
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }}});
    let compiled = CompiledSchema::compile(&schema).expect("int-or-string anyOf is allowed");
    assert!(compiled.validate(&json!({"port": 1}), None).is_empty());
    assert_eq!(compiled.validate(&json!({"port": 1.5}), None).len(), 1);
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let schema = json!({"type": "object", "properties": {"template": {
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true
    }}});
    let compiled = CompiledSchema::compile(&schema).expect("embedded resource schema");
    let mut object =
        json!({"template": {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}});
    compiled.prune_and_default(&mut object);
    assert_eq!(object["template"]["data"], json!({"a": "b"}));
    assert_eq!(
        compiled.validate(&object, None),
        vec![cause(
            "FieldValueRequired",
            "template.apiVersion",
            "Required value"
        )]
    );
}

#[test]
fn invalid_message_composes_causes_like_kube_apiserver() {
    let one = vec![cause("FieldValueRequired", "spec.region", "Required value")];
    assert_eq!(
        invalid_message("SpotBid.mithril.ai", "x", &one),
        "SpotBid.mithril.ai \"x\" is invalid: spec.region: Required value"
    );
    let two = vec![
        cause("FieldValueRequired", "spec.region", "Required value"),
        cause(
            "FieldValueInvalid",
            "spec.instanceQuantity",
            "Invalid value: 0: spec.instanceQuantity in body should be greater than or equal to 1",
        ),
    ];
    assert_eq!(
        invalid_message("SpotBid.mithril.ai", "x", &two),
        "SpotBid.mithril.ai \"x\" is invalid: [spec.region: Required value, spec.instanceQuantity: Invalid value: 0: spec.instanceQuantity in body should be greater than or equal to 1]"
    );
}

#[test]
fn schema_tree_exposes_list_and_map_types() {
    let schema = compiled();
    let spec = schema.root().property("spec").expect("spec");
    assert_eq!(
        spec.property("sshKeys").map(SchemaNode::list_type),
        Some(&ListType::Set)
    );
    assert_eq!(
        schema
            .root()
            .property("status")
            .and_then(|s| s.property("conditions"))
            .map(SchemaNode::list_type),
        Some(&ListType::Map {
            keys: vec!["type".into()]
        })
    );
    assert_eq!(spec.map_type(), MapType::Granular);
    assert!(
        spec.property("extra")
            .is_some_and(SchemaNode::preserve_unknown_fields)
    );
}
