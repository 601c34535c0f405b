//! The structural part of an `openAPIV3Schema`, as a typed tree: what pruning, defaulting,
//! list-type checks and server-side apply need to know about each level of an object.

use serde_json::Value;
use std::collections::BTreeMap;

/// `x-kubernetes-list-type` of an array.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListType {
    /// The list is one value: replaced as a whole, owned as a whole (the default).
    #[default]
    Atomic,
    /// Scalar items, each unique, each owned on its own.
    Set,
    /// Object items identified by the values of these keys (`x-kubernetes-list-map-keys`).
    Map { keys: Vec<String> },
}

/// `x-kubernetes-map-type` of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapType {
    /// Each key is a field of its own (the default).
    #[default]
    Granular,
    /// The object is one value: replaced as a whole, owned as a whole.
    Atomic,
}

/// One level of a structural schema.
#[derive(Debug, Clone, Default)]
pub struct SchemaNode {
    type_: Option<String>,
    properties: BTreeMap<String, SchemaNode>,
    additional_properties: Option<Box<SchemaNode>>,
    items: Option<Box<SchemaNode>>,
    nullable: bool,
    default: Option<Value>,
    preserve_unknown_fields: bool,
    embedded_resource: bool,
    int_or_string: bool,
    list_type: ListType,
    map_type: MapType,
}

impl SchemaNode {
    /// Reads the structural part of a schema object. Value validations (`anyOf`, `allOf`, ...)
    /// never declare fields in a structural schema, so they are not read here.
    pub(crate) fn parse(schema: &Value) -> Self {
        let Some(object) = schema.as_object() else {
            // `additionalProperties: true` and friends: anything goes below.
            return Self {
                preserve_unknown_fields: schema.as_bool() == Some(true),
                ..Self::default()
            };
        };
        let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
        let properties = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .map(|(name, schema)| (name.clone(), Self::parse(schema)))
                    .collect()
            })
            .unwrap_or_default();
        let list_type = match object.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map {
                keys: object
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => ListType::Atomic,
        };
        let map_type = match object.get("x-kubernetes-map-type").and_then(Value::as_str) {
            Some("atomic") => MapType::Atomic,
            _ => MapType::Granular,
        };
        Self {
            type_: object
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            properties,
            additional_properties: object
                .get("additionalProperties")
                .filter(|additional| !matches!(additional, Value::Bool(false)))
                .map(|additional| Box::new(Self::parse(additional))),
            items: object
                .get("items")
                .filter(|items| items.is_object())
                .map(|items| Box::new(Self::parse(items))),
            nullable: flag("nullable"),
            default: object.get("default").cloned(),
            preserve_unknown_fields: flag("x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            int_or_string: flag("x-kubernetes-int-or-string"),
            list_type,
            map_type,
        }
    }

    /// The declared `type` (`object`, `array`, `string`, `integer`, `number`, `boolean`), if any.
    pub fn type_(&self) -> Option<&str> {
        self.type_.as_deref()
    }

    /// The schema of a declared property.
    pub fn property(&self, name: &str) -> Option<&SchemaNode> {
        self.properties.get(name)
    }

    /// The declared properties, by name.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &SchemaNode)> {
        self.properties
            .iter()
            .map(|(name, node)| (name.as_str(), node))
    }

    /// The schema of every value of a string-keyed map (`additionalProperties`).
    pub fn additional_properties(&self) -> Option<&SchemaNode> {
        self.additional_properties.as_deref()
    }

    /// The schema of the items of an array.
    pub fn items(&self) -> Option<&SchemaNode> {
        self.items.as_deref()
    }

    /// The schema a key of this object maps to: a declared property, else `additionalProperties`.
    pub fn child(&self, key: &str) -> Option<&SchemaNode> {
        self.property(key).or(self.additional_properties())
    }

    pub fn nullable(&self) -> bool {
        self.nullable
    }

    pub fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// `x-kubernetes-preserve-unknown-fields: true`: undeclared fields at this level are kept.
    pub fn preserve_unknown_fields(&self) -> bool {
        self.preserve_unknown_fields
    }

    /// `x-kubernetes-embedded-resource: true`: an object with its own apiVersion, kind and metadata.
    pub fn embedded_resource(&self) -> bool {
        self.embedded_resource
    }

    /// `x-kubernetes-int-or-string: true`.
    pub fn int_or_string(&self) -> bool {
        self.int_or_string
    }

    pub fn list_type(&self) -> &ListType {
        &self.list_type
    }

    pub fn map_type(&self) -> MapType {
        self.map_type
    }
}
