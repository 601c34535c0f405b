//! CustomResourceDefinition structural schemas: pruning, defaulting, validation, list types.
//! INTERFACE (filled in by the schema work; the core calls exactly these):

use serde_json::Value;

/// One validation failure, in the shape of a Kubernetes `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueTypeInvalid`, ...
    pub reason: String,
    /// Human message, as kube-apiserver words it (e.g. `Invalid value: 0: spec.quantity in body should be greater than or equal to 1`).
    pub message: String,
    /// Field path, e.g. `spec.quantity`.
    pub field: String,
}

/// The compiled `openAPIV3Schema` of one CRD version.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    _raw: Value,
}

impl CompiledSchema {
    /// Compiles a CRD version's `schema.openAPIV3Schema`; an error message for a schema that is not structural.
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, String> {
        Ok(Self { _raw: open_api_v3_schema.clone() })
    }

    /// Removes fields the schema does not declare (apiVersion, kind and metadata are always kept;
    /// `x-kubernetes-preserve-unknown-fields` honoured), then applies `default`s.
    pub fn prune_and_default(&self, _object: &mut Value) {}

    /// Validates the object (already pruned and defaulted). Empty when valid.
    pub fn validate(&self, _object: &Value) -> Vec<Cause> {
        Vec::new()
    }
}
