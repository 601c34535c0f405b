//! Label selectors (`app=x,tier!=y,env in (a,b),!k,k`) and field selectors (`metadata.name=x`).

use super::conversion::View;
use super::resources::ResourceType;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Label(String),
    #[error("invalid selector: '{0}'; can't understand '{0}'")]
    Field(String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
    #[error(
        "\"{0}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    )]
    UnknownField(String),
    /// A label value that is an operator (`tier===gold`).
    #[error("unable to parse requirement: found '{0}', expected: identifier")]
    Token(String),
}

/// The field labels a resource's field selectors may name.
#[derive(Debug, Clone, Copy)]
pub enum FieldLabels<'a> {
    /// A custom resource: `metadata.name`, `metadata.namespace` and its CRD's `selectableFields`.
    Custom(&'a [String]),
    /// A built-in kind selectable by its metadata only.
    MetadataOnly,
    /// A built-in kind with field labels of its own (not checked).
    Any,
}

impl<'a> FieldLabels<'a> {
    pub fn of(rt: &'a ResourceType) -> Self {
        const METADATA_ONLY: &[&str] = &[
            "ConfigMap",
            "ServiceAccount",
            "Deployment",
            "Lease",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
        ];
        if rt.custom {
            Self::Custom(&rt.selectable_fields)
        } else if METADATA_ONLY.contains(&rt.kind.as_str()) {
            Self::MetadataOnly
        } else {
            Self::Any
        }
    }

    fn check(self, path: &str) -> Result<(), SelectorError> {
        let metadata = path == "metadata.name" || path == "metadata.namespace";
        match self {
            Self::Custom(selectable) if !metadata && !selectable.iter().any(|f| f == path) => {
                Err(SelectorError::UnsupportedField(path.to_string()))
            }
            Self::MetadataOnly if !metadata => Err(SelectorError::UnknownField(path.to_string())),
            _ => Ok(()),
        }
    }
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
        return Ok(LabelRequirement::NotEquals(key.into(), label_value(value)?));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let key = valid_key(key.trim()).ok_or_else(error)?;
        return Ok(LabelRequirement::Equals(key.into(), label_value(value)?));
    }
    valid_key(part)
        .map(|k| LabelRequirement::Exists(k.into()))
        .ok_or_else(error)
}

/// The value after an operator; another operator there is what kube-apiserver's lexer reports.
fn label_value(value: &str) -> Result<String, SelectorError> {
    let value = value.trim();
    let operator: String = value
        .chars()
        .take_while(|c| matches!(c, '=' | '!'))
        .collect();
    if operator.is_empty() {
        Ok(value.to_string())
    } else {
        Err(SelectorError::Token(operator))
    }
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
    pub fn parse(text: &str, labels: FieldLabels<'_>) -> Result<Self, SelectorError> {
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
            labels.check(path)?;
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
    fn field_selectors_name_metadata_or_selectable_fields() {
        let mut o = obj(json!({}));
        o["spec"] = json!({"region": "r1", "size": 2});
        let custom = FieldLabels::Custom(&[]);
        assert!(
            FieldSelector::parse("metadata.name=a", custom)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns", custom)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", custom),
            Err(SelectorError::UnsupportedField("spec.x".into()))
        );
        let selectable = ["spec.region".to_string(), "spec.size".to_string()];
        let custom = FieldLabels::Custom(&selectable);
        assert!(
            FieldSelector::parse("spec.region=r1,spec.size=2", custom)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", FieldLabels::MetadataOnly)
                .unwrap_err()
                .to_string(),
            r#""spec.x" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert!(
            FieldSelector::parse("spec.x=", FieldLabels::Any)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            LabelSelector::parse("tier===gold").unwrap_err().to_string(),
            "unable to parse requirement: found '=', expected: identifier"
        );
    }
}
