//! Sets of field paths, in the shape of `managedFields[].fieldsV1`:
//! `{"f:spec": {"f:limitPrice": {}}, "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}}}`.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// One step of a field path. The variant order is the order kube-apiserver serializes them in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// `f:name`: a field of an object.
    Field(String),
    /// `k:{"type":"Ready"}`: the item of a list-map with these key values (compact JSON, keys sorted).
    Key(String),
    /// `v:"value"`: the item of a set list with this value (compact JSON).
    Value(String),
    /// `i:0`: an item of a list by position.
    Index(usize),
}

impl PathElement {
    fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(key) => format!("k:{key}"),
            Self::Value(value) => format!("v:{value}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (prefix, rest) = text.split_once(':')?;
        match prefix {
            "f" => Some(Self::Field(rest.to_owned())),
            "k" => Some(Self::Key(canonical_json(&serde_json::from_str(rest).ok()?))),
            "v" => Some(Self::Value(canonical_json(
                &serde_json::from_str(rest).ok()?,
            ))),
            "i" => rest.parse().ok().map(Self::Index),
            _ => None,
        }
    }
}

/// Compact JSON with object keys sorted, so equal values have equal path elements.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(fields) => {
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|key| (key.clone(), sorted(&fields[key])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// A field path, displayed as kube-apiserver does in conflicts: `.status.conditions[type="Ready"].status`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FieldPath(pub(crate) Vec<PathElement>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in &self.0 {
            match element {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Key(key) => {
                    let pairs: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                        .map(|fields| {
                            fields
                                .iter()
                                .map(|(name, value)| format!("{name}={value}"))
                                .collect()
                        })
                        .unwrap_or_default();
                    write!(f, "[{}]", pairs.join(","))?;
                }
                PathElement::Value(value) => write!(f, "[={value}]")?,
                PathElement::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A set of paths, as a tree: each node knows whether its own path is in the set (`member`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub(crate) fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub(crate) fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn is_member(&self) -> bool {
        self.member
    }

    /// Keeps only the subtree below `element` (the set of paths starting with it).
    pub(crate) fn only(&self, element: &PathElement) -> FieldSet {
        let mut kept = FieldSet::default();
        if let Some(child) = self.children.get(element) {
            kept.children.insert(element.clone(), child.clone());
        }
        kept
    }

    /// Drops the subtree below `element`.
    pub(crate) fn without(&self, element: &PathElement) -> FieldSet {
        let mut kept = self.clone();
        kept.children.remove(element);
        kept
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut result = self.clone();
        result.member |= other.member;
        for (element, child) in &other.children {
            let merged = match result.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            result.children.insert(element.clone(), merged);
        }
        result
    }

    /// The paths of `self` that are not paths of `other` (exact paths: children stay).
    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut result = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let remaining = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !remaining.is_empty() {
                result.children.insert(element.clone(), remaining);
            }
        }
        result
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut result = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let common = child.intersection(theirs);
                if !common.is_empty() {
                    result.children.insert(element.clone(), common);
                }
            }
        }
        result
    }

    /// The same set with every object field that has paths below it counted as a member too:
    /// owning `spec.a` means owning that `spec` exists.
    pub(crate) fn with_named_fields_as_members(&self) -> FieldSet {
        let mut result = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let mut expanded = child.with_named_fields_as_members();
            if matches!(element, PathElement::Field(_)) && !expanded.is_empty() {
                expanded.member = true;
            }
            result.children.insert(element.clone(), expanded);
        }
        result
    }

    /// The same set with the path `element` itself no longer a member (what is below stays).
    pub(crate) fn without_member(&self, element: &PathElement) -> FieldSet {
        let mut result = self.clone();
        if let Some(child) = result.children.get_mut(element) {
            child.member = false;
        }
        result
    }

    /// Every member path, in order.
    pub(crate) fn paths(&self) -> Vec<FieldPath> {
        let mut found = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut found);
        found
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, found: &mut Vec<FieldPath>) {
        if self.member && !prefix.is_empty() {
            found.push(FieldPath(prefix.clone()));
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, found);
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON of this set.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut object = Map::new();
        if self.member && !self.children.is_empty() {
            object.insert(".".into(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            if !child.is_empty() {
                object.insert(element.encode(), child.to_fields_v1());
            }
        }
        Value::Object(object)
    }

    /// Reads a `fieldsV1` object; entries it cannot read are skipped.
    pub(crate) fn from_fields_v1(value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Some(object) = value.as_object() {
            for (name, child) in object {
                if name == "." {
                    set.member = true;
                    continue;
                }
                let Some(element) = PathElement::decode(name) else {
                    continue;
                };
                let mut decoded = FieldSet::from_fields_v1(child);
                if child.as_object().is_some_and(Map::is_empty) {
                    decoded.member = true;
                }
                set.children.insert(element, decoded);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_members_with_children() {
        let fields = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}},
            "f:spec": {"f:sshKeys": {"v:\"a\"": {}}}
        });
        let set = FieldSet::from_fields_v1(&fields);
        assert_eq!(
            set.to_fields_v1().to_string(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:sshKeys": {"v:\"a\"": {}}},
                "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}
            })
            .to_string()
        );
    }

    #[test]
    fn paths_display_like_kube_apiserver() {
        let mut set = FieldSet::default();
        set.insert(&[
            field("status"),
            field("conditions"),
            PathElement::Key("{\"type\":\"Ready\"}".into()),
            field("status"),
        ]);
        set.insert(&[
            field("spec"),
            field("sshKeys"),
            PathElement::Value("\"a\"".into()),
        ]);
        let shown: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                ".spec.sshKeys[=\"a\"]",
                ".status.conditions[type=\"Ready\"].status"
            ]
        );
    }

    #[test]
    fn set_algebra_works_on_exact_paths() {
        let mut a = FieldSet::default();
        a.insert(&[field("spec"), field("a")]);
        a.insert(&[field("spec"), field("b")]);
        let mut b = FieldSet::default();
        b.insert(&[field("spec"), field("b")]);
        assert_eq!(a.difference(&b).paths().len(), 1);
        assert_eq!(a.intersection(&b), b);
        assert_eq!(b.union(&a), a);
        assert!(b.difference(&a).is_empty());
        let expanded = b.with_named_fields_as_members();
        assert_eq!(
            expanded.paths().len(),
            2,
            "spec itself counts once spec.b is owned"
        );
    }
}
