//! Validation failures as kube-apiserver reports them: `StatusCause`s whose reason, field and
//! message match what apiextensions-apiserver derives from kube-openapi's validation errors
//! (e.g. `Invalid value: 0: spec.quantity in body should be greater than or equal to 1`).

use super::Cause;
use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::{Number, Value};

pub(crate) const REQUIRED: &str = "FieldValueRequired";
pub(crate) const INVALID: &str = "FieldValueInvalid";
pub(crate) const TYPE_INVALID: &str = "FieldValueTypeInvalid";
pub(crate) const NOT_SUPPORTED: &str = "FieldValueNotSupported";
pub(crate) const DUPLICATE: &str = "FieldValueDuplicate";
pub(crate) const TOO_LONG: &str = "FieldValueTooLong";
pub(crate) const TOO_MANY: &str = "FieldValueTooMany";
pub(crate) const FORBIDDEN: &str = "FieldValueForbidden";

/// Whether a schema failure keeps kube-apiserver from evaluating CEL rules: wrong types, missing
/// required fields, values outside an enum, too long strings, too many items or properties.
pub(crate) fn blocks_rules(reason: &str) -> bool {
    [NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID].contains(&reason)
}

/// The cause kube-apiserver adds when [`blocks_rules`] held for another cause.
pub(crate) fn rules_not_checked() -> Cause {
    Cause {
        reason: INVALID.to_owned(),
        message: "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_owned(),
        field: "<nil>".to_owned(),
    }
}

/// The message of an Invalid (422) error, as kube-apiserver composes it from the causes:
/// `SpotBid.mithril.ai "x" is invalid: spec.region: Required value` for one cause,
/// `... is invalid: [spec.a: ..., spec.b: ...]` for several (repeated causes said once).
pub fn invalid_message(qualified_kind: &str, name: &str, causes: &[Cause]) -> String {
    let mut rendered: Vec<String> = Vec::with_capacity(causes.len());
    for cause in causes {
        let line = format!("{}: {}", cause.field, cause.message);
        if !rendered.contains(&line) {
            rendered.push(line);
        }
    }
    match rendered.as_slice() {
        [] => format!("{qualified_kind} \"{name}\" is invalid"),
        [single] => format!("{qualified_kind} \"{name}\" is invalid: {single}"),
        several => format!(
            "{qualified_kind} \"{name}\" is invalid: [{}]",
            several.join(", ")
        ),
    }
}

/// A value as Go's field errors print it: strings quoted, numbers and booleans bare, the rest as JSON.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Number(number) => go_number(number),
        other => other.to_string(),
    }
}

/// A number as Go's `%v` prints the float64 or int64 it decodes to (`1`, not `1.0`).
pub(crate) fn go_number(number: &Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 1e21 => format!("{float:.0}"),
        Some(float) => float.to_string(),
        None => number.to_string(),
    }
}

/// The JSON type name kube-openapi gives a value (`integer` for whole numbers, as Go decodes them).
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A field path in kube-apiserver's notation (`spec.items[0].name`) for a JSON pointer into `root`.
pub(crate) fn field_path(root: &Value, pointer: &str) -> String {
    let mut path = String::new();
    let mut current = Some(root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{segment}]"));
                current = segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| items.get(index));
            }
            other => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&segment);
                current = other.and_then(|value| value.get(&segment));
            }
        }
    }
    path
}

fn cause(reason: &str, field: String, message: String) -> Cause {
    Cause {
        reason: reason.to_owned(),
        message,
        field,
    }
}

/// `Invalid value: <value>: <path> in body <detail>`.
fn invalid(field: String, value: &Value, detail: &str) -> Cause {
    let message = format!(
        "Invalid value: {}: {field} in body {detail}",
        go_value(value)
    );
    cause(INVALID, field, message)
}

