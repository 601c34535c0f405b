//! CRD validation rules (`x-kubernetes-validations`) compiled once per CRD version, in a tree
//! that mirrors the structural schema and keeps only the branches holding rules.
//!
//! A rule that does not parse makes the CRD invalid, as it does on kube-apiserver; so does a
//! transition rule (one reading `oldSelf`) below an array that is not a `map` list, whose items
//! have no old value to compare with.

use super::Cause;
use super::causes::{FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED};
use cel::{Env, Program};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// The CEL environment of every rule: the standard library plus the string, list and math
/// extension libraries Kubernetes also offers.
pub(crate) static ENVIRONMENT: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    for extension in [
        cel::extensions::strings,
        cel::extensions::lists,
        cel::extensions::math,
    ] {
        // The libraries declare disjoint functions: adding them to the standard library cannot clash.
        if let Err(error) = env.add_extension(extension) {
            tracing::warn!(%error, "CEL extension library not available to validation rules");
        }
    }
    Arc::new(env)
});

/// The reason a failed rule reports (`reason` of the rule), as a `StatusCause` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleReason {
    Invalid,
    Forbidden,
    Required,
    Duplicate,
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The rule's source, trimmed.
    pub rule: String,
    /// The rule's `message`, trimmed; empty when unset.
    pub message: String,
    pub program: Program,
    pub message_expression: Option<Program>,
    /// Reads `oldSelf`: evaluated only on updates that have an old value at this level.
    pub transition: bool,
    pub reason: RuleReason,
    /// `fieldPath` relative to this level, without its leading dot; empty when unset.
    pub field_path: String,
}

impl CompiledRule {
    /// What a failure of this rule says when no message expression gives a text.
    pub fn message_or_default(&self) -> String {
        if self.message.is_empty() {
            format!("failed rule: {}", self.rule)
        } else {
            self.message.clone()
        }
    }

    /// How evaluation errors name the rule: its message, else its source.
    pub fn error_name(&self) -> &str {
        if self.message.is_empty() {
            &self.rule
        } else {
            &self.message
        }
    }
}

/// The rules of one schema level and of the levels below it that hold any.
#[derive(Debug, Default)]
pub(crate) struct RuleTree {
    pub rules: Vec<CompiledRule>,
    pub properties: BTreeMap<String, RuleTree>,
    pub additional_properties: Option<Box<RuleTree>>,
    pub items: Option<Box<RuleTree>>,
}

impl RuleTree {
    /// Compiles every rule of `schema`. On failure, one cause per rule that cannot be served,
    /// its field a path below `openAPIV3Schema`.
    pub fn compile(schema: &Value) -> Result<Self, Vec<Cause>> {
        let mut errors = Vec::new();
        let tree = Self::compile_level(schema, "", true, &mut errors);
        if errors.is_empty() {
            Ok(tree)
        } else {
            Err(errors)
        }
    }

    /// Whether this level or any below it holds a rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.properties.is_empty()
            && self.additional_properties.is_none()
            && self.items.is_none()
    }

    fn compile_level(
        schema: &Value,
        path: &str,
        correlatable: bool,
        errors: &mut Vec<Cause>,
    ) -> Self {
        let Some(object) = schema.as_object() else {
            return Self::default();
        };
        let rules = object
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .map(|rules| {
                rules
                    .iter()
                    .enumerate()
                    .filter_map(|(index, rule)| {
                        let at = format!("{path}.x-kubernetes-validations[{index}]");
                        compile_rule(rule, &at, correlatable, errors)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let properties = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .map(|(name, child)| {
                        let at = format!("{path}.properties[{name}]");
                        (
                            name.clone(),
                            Self::compile_level(child, &at, correlatable, errors),
                        )
                    })
                    .filter(|(_, tree)| !tree.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let additional_properties = object
            .get("additionalProperties")
            .map(|child| {
                let at = format!("{path}.additionalProperties");
                Self::compile_level(child, &at, correlatable, errors)
            })
            .filter(|tree| !tree.is_empty())
            .map(Box::new);
        // Old items are found again only by the keys of a `map` list.
        let items_correlatable = correlatable
            && object.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
        let items = object
            .get("items")
            .map(|child| {
                let at = format!("{path}.items");
                Self::compile_level(child, &at, items_correlatable, errors)
            })
            .filter(|tree| !tree.is_empty())
            .map(Box::new);
        Self {
            rules,
            properties,
            additional_properties,
            items,
        }
    }
}

fn compile_rule(
    declared: &Value,
    at: &str,
    correlatable: bool,
    errors: &mut Vec<Cause>,
) -> Option<CompiledRule> {
    let text = |key: &str| {
        declared
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (rule, message, message_expression_source) =
        (text("rule"), text("message"), text("messageExpression"));
    let described = format!(
        "apiextensions.ValidationRule{{Rule:{rule:?}, Message:{message:?}, MessageExpression:{message_expression_source:?}}}"
    );
    if rule.is_empty() {
        errors.push(rule_error(
            REQUIRED,
            format!("{at}.rule"),
            "Required value".to_owned(),
        ));
        return None;
    }
    let program = match ENVIRONMENT.compile(&rule) {
        Ok(program) => program,
        Err(error) => {
            errors.push(rule_error(
                INVALID,
                format!("{at}.rule"),
                format!("Invalid value: {described}: compilation failed: ERROR: {error}"),
            ));
            return None;
        }
    };
    let message_expression = if message_expression_source.is_empty() {
        None
    } else {
        match ENVIRONMENT.compile(&message_expression_source) {
            Ok(program) => Some(program),
            Err(error) => {
                errors.push(rule_error(
                    INVALID,
                    format!("{at}.messageExpression"),
                    format!(
                        "Invalid value: {described}: messageExpression compilation failed: ERROR: {error}"
                    ),
                ));
                return None;
            }
        }
    };
    let transition = program.references().has_variable("oldSelf");
    if transition && !correlatable {
        errors.push(rule_error(
            FORBIDDEN,
            format!("{at}.rule"),
            "Forbidden: oldSelf cannot be used on the uncorrelatable portion of the schema"
                .to_owned(),
        ));
        return None;
    }
    let reason = match declared.get("reason").and_then(Value::as_str) {
        None | Some("FieldValueInvalid") => RuleReason::Invalid,
        Some("FieldValueForbidden") => RuleReason::Forbidden,
        Some("FieldValueRequired") => RuleReason::Required,
        Some("FieldValueDuplicate") => RuleReason::Duplicate,
        Some(other) => {
            errors.push(rule_error(
                NOT_SUPPORTED,
                format!("{at}.reason"),
                format!(
                    "Unsupported value: {other:?}: supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
                ),
            ));
            return None;
        }
    };
    let field_path = text("fieldPath");
    if !field_path.is_empty() && !field_path.starts_with('.') {
        errors.push(rule_error(
            INVALID,
            format!("{at}.fieldPath"),
            format!("Invalid value: {field_path:?}: fieldPath must start with a dot"),
        ));
        return None;
    }
    Some(CompiledRule {
        rule,
        message,
        program,
        message_expression,
        transition,
        reason,
        field_path: field_path.trim_start_matches('.').to_owned(),
    })
}

fn rule_error(reason: &str, field: String, message: String) -> Cause {
    Cause {
        reason: reason.to_owned(),
        message,
        field,
    }
}
