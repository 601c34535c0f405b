use super::*;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::TypeMeta;
use serde_json::json;

/// A body as client-go writes it: the magic, then `runtime.Unknown` around the object.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC, &unknown.encode_to_vec()].concat()
}

/// Go writes every non-pointer field, empty or not: so does this metadata.
fn metadata(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(namespace.into()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

#[test]
fn a_secret_as_kubectl_create_sends_it() {
    let secret = core::Secret {
        metadata: Some(metadata("s1", "")),
        immutable: None,
        data: [("k".to_string(), b"v".to_vec())].into(),
        string_data: Default::default(),
        r#type: Some(String::new()),
    };
    assert_eq!(
        decode(&body("v1", "Secret", &secret)).unwrap(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"k": "dg=="}})
    );
}

#[test]
fn pointer_fields_keep_zero_values_and_times_are_rfc3339() {
    let map = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            labels: [("a".to_string(), "b".to_string())].into(),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_700_000_000),
                nanos: Some(5),
            }),
            deletion_grace_period_seconds: Some(0),
            ..metadata("c1", "ns")
        }),
        immutable: Some(false),
        data: [("k".to_string(), "v".to_string())].into(),
        binary_data: [("b".to_string(), vec![0])].into(),
    };
    assert_eq!(
        decode(&body("v1", "ConfigMap", &map)).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c1", "namespace": "ns", "creationTimestamp": "2023-11-14T22:13:20Z",
                "deletionGracePeriodSeconds": 0, "labels": {"a": "b"}},
            "immutable": false, "data": {"k": "v"}, "binaryData": {"b": "AA=="}})
    );
}

#[test]
fn micro_times_keep_microseconds() {
    let event = k8s_pb::api::events::v1::Event {
        metadata: Some(metadata("e", "ns")),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_789),
        }),
        reason: Some("Started".into()),
        ..Default::default()
    };
    let decoded = decode(&body("events.k8s.io/v1", "Event", &event)).unwrap();
    assert_eq!(decoded["eventTime"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(decoded["reason"], "Started");
}

#[test]
fn delete_options_under_any_group_version() {
    let options = meta::DeleteOptions {
        preconditions: Some(meta::Preconditions {
            uid: Some("u".into()),
            resource_version: None,
        }),
        propagation_policy: Some("Background".into()),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    assert_eq!(
        decode(&body("v1", "DeleteOptions", &options)).unwrap(),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u"},
            "propagationPolicy": "Background", "dryRun": ["All"]})
    );
}

#[test]
fn unknown_kinds_and_bad_bytes_are_told_apart() {
    let deployment = core::ConfigMap::default();
    assert_eq!(
        decode(&body("apps/v1", "Deployment", &deployment)),
        Err(ProtobufError::UnknownKind(
            "apps/v1".into(),
            "Deployment".into()
        ))
    );
    assert!(matches!(
        decode(b"{\"kind\": \"Secret\"}"),
        Err(ProtobufError::Malformed(_))
    ));
    let mut truncated = body("v1", "Secret", &core::Secret::default());
    truncated.extend([0x0a, 0x05]);
    assert!(matches!(
        decode(&truncated),
        Err(ProtobufError::Malformed(_))
    ));
}
