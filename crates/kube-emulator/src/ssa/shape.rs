//! How field management sees each level of an object: which fields are tracked, which maps
//! merge key by key, which lists merge item by item. Custom resources follow their schema;
//! built-in kinds (no schema) have granular maps and atomic lists; `metadata` follows ObjectMeta.

use crate::schema::{ListType, MapType, SchemaNode};
use serde_json::Value;
use std::sync::LazyLock;

/// Metadata fields the server sets: never owned, never taken from an applied configuration.
const SERVER_SET_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The shape of one level of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape<'s> {
    /// The resource itself; its schema if it is a custom resource.
    Root(Option<&'s SchemaNode>),
    /// A level a CRD schema describes.
    Schema(&'s SchemaNode),
    /// No schema: maps are granular, lists atomic.
    Deduced,
    /// ObjectMeta.
    Metadata,
    /// `metadata.labels`, `metadata.annotations`.
    StringMap,
    /// `metadata.finalizers`: a set.
    Finalizers,
    /// `metadata.ownerReferences`: a list-map keyed by `uid`.
    OwnerReferences,
    /// One owner reference: an object with declared fields.
    OwnerReference,
}

/// How values at a level are merged, compared and owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'s> {
    /// One value: replaced and owned as a whole.
    Leaf,
    /// An object whose fields are merged and owned one by one.
    Map,
    /// A list of unique scalars, merged and owned item by item.
    Set,
    /// A list of objects identified by these keys, merged and owned item by item.
    ListMap(&'s [String]),
}

/// What field management does with one field of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldRule<'s> {
    /// Owned and merged. `declared`: a named field of a struct (owned as a path only when it
    /// is a leaf, null or empty), as opposed to an entry of a map (always owned as a path).
    Tracked { shape: Shape<'s>, declared: bool },
    /// Taken from the applied configuration, never owned (apiVersion, kind, name, namespace).
    Untracked,
    /// Set by the server: the live value stays, the applied one is ignored.
    ServerSet,
    /// Not in the schema: taken as sent (the server prunes it afterwards), never owned.
    Unknown,
}

impl<'s> Shape<'s> {
    /// The kind of `value` at this level: a value whose JSON type does not fit the shape is a leaf.
    pub(crate) fn kind_of(self, value: &Value) -> Kind<'s> {
        let object = value.is_object();
        let array = value.is_array();
        match self {
            Self::Root(_) | Self::Metadata | Self::StringMap | Self::OwnerReference if object => {
                Kind::Map
            }
            Self::Deduced if object => Kind::Map,
            Self::Finalizers if array => Kind::Set,
            Self::OwnerReferences if array => Kind::ListMap(&OWNER_REFERENCE_KEYS),
            Self::Schema(node) => match node.type_() {
                Some("object") if object && node.map_type() == MapType::Granular => Kind::Map,
                Some("array") if array => match node.list_type() {
                    ListType::Atomic => Kind::Leaf,
                    ListType::Set => Kind::Set,
                    ListType::Map { keys } => Kind::ListMap(keys),
                },
                None if object && node.preserve_unknown_fields() => Kind::Map,
                _ => Kind::Leaf,
            },
            _ => Kind::Leaf,
        }
    }

    /// What to do with the field `key` of an object at this level.
    pub(crate) fn field(self, key: &str) -> FieldRule<'s> {
        match self {
            Self::Root(schema) => match key {
                "apiVersion" | "kind" => FieldRule::Untracked,
                "metadata" => FieldRule::Tracked {
                    shape: Self::Metadata,
                    declared: true,
                },
                _ => match schema {
                    None => FieldRule::Tracked {
                        shape: Self::Deduced,
                        declared: true,
                    },
                    Some(node) => Self::Schema(node).field(key),
                },
            },
            Self::Schema(node) => {
                if let Some(property) = node.property(key) {
                    FieldRule::Tracked {
                        shape: Self::Schema(property),
                        declared: true,
                    }
                } else if let Some(values) = node.additional_properties() {
                    FieldRule::Tracked {
                        shape: Self::Schema(values),
                        declared: false,
                    }
                } else if node.embedded_resource()
                    && matches!(key, "apiVersion" | "kind" | "metadata")
                {
                    FieldRule::Tracked {
                        shape: Self::Deduced,
                        declared: true,
                    }
                } else if node.preserve_unknown_fields() {
                    FieldRule::Tracked {
                        shape: Self::Deduced,
                        declared: false,
                    }
                } else {
                    FieldRule::Unknown
                }
            }
            Self::Deduced => FieldRule::Tracked {
                shape: Self::Deduced,
                declared: false,
            },
            Self::Metadata => match key {
                "name" | "namespace" => FieldRule::Untracked,
                "labels" | "annotations" => FieldRule::Tracked {
                    shape: Self::StringMap,
                    declared: true,
                },
                "finalizers" => FieldRule::Tracked {
                    shape: Self::Finalizers,
                    declared: true,
                },
                "ownerReferences" => FieldRule::Tracked {
                    shape: Self::OwnerReferences,
                    declared: true,
                },
                _ if SERVER_SET_METADATA.contains(&key) => FieldRule::ServerSet,
                _ => FieldRule::Tracked {
                    shape: Self::Deduced,
                    declared: true,
                },
            },
            Self::StringMap => FieldRule::Tracked {
                shape: Self::Deduced,
                declared: false,
            },
            Self::OwnerReference => FieldRule::Tracked {
                shape: Self::Deduced,
                declared: true,
            },
            Self::Finalizers | Self::OwnerReferences => FieldRule::Unknown,
        }
    }

    /// The schema default of the field `key` of an object at this level.
    pub(crate) fn default_of(self, key: &str) -> Option<&'s Value> {
        match self {
            Self::Schema(node) => node.property(key).and_then(SchemaNode::default_value),
            _ => None,
        }
    }

    /// The shape of the items of a list at this level.
    pub(crate) fn item(self) -> Shape<'s> {
        match self {
            Self::Schema(node) => node.items().map_or(Self::Deduced, Self::Schema),
            Self::OwnerReferences => Self::OwnerReference,
            _ => Self::Deduced,
        }
    }
}

/// Owner references are identified by the owner's uid.
static OWNER_REFERENCE_KEYS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["uid".to_owned()]);
