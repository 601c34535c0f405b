//! Request validation with FastAPI/pydantic v2 error types and wording, so clients see the same
//! 422 bodies as from Mithril. Errors are collected, not stopped at the first, as pydantic does.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::wire::{LocPart, ValidationErrorItem};

/// Collected validation errors.
#[derive(Debug, Default)]
pub struct Problems(Vec<ValidationErrorItem>);

impl Problems {
    pub fn add(
        &mut self,
        kind: &str,
        loc: Vec<LocPart>,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) {
        self.0.push(ValidationErrorItem {
            kind: kind.to_owned(),
            loc,
            msg: msg.into(),
            input,
            ctx,
        });
    }

    pub fn missing(&mut self, loc: Vec<LocPart>, input: Value) {
        self.add("missing", loc, "Field required", input, None);
    }

    pub fn value_error(&mut self, loc: Vec<LocPart>, input: Value, error: &str) {
        self.add(
            "value_error",
            loc,
            format!("Value error, {error}"),
            input,
            Some(json!({ "error": error })),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The 422 answer of a single `value_error`.
    pub fn single_value_error(loc: Vec<LocPart>, input: Value, error: &str) -> ApiError {
        let mut problems = Problems::default();
        problems.value_error(loc, input, error);
        ApiError::Validation(problems.0)
    }

    /// `Ok(value)` when nothing was reported.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

fn loc(parts: &[&str]) -> Vec<LocPart> {
    parts.iter().map(|part| LocPart::from(*part)).collect()
}

/// pydantic's rendering of allowed values: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
pub fn expected_values(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|option| format!("'{option}'")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn enum_error(problems: &mut Problems, loc: Vec<LocPart>, input: Value, options: &[&str]) {
    let expected = expected_values(options);
    problems.add(
        "enum",
        loc,
        format!("Input should be {expected}"),
        input,
        Some(json!({ "expected": expected })),
    );
}

/// Query parameters as FastAPI reads them: the last value of a scalar wins; lists gather every
/// value, and (as Mithril documents) each value may itself be comma-separated.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.last(name).map(str::to_owned)
    }

    pub fn required_string(&self, name: &str, problems: &mut Problems) -> Option<String> {
        let value = self.string(name);
        if value.is_none() {
            problems.missing(loc(&["query", name]), Value::Null);
        }
        value
    }

    /// `limit`: an integer in 1..=100, 100 when absent.
    pub fn limit(&self, problems: &mut Problems) -> usize {
        const MAX: i64 = 100;
        let Some(text) = self.last("limit") else {
            return MAX as usize;
        };
        let where_ = loc(&["query", "limit"]);
        match text.trim().parse::<i64>() {
            Err(_) => {
                problems.add(
                    "int_parsing",
                    where_,
                    "Input should be a valid integer, unable to parse string as an integer",
                    json!(text),
                    None,
                );
                MAX as usize
            }
            Ok(value) if value < 1 => {
                problems.add(
                    "greater_than_equal",
                    where_,
                    "Input should be greater than or equal to 1",
                    json!(text),
                    Some(json!({ "ge": 1 })),
                );
                MAX as usize
            }
            Ok(value) if value > MAX => {
                problems.add(
                    "less_than_equal",
                    where_,
                    "Input should be less than or equal to 100",
                    json!(text),
                    Some(json!({ "le": MAX })),
                );
                MAX as usize
            }
            Ok(value) => value as usize,
        }
    }

    /// A scalar restricted to `options`.
    pub fn one_of(&self, name: &str, options: &[&str], problems: &mut Problems) -> Option<String> {
        let value = self.last(name)?;
        if options.contains(&value) {
            Some(value.to_owned())
        } else {
            enum_error(problems, loc(&["query", name]), json!(value), options);
            None
        }
    }

    /// Every value of a list parameter, comma-separated values split.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .pairs
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// A list parameter whose items are restricted to `options`.
    pub fn list_of(
        &self,
        name: &str,
        options: &[&str],
        problems: &mut Problems,
    ) -> Option<Vec<String>> {
        let values = self.list(name)?;
        for (index, value) in values.iter().enumerate() {
            if !options.contains(&value.as_str()) {
                let mut where_ = loc(&["query", name]);
                where_.push(LocPart::Index(index));
                enum_error(problems, where_, json!(value), options);
            }
        }
        Some(values)
    }

    pub fn timestamp(&self, name: &str, problems: &mut Problems) -> Option<Timestamp> {
        let text = self.last(name)?;
        match text.parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(error) => {
                problems.add(
                    "datetime_from_date_parsing",
                    loc(&["query", name]),
                    format!("Input should be a valid datetime or date, {error}"),
                    json!(text),
                    Some(json!({ "error": error.to_string() })),
                );
                None
            }
        }
    }
}

/// The JSON object of a request body, or the errors FastAPI gives for a missing, malformed or
/// non-object body.
pub fn body_object(bytes: &[u8], problems: &mut Problems) -> Option<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        problems.missing(loc(&["body"]), Value::Null);
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Err(error) => {
            let position = byte_position(bytes, error.line(), error.column());
            problems.add(
                "json_invalid",
                vec![LocPart::from("body"), LocPart::Index(position)],
                "JSON decode error",
                json!({}),
                Some(json!({ "error": error.to_string() })),
            );
            None
        }
        Ok(Value::Object(object)) => Some(object),
        Ok(other) => {
            problems.add(
                "model_attributes_type",
                loc(&["body"]),
                "Input should be a valid dictionary or object to extract fields from",
                other,
                None,
            );
            None
        }
    }
}

