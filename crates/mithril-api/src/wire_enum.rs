//! A macro for string enums on the Mithril wire.
//!
//! Mithril adds statuses and event types over time. A closed Rust enum would turn every new server
//! value into a decode error for the whole response, so each wire enum carries an `Unknown(String)`
//! fallback that keeps the exact text and serializes it back unchanged.

/// Declares a wire enum: each variant maps to one exact wire string; anything else decodes to
/// `Unknown(String)`. Generates `as_str`, `is_known`, `KNOWN`, `Display`, `FromStr` (infallible),
/// `From<&str>`, `From<String>`, `Serialize` and `Deserialize`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this client does not know yet, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Every value this client knows, in the order the API documents them.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The exact wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(other) => other.as_str(),
                }
            }

            /// False for a value this client does not know.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(wire: &str) -> Self {
                match wire {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::convert::From<String> for $name {
            fn from(wire: String) -> Self {
                match $name::from(wire.as_str()) {
                    $name::Unknown(_) => $name::Unknown(wire),
                    known => known,
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(wire: &str) -> Result<Self, Self::Err> {
                Ok($name::from(wire))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let wire = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok($name::from(wire))
            }
        }
    };
}

pub(crate) use wire_enum;
