//! Label selectors (`app=x,tier!=y,env in (a,b),!k,k`) and field selectors (`metadata.name=x`).

use super::conversion::View;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Label(String),
    #[error("invalid selector: '{0}'; can't understand '{0}'")]
    Field(String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<LabelRequirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_label_requirement(part)?);
        }
        Ok(Self(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelRequirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelRequirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelRequirement::Exists(k) => label(k).is_some(),
            LabelRequirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_requirement(part: &str) -> Result<LabelRequirement, SelectorError> {
    let error = || SelectorError::Label(part.to_string());
    if let Some(key) = part.strip_prefix('!') {
        return valid_key(key.trim())
            .map(|k| LabelRequirement::DoesNotExist(k.to_string()))
            .ok_or_else(error);
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some(index) = part.find(op) {
            let key = valid_key(part[..index].trim()).ok_or_else(error)?;
            let set = part[index + op.len()..].trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(error)?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            return Ok(if negate {
                LabelRequirement::NotIn(key.into(), values)
            } else {
                LabelRequirement::In(key.into(), values)
            });
        }
    }
    if let Some((key, value)) = part.split_once("!=") {
        let key = valid_key(key.trim()).ok_or_else(error)?;
        return Ok(LabelRequirement::NotEquals(key.into(), value.trim().into()));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let key = valid_key(key.trim()).ok_or_else(error)?;
        return Ok(LabelRequirement::Equals(key.into(), value.trim().into()));
    }
    valid_key(part)
        .map(|k| LabelRequirement::Exists(k.into()))
        .ok_or_else(error)
}

fn valid_key(key: &str) -> Option<&str> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then_some(key)
}

/// A parsed field selector: `path=value` and `path!=value` terms on dotted paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Custom resources support only `metadata.name` and `metadata.namespace` (as kube-apiserver);
    /// built-ins are served schemaless, so any dotted path is accepted for them.
    pub fn parse(text: &str, custom_resource: bool) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (path, value, equal) = if let Some((p, v)) = part.split_once("!=") {
                (p, v, false)
            } else if let Some((p, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (p, v, true)
            } else {
                return Err(SelectorError::Field(part.to_string()));
            };
            let path = path.trim();
            if custom_resource && path != "metadata.name" && path != "metadata.namespace" {
                return Err(SelectorError::UnsupportedField(path.to_string()));
            }
            terms.push((path.to_string(), value.trim().to_string(), equal));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, value, equal)| {
            let mut field = object;
            for segment in path.split('.') {
                field = &field[segment];
            }
            let actual = match field {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

/// Both selectors of one request.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Field paths name the served shape of stored objects.
    pub view: View,
}

impl Selectors {
    pub fn matches(&self, stored: &Value) -> bool {
        if !self.labels.matches(stored) {
            return false;
        }
        match self.view {
            View::Native => self.fields.matches(stored),
            _ if self.fields.0.is_empty() => true,
            view => self.fields.matches(&view.present(stored)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selector_operators() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier,app=web", true),
            ("!missing", true),
            ("!app", false),
            ("missing", false),
            ("app in (db),tier=front", false),
            ("", true),
        ];
        for (text, expected) in cases {
            assert_eq!(
                LabelSelector::parse(text).unwrap().matches(&o),
                expected,
                "{text}"
            );
        }
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selector_on_custom_resources_is_limited_to_name_and_namespace() {
        let o = obj(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=a", true)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns", true)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", true),
            Err(SelectorError::UnsupportedField("spec.x".into()))
        );
        assert!(FieldSelector::parse("spec.x=", false).unwrap().matches(&o));
    }
}