fn byte_position(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut current_line = 1;
    for (index, byte) in bytes.iter().enumerate() {
        if current_line == line {
            return (index + column.saturating_sub(1)).min(bytes.len());
        }
        if *byte == b'\n' {
            current_line += 1;
        }
    }
    bytes.len()
}

/// Reads fields of one JSON object (a model), reporting errors at `prefix` + field name.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: Vec<LocPart>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>, prefix: &[&str]) -> Self {
        Fields {
            object,
            prefix: loc(prefix),
        }
    }

    fn at(&self, field: &str) -> Vec<LocPart> {
        let mut where_ = self.prefix.clone();
        where_.push(LocPart::from(field));
        where_
    }

    /// The raw value: `None` when absent; `Some(None)` when null; reports `missing` when required.
    fn raw(
        &self,
        field: &str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<Option<&'a Value>> {
        match self.object.get(field) {
            None => {
                if required {
                    problems.missing(self.at(field), Value::Object(self.object.clone()));
                }
                None
            }
            Some(Value::Null) if !required => Some(None),
            Some(value) => Some(Some(value)),
        }
    }

    pub fn string(&self, field: &str, required: bool, problems: &mut Problems) -> Option<String> {
        let value = self.raw(field, required, problems)??;
        match value {
            Value::String(text) => Some(text.clone()),
            other => {
                problems.add(
                    "string_type",
                    self.at(field),
                    "Input should be a valid string",
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    /// A string that must be at least one character long.
    pub fn non_empty_string(
        &self,
        field: &str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<String> {
        let text = self.string(field, required, problems)?;
        if text.is_empty() {
            problems.add(
                "string_too_short",
                self.at(field),
                "String should have at least 1 character",
                json!(text),
                Some(json!({ "min_length": 1 })),
            );
            return None;
        }
        Some(text)
    }

    /// A string that must match `pattern` (checked by `matches`).
    pub fn patterned_string(
        &self,
        field: &str,
        required: bool,
        pattern: &str,
        matches: impl Fn(&str) -> bool,
        problems: &mut Problems,
    ) -> Option<String> {
        let text = self.string(field, required, problems)?;
        if !matches(&text) {
            problems.add(
                "string_pattern_mismatch",
                self.at(field),
                format!("String should match pattern '{pattern}'"),
                json!(text),
                Some(json!({ "pattern": pattern })),
            );
            return None;
        }
        Some(text)
    }

    /// An integer in `min..=max` (pydantic's lax mode: integral floats and numeric strings pass).
    pub fn integer(
        &self,
        field: &str,
        required: bool,
        min: i64,
        max: i64,
        problems: &mut Problems,
    ) -> Option<i64> {
        let value = self.raw(field, required, problems)??;
        let parsed = match value {
            Value::Number(number) => match (number.as_i64(), number.as_f64()) {
                (Some(integer), _) => Ok(integer),
                (None, Some(float)) if float.fract() == 0.0 && float.abs() < 9.0e18 => {
                    Ok(float as i64)
                }
                (None, Some(_)) => Err((
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                )),
                (None, None) => Err(("int_type", "Input should be a valid integer")),
            },
            Value::String(text) => text.trim().parse::<i64>().map_err(|_| {
                (
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                )
            }),
            _ => Err(("int_type", "Input should be a valid integer")),
        };
        match parsed {
            Err((kind, msg)) => {
                problems.add(kind, self.at(field), msg, value.clone(), None);
                None
            }
            Ok(integer) if integer < min => {
                problems.add(
                    "greater_than_equal",
                    self.at(field),
                    format!("Input should be greater than or equal to {min}"),
                    value.clone(),
                    Some(json!({ "ge": min })),
                );
                None
            }
            Ok(integer) if integer > max => {
                problems.add(
                    "less_than_equal",
                    self.at(field),
                    format!("Input should be less than or equal to {max}"),
                    value.clone(),
                    Some(json!({ "le": max })),
                );
                None
            }
            Ok(integer) => Some(integer),
        }
    }

    /// A boolean (pydantic's lax mode: 0/1 and the usual words pass).
    pub fn boolean(&self, field: &str, required: bool, problems: &mut Problems) -> Option<bool> {
        let value = self.raw(field, required, problems)??;
        match value {
            Value::Bool(flag) => Some(*flag),
            Value::Number(number) if number.as_i64() == Some(0) => Some(false),
            Value::Number(number) if number.as_i64() == Some(1) => Some(true),
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
                "false" | "0" | "no" | "n" | "off" | "f" => Some(false),
                _ => {
                    problems.add(
                        "bool_parsing",
                        self.at(field),
                        "Input should be a valid boolean, unable to interpret input",
                        value.clone(),
                        None,
                    );
                    None
                }
            },
            other => {
                problems.add(
                    "bool_type",
                    self.at(field),
                    "Input should be a valid boolean",
                    other.clone(),
                    None,
                );
                None
            }
        }
    }

    /// A list of strings.
    pub fn string_list(
        &self,
        field: &str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<Vec<String>> {
        let value = self.raw(field, required, problems)??;
        let Value::Array(items) = value else {
            problems.add(
                "list_type",
                self.at(field),
                "Input should be a valid list",
                value.clone(),
                None,
            );
            return None;
        };
        let mut strings = Vec::with_capacity(items.len());
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(text) => strings.push(text.clone()),
                other => {
                    let mut where_ = self.at(field);
                    where_.push(LocPart::Index(index));
                    problems.add(
                        "string_type",
                        where_,
                        "Input should be a valid string",
                        other.clone(),
                        None,
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(strings)
    }

    /// A string restricted to `options`.
    pub fn one_of(
        &self,
        field: &str,
        required: bool,
        options: &[&str],
        problems: &mut Problems,
    ) -> Option<String> {
        let value = self.raw(field, required, problems)??;
        match value {
            Value::String(text) if options.contains(&text.as_str()) => Some(text.clone()),
            other => {
                enum_error(problems, self.at(field), other.clone(), options);
                None
            }
        }
    }

    /// A nested model: its object, or `model_type` when the value is not an object.
    pub fn object(
        &self,
        field: &str,
        required: bool,
        class_name: &str,
        problems: &mut Problems,
    ) -> Option<&'a Map<String, Value>> {
        let value = self.raw(field, required, problems)??;
        match value {
            Value::Object(object) => Some(object),
            other => {
                problems.add(
                    "model_type",
                    self.at(field),
                    format!("Input should be a valid dictionary or instance of {class_name}"),
                    other.clone(),
                    Some(json!({ "class_name": class_name })),
                );
                None
            }
        }
    }

    /// Reports a `value_error` at a field (a check beyond the field's type).
    pub fn value_error(&self, field: &str, problems: &mut Problems, error: &str) {
        let input = self.object.get(field).cloned().unwrap_or(Value::Null);
        problems.value_error(self.at(field), input, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_expected_values_like_pydantic() {
        assert_eq!(expected_values(&["asc"]), "'asc'");
        assert_eq!(expected_values(&["asc", "desc"]), "'asc' or 'desc'");
        assert_eq!(expected_values(&["a", "b", "c"]), "'a', 'b' or 'c'");
    }

    #[test]
    fn limit_bounds() {
        let mut problems = Problems::default();
        assert_eq!(Query::parse(Some("limit=7")).limit(&mut problems), 7);
        assert!(problems.is_empty());
        Query::parse(Some("limit=0")).limit(&mut problems);
        Query::parse(Some("limit=101")).limit(&mut problems);
        Query::parse(Some("limit=x")).limit(&mut problems);
        let kinds: Vec<_> = problems.0.iter().map(|item| item.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["greater_than_equal", "less_than_equal", "int_parsing"]
        );
    }
}
