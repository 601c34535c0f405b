//! CustomResourceDefinition structural schemas: pruning, defaulting, validation, list types,
//! with kube-apiserver's (apiextensions-apiserver) semantics and error wording.
//!
//! On every write of a custom resource the server calls, in order:
//! [`CompiledSchema::prune_and_default`] then [`CompiledSchema::validate`], which also evaluates
//! the CEL validation rules (`x-kubernetes-validations`, compiled once with the schema) when the
//! object passed the checks that block them upstream (types, required fields, enums, sizes).
//!
//! Not done: validation ratcheting (unchanged invalid fields of an update pass upstream): every
//! write is validated whole, as a create is; CEL rules are parsed but not type-checked against
//! the schema, have no cost budget, and `optionalOldSelf` rules run only when an old value exists.

mod causes;
mod cel_eval;
mod cel_rules;
mod cel_values;
mod dialect;
mod list_types;
mod node;
mod prune;
mod structural;

pub use causes::invalid_message;
pub use node::{ListType, MapType, SchemaNode};

use cel_rules::RuleTree;
use serde_json::Value;
use std::sync::Arc;

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

/// Why a CRD version's schema cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema breaks structural-schema rules; one `path: message` per violation.
    #[error("{}", render_violations(.0))]
    NotStructural(Vec<String>),
    /// The schema is structural but not a schema the validator can compile (e.g. a bad `pattern`).
    #[error("openAPIV3Schema: Invalid value: {0}")]
    Uncompilable(String),
    /// Validation rules that cannot be served, one cause each; fields are paths below
    /// `openAPIV3Schema`, e.g. `.properties[spec].x-kubernetes-validations[0].rule`.
    #[error("{}", render_rule_errors(.0))]
    InvalidRules(Vec<Cause>),
}

fn render_rule_errors(errors: &[Cause]) -> String {
    let rendered: Vec<String> = errors
        .iter()
        .map(|cause| format!("openAPIV3Schema{}: {}", cause.field, cause.message))
        .collect();
    render_violations(&rendered)
}

fn render_violations(violations: &[String]) -> String {
    match violations {
        [single] => single.clone(),
        several => format!("[{}]", several.join(", ")),
    }
}

/// The compiled `openAPIV3Schema` of one CRD version.
#[derive(Clone)]
pub struct CompiledSchema {
    raw: Value,
    root: SchemaNode,
    /// The schema in plain JSON Schema, which `validator` was built from (error causes read it).
    translated: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
    rules: Arc<RuleTree>,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Compiles a CRD version's `schema.openAPIV3Schema`; an error message for a schema that is not structural.
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, String> {
        Self::try_compile(open_api_v3_schema).map_err(|error| error.to_string())
    }

    /// [`CompiledSchema::compile`] with the violations kept apart.
    pub fn try_compile(open_api_v3_schema: &Value) -> Result<Self, SchemaError> {
        let violations = structural::violations(open_api_v3_schema);
        if !violations.is_empty() {
            return Err(SchemaError::NotStructural(violations));
        }
        let translated = dialect::to_json_schema(open_api_v3_schema);
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&translated)
            .map_err(|error| SchemaError::Uncompilable(error.to_string()))?;
        let rules = RuleTree::compile(open_api_v3_schema).map_err(SchemaError::InvalidRules)?;
        Ok(Self {
            raw: open_api_v3_schema.clone(),
            root: SchemaNode::parse(open_api_v3_schema),
            translated: Arc::new(translated),
            validator: Arc::new(validator),
            rules: Arc::new(rules),
        })
    }

    /// The schema as the CRD declares it.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The structural tree: types, list and map types, defaults, per level.
    pub fn root(&self) -> &SchemaNode {
        &self.root
    }

    /// Removes fields the schema does not declare (apiVersion, kind and metadata are always kept;
    /// `x-kubernetes-preserve-unknown-fields` honoured), then applies `default`s.
    pub fn prune_and_default(&self, object: &mut Value) {
        prune::prune_resource(object, &self.root);
        prune::default_resource(object, &self.root);
    }

    /// Validates the object (already pruned and defaulted); `old` is the stored object on an
    /// update (transition rules compare with it). Empty when valid.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut found: Vec<Cause> = self
            .validator
            .iter_errors(object)
            .map(|error| causes::from_validation_error(&error, &self.translated, object))
            .collect();
        found = required_after_properties(found);
        list_types::duplicates(object, &self.root, "", &mut found);
        if self.rules.is_empty() {
            return found;
        }
        if found
            .iter()
            .any(|cause| causes::blocks_rules(&cause.reason))
        {
            // kube-apiserver does not run rules on an object of the wrong shape, and says so.
            found.push(causes::rules_not_checked());
        } else {
            found.extend(cel_eval::evaluate(&self.rules, &self.root, object, old));
        }
        found
    }
}

/// kube-openapi checks an object's properties before its `required` list: a missing field is
/// reported after the failures found within the object it belongs to.
fn required_after_properties(found: Vec<Cause>) -> Vec<Cause> {
    let within = |field: &str, parent: &str| {
        parent.is_empty()
            || field == parent
            || field
                .strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    type Numbered = Vec<(usize, Cause)>;
    let (required, mut ordered): (Numbered, Numbered) = found
        .into_iter()
        .enumerate()
        .partition(|(_, cause)| cause.reason == causes::REQUIRED);
    for (index, cause) in required {
        let parent = cause
            .field
            .rsplit_once('.')
            .map_or("", |(parent, _)| parent);
        let at = match ordered.iter().rposition(|(_, c)| within(&c.field, parent)) {
            Some(last) => last + 1,
            None => ordered
                .iter()
                .position(|(i, _)| *i > index)
                .unwrap_or(ordered.len()),
        };
        ordered.insert(at, (index, cause));
    }
    ordered.into_iter().map(|(_, cause)| cause).collect()
}

#[cfg(test)]
mod tests;