/// The cause kube-apiserver reports for one failure of the translated schema.
/// `schema` is the translated JSON Schema the validator was built from, `root` the validated object.
pub(crate) fn from_validation_error(
    error: &ValidationError<'_>,
    schema: &Value,
    root: &Value,
) -> Cause {
    let field = field_path(root, error.instance_path().as_str());
    let instance = error.instance().as_ref();
    let keyword_pointer = error.schema_path().as_str();
    let subschema = keyword_pointer
        .rsplit_once('/')
        .and_then(|(parent, _)| schema.pointer(parent))
        .unwrap_or(&Value::Null);
    let number = |key: &str| {
        subschema
            .get(key)
            .and_then(Value::as_number)
            .map(go_number)
            .unwrap_or_default()
    };
    let exclusive = |key: &str| subschema.get(key).and_then(Value::as_bool).unwrap_or(false);
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| property.to_string());
            let field = if field.is_empty() {
                property
            } else {
                format!("{field}.{property}")
            };
            cause(REQUIRED, field, "Required value".into())
        }
        ValidationErrorKind::Type { .. } => {
            let expected: Vec<&str> = match subschema.get("type") {
                Some(Value::String(single)) => vec![single.as_str()],
                Some(Value::Array(types)) => types
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect(),
                _ => Vec::new(),
            };
            let actual = json_type_name(instance);
            let message = format!(
                "Invalid value: \"{actual}\": {field} in body must be of type {}: \"{actual}\"",
                expected.join(",")
            );
            cause(TYPE_INVALID, field, message)
        }
        ValidationErrorKind::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .map(|options| {
                    options
                        .iter()
                        .filter(|option| !option.is_null())
                        .map(|option| match option {
                            Value::String(text) => Value::String(text.clone()).to_string(),
                            other => Value::String(other.to_string()).to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let message = format!(
                "Unsupported value: {}: supported values: {}",
                go_value(instance),
                supported.join(", ")
            );
            cause(NOT_SUPPORTED, field, message)
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::ExclusiveMinimum { .. } => {
            let relation = if exclusive("exclusiveMinimum") {
                "greater than"
            } else {
                "greater than or equal to"
            };
            invalid(
                field,
                instance,
                &format!("should be {relation} {}", number("minimum")),
            )
        }
        ValidationErrorKind::Maximum { .. } | ValidationErrorKind::ExclusiveMaximum { .. } => {
            let relation = if exclusive("exclusiveMaximum") {
                "less than"
            } else {
                "less than or equal to"
            };
            invalid(
                field,
                instance,
                &format!("should be {relation} {}", number("maximum")),
            )
        }
        ValidationErrorKind::MultipleOf { .. } => invalid(
            field,
            instance,
            &format!("should be a multiple of {}", number("multipleOf")),
        ),
        ValidationErrorKind::MinLength { limit } => invalid(
            field,
            instance,
            &format!("should be at least {limit} chars long"),
        ),
        ValidationErrorKind::MaxLength { limit } => cause(
            TOO_LONG,
            field,
            format!("Too long: may not be more than {limit} bytes"),
        ),
        ValidationErrorKind::Pattern { pattern } => {
            invalid(field, instance, &format!("should match '{pattern}'"))
        }
        ValidationErrorKind::Format { format } => {
            let value = go_value(instance);
            cause(
                TYPE_INVALID,
                field.clone(),
                format!(
                    "Invalid value: {value}: {field} in body must be of type {format}: {value}"
                ),
            )
        }
        ValidationErrorKind::MinItems { limit } => {
            let count = instance.as_array().map_or(0, Vec::len);
            invalid(
                field,
                &Value::from(count),
                &format!("should have at least {limit} items"),
            )
        }
        ValidationErrorKind::MaxItems { limit } => {
            let count = instance.as_array().map_or(0, Vec::len);
            cause(
                TOO_MANY,
                field,
                format!("Too many: {count}: must have at most {limit} items"),
            )
        }
        ValidationErrorKind::MinProperties { limit } => invalid(
            field,
            &Value::from(*limit),
            &format!("should have at least {limit} properties"),
        ),
        ValidationErrorKind::MaxProperties { limit } => {
            let count = instance.as_object().map_or(0, |object| object.len());
            cause(
                TOO_MANY,
                field,
                format!("Too many: {count}: must have at most {limit} items"),
            )
        }
        ValidationErrorKind::AnyOf { .. } => invalid(
            field,
            &Value::String(String::new()),
            "must validate at least one schema (anyOf)",
        ),
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => invalid(
            field,
            &Value::String(String::new()),
            "must validate one and only one schema (oneOf)",
        ),
        ValidationErrorKind::Not { .. } => invalid(
            field,
            &Value::String(String::new()),
            "must not validate the schema (not)",
        ),
        _ => {
            let message = format!("Invalid value: {}: {error}", go_value(instance));
            cause(INVALID, field, message)
        }
    }
}
