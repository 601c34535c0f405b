//! Objects as CEL values, the way apiextensions-apiserver presents them to validation rules:
//! integers as `int`, `number` fields as `double`, declared property names escaped into CEL
//! identifiers (`x-y` as `x__dash__y`, `namespace` as `__namespace__`), and at the resource root
//! only `apiVersion`, `kind`, `metadata.name` and `metadata.generateName` of the object's header.

use super::node::SchemaNode;
use cel::Value as CelValue;
use cel::objects::Key;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Words the CEL lexer reserves: a property with one of these names is `__name__` in a rule.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The schema of values the schema does not describe (kept unknown fields, untyped items).
static UNDECLARED: LazyLock<SchemaNode> = LazyLock::new(SchemaNode::default);

/// The CEL identifier of a declared property, or `None` when no rule can name it (Kubernetes
/// leaves such properties out of `self`).
pub(crate) fn escape_property(name: &str) -> Option<String> {
    let first = name.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut escaped = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(character) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("__") {
            escaped.push_str("__underscores__");
            rest = after;
            continue;
        }
        match character {
            '.' => escaped.push_str("__dot__"),
            '-' => escaped.push_str("__dash__"),
            '/' => escaped.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => escaped.push(c),
            _ => return None,
        }
        rest = &rest[character.len_utf8()..];
    }
    Some(escaped)
}

/// `value` (valid against `schema`) as the CEL value a rule at that level sees as `self`.
pub(crate) fn to_cel(value: &Value, schema: &SchemaNode) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(flag) => CelValue::Bool(*flag),
        Value::Number(number) => {
            let as_double = schema.type_() == Some("number");
            match number.as_i64() {
                Some(integer) if !as_double => CelValue::Int(integer),
                _ => CelValue::Float(number.as_f64().unwrap_or(f64::NAN)),
            }
        }
        Value::String(text) => CelValue::String(Arc::new(text.clone())),
        Value::Array(items) => {
            let item_schema = schema.items().unwrap_or(&UNDECLARED);
            CelValue::List(Arc::new(
                items.iter().map(|item| to_cel(item, item_schema)).collect(),
            ))
        }
        Value::Object(fields) => {
            let mut map: HashMap<Key, CelValue> = HashMap::with_capacity(fields.len());
            for (name, field) in fields {
                if let Some(declared) = schema.property(name) {
                    if let Some(identifier) = escape_property(name) {
                        map.insert(Key::from(identifier), to_cel(field, declared));
                    }
                } else if let Some(additional) = schema.additional_properties() {
                    map.insert(Key::from(name.clone()), to_cel(field, additional));
                } else if schema.preserve_unknown_fields() {
                    map.insert(Key::from(name.clone()), to_cel(field, &UNDECLARED));
                }
            }
            CelValue::Map(map.into())
        }
    }
}

/// The whole resource as `self` of a rule on the schema's root: the declared fields plus the
/// object's type and the two metadata fields rules may read.
pub(crate) fn resource_to_cel(object: &Value, schema: &SchemaNode) -> CelValue {
    let CelValue::Map(declared) = to_cel(object, schema) else {
        return CelValue::Null;
    };
    let mut map: HashMap<Key, CelValue> = (*declared.map).clone();
    for field in ["apiVersion", "kind"] {
        if let Some(Value::String(text)) = object.get(field) {
            map.insert(
                Key::from(field.to_owned()),
                CelValue::String(Arc::new(text.clone())),
            );
        }
    }
    let mut metadata: HashMap<Key, CelValue> = HashMap::new();
    for field in ["name", "generateName"] {
        if let Some(Value::String(text)) = object["metadata"].get(field) {
            metadata.insert(
                Key::from(field.to_owned()),
                CelValue::String(Arc::new(text.clone())),
            );
        }
    }
    map.insert(
        Key::from("metadata".to_owned()),
        CelValue::Map(metadata.into()),
    );
    CelValue::Map(map.into())
}

#[cfg(test)]
mod tests {
    use super::escape_property;

    #[test]
    fn property_names_escape_as_kubernetes_escapes_them() {
        assert_eq!(escape_property("region").as_deref(), Some("region"));
        assert_eq!(
            escape_property("namespace").as_deref(),
            Some("__namespace__")
        );
        assert_eq!(
            escape_property("retry-after").as_deref(),
            Some("retry__dash__after")
        );
        assert_eq!(
            escape_property("a.b/c__d").as_deref(),
            Some("a__dot__b__slash__c__underscores__d")
        );
        assert_eq!(escape_property("1st"), None);
        assert_eq!(escape_property("has space"), None);
        assert_eq!(escape_property(""), None);
    }
}
