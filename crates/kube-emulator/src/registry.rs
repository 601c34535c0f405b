//! The served resource types: the built-in table plus one entry per served version of each
//! registered CustomResourceDefinition.

use super::resources::{ResourceType, built_ins};
use super::schema::{Cause, CompiledSchema, SchemaError};
use super::table::PrinterColumn;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Resource types in registration order (discovery lists them in that order).
#[derive(Debug)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
    /// Storage key of a custom resource → the resourceVersion its CRD was first stored at.
    history_start: HashMap<String, u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            types: built_ins().into_iter().map(Arc::new).collect(),
            history_start: HashMap::new(),
        }
    }
}

impl Registry {
    /// The type served at `/apis/{group}/{version}/.../{plural}`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// Replaces the types of one CRD (same group and plural) by `types`; `rv` is the CRD's.
    pub fn register_custom(&mut self, types: Vec<ResourceType>, rv: u64) {
        if let Some(first) = types.first() {
            let (group, plural) = (first.group.clone(), first.plural.clone());
            self.types
                .retain(|t| !(t.custom && t.group == group && t.plural == plural));
            self.history_start.entry(first.storage_key()).or_insert(rv);
        }
        self.types.extend(types.into_iter().map(Arc::new));
    }

    pub fn unregister_custom(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.custom && t.group == group && t.plural == plural));
        self.history_start.remove(&format!("{group}/{plural}"));
    }

    /// The oldest resourceVersion a watch of `storage` resumes from: a custom resource's history
    /// starts with its CRD, as kube-apiserver's watch cache for it does (older: 410).
    pub fn history_start(&self, storage: &str) -> u64 {
        self.history_start.get(storage).copied().unwrap_or(0)
    }
}

/// The resource types a CustomResourceDefinition defines (one per served version), or the causes
/// that make it invalid.
pub fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, Vec<Cause>> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let group = text(&spec["group"]);
    let names = &spec["names"];
    let plural = text(&names["plural"]);
    let kind = text(&names["kind"]);
    let singular = match names["singular"].as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => kind.to_lowercase(),
    };
    let list_kind = match names["listKind"].as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{kind}List"),
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if group.is_empty() {
        causes.push(required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    }
    if kind.is_empty() {
        causes.push(required("spec.names.kind"));
    }
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
            ),
            field: "metadata.name".into(),
        });
    }
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                    other.unwrap_or_default()
                ),
                field: "spec.scope".into(),
            });
            false
        }
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(required("spec.versions"));
    }
    let storage_count = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if !versions.is_empty() && storage_count != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {storage_count}: must have exactly one version marked as storage version"),
            field: "spec.versions".into(),
        });
    }
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .map(|v| text(&v["name"]))
        .unwrap_or_default();
    let mut types = Vec::new();
    for (index, version) in versions.iter().enumerate() {
        let version_name = text(&version["name"]);
        if version_name.is_empty() {
            causes.push(required(&format!("spec.versions[{index}].name")));
            continue;
        }
        if version["served"].as_bool() != Some(true) {
            continue;
        }
        let raw_schema = version["schema"]["openAPIV3Schema"].clone();
        let schema = if raw_schema.is_null() {
            causes.push(required(&format!(
                "spec.versions[{index}].schema.openAPIV3Schema"
            )));
            continue;
        } else {
            let at = format!("spec.versions[{index}].schema.openAPIV3Schema");
            match CompiledSchema::try_compile(&raw_schema) {
                Ok(schema) => schema,
                Err(SchemaError::InvalidRules(errors)) => {
                    causes.extend(errors.into_iter().map(|cause| Cause {
                        field: format!("{at}{}", cause.field),
                        ..cause
                    }));
                    continue;
                }
                Err(error) => {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: error.to_string(),
                        field: at,
                    });
                    continue;
                }
            }
        };
        let printer_columns: Vec<PrinterColumn> =
            match serde_json::from_value(version["additionalPrinterColumns"].clone()) {
                Ok(columns) => columns,
                Err(_) if version["additionalPrinterColumns"].is_null() => Vec::new(),
                Err(error) => {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!("Invalid value: {error}"),
                        field: format!("spec.versions[{index}].additionalPrinterColumns"),
                    });
                    continue;
                }
            };
        types.push(ResourceType {
            group: group.clone(),
            version: version_name,
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: version["subresources"]["status"].is_object(),
            scale: super::resources::ScalePaths::of_version(version),
            has_generation: true,
            schema: Some(Arc::new(schema)),
            raw_schema: Some(Arc::new(raw_schema)),
            printer_columns,
            builtin_table: None,
            custom: true,
            storage: format!("{group}/{plural}"),
            view: Default::default(),
            storage_gvk: format!("{group}/{storage_version}/{kind}"),
            selectable_fields: version["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|field| field["jsonPath"].as_str())
                .map(|path| path.trim_start_matches('.').to_string())
                .collect(),
        });
    }
    if causes.is_empty() {
        Ok(types)
    } else {
        Err(causes)
    }
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

/// The status kube-apiserver writes on an accepted CRD: names accepted, Established.
pub fn established_status(crd: &Value, now: &str) -> Value {
    let spec = &crd["spec"];
    let mut accepted = spec["names"].clone();
    if let Some(names) = accepted.as_object_mut() {
        if !names.contains_key("singular") {
            let kind = spec["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            names.insert("singular".into(), Value::String(kind));
        }
        if !names.contains_key("listKind") {
            let kind = spec["names"]["kind"].as_str().unwrap_or_default();
            names.insert("listKind".into(), Value::String(format!("{kind}List")));
        }
    }
    let stored: Vec<Value> = spec["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let condition = |type_: &str, reason: &str, message: &str| {
        serde_json::json!({
            "type": type_, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message
        })
    };
    serde_json::json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": accepted,
        "storedVersions": stored,
    })
}
