//! The few admission rules of built-in kinds the emulator reproduces (built-ins are otherwise
//! stored schemaless): Secret `stringData`, Namespace phase, events.k8s.io Event validation,
//! CustomResourceDefinition validation.

use super::registry::types_from_crd;
use super::resources::ResourceType;
use super::schema::Cause;
use base64::Engine;
use serde_json::{Value, json};

/// Adjusts and validates a built-in object about to be stored (`old`: the stored state, for updates).
pub fn admit(rt: &ResourceType, object: &mut Value, old: Option<&Value>) -> Result<(), Vec<Cause>> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => admit_secret(object),
        ("", "Namespace") => {
            admit_namespace(object, old);
            Ok(())
        }
        ("events.k8s.io", "Event") => validate_event(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => types_from_crd(object).map(|_| ()),
        _ => Ok(()),
    }
}

/// `stringData` is write-only: merged into `data` (base64) and dropped; `type` defaults to Opaque.
fn admit_secret(secret: &mut Value) -> Result<(), Vec<Cause>> {
    let Some(root) = secret.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(string_data)) = root.remove("stringData") {
        let data = root.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let text = value.as_str().unwrap_or_default();
                data.insert(
                    key,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
    root.entry("type").or_insert_with(|| json!("Opaque"));
    let mut causes = Vec::new();
    if let Some(Value::Object(data)) = root.get("data") {
        for (key, value) in data {
            let valid = value
                .as_str()
                .is_some_and(|v| base64::engine::general_purpose::STANDARD.decode(v).is_ok());
            if !valid {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: illegal base64 data".into(),
                    field: format!("data[{key}]"),
                });
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

/// New namespaces are Active, with the `kubernetes` finalizer in their spec.
fn admit_namespace(namespace: &mut Value, old: Option<&Value>) {
    if old.is_none() {
        namespace["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    if namespace["status"]["phase"].is_null() {
        namespace["status"] = old
            .map(|o| o["status"].clone())
            .filter(|s| !s.is_null())
            .unwrap_or(json!({"phase": "Active"}));
    }
}

/// events.k8s.io/v1 validation: the fields kube-apiserver requires of a new-style Event.
fn validate_event(event: &Value) -> Result<(), Vec<Cause>> {
    let mut causes = Vec::new();
    for field in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if event[field].as_str().is_none_or(str::is_empty) {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: field.into(),
            });
        }
    }
    match event["type"].as_str() {
        Some("Normal") | Some("Warning") => {}
        other => causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: \"{}\": has invalid value: {}",
                other.unwrap_or_default(),
                other.unwrap_or_default()
            ),
            field: "type".into(),
        }),
    }
    if event["regarding"].is_null() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: "regarding".into(),
        });
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::built_ins;

    fn rt(kind: &str, group: &str) -> ResourceType {
        built_ins()
            .into_iter()
            .find(|t| t.kind == kind && t.group == group)
            .unwrap()
    }

    #[test]
    fn secret_string_data_becomes_data() {
        let mut secret = json!({"metadata": {"name": "s"}, "stringData": {"token": "abc"}});
        admit(&rt("Secret", ""), &mut secret, None).unwrap();
        assert_eq!(secret["data"]["token"], "YWJj");
        assert_eq!(secret["type"], "Opaque");
        assert!(secret.get("stringData").is_none());
    }

    #[test]
    fn events_need_reporting_fields() {
        let mut event = json!({"metadata": {"name": "e"}, "type": "Odd"});
        let causes = admit(&rt("Event", "events.k8s.io"), &mut event, None).unwrap_err();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "eventTime",
                "reportingController",
                "reportingInstance",
                "action",
                "reason",
                "type",
                "regarding"
            ]
        );
    }
}
