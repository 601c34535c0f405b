//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kube-apiserver accepts them
//! for built-in kinds: client-go's typed clients, and so kubectl's typed commands (`kubectl create
//! namespace|secret|configmap|...`), send them without asking the server first. Each body is the
//! `k8s\0` magic, then a `runtime.Unknown` naming apiVersion and kind around the object's bytes,
//! decoded with Kubernetes' generated types (`k8s-pb`) and turned into the JSON the rest of the
//! emulator stores. Custom resources have no protobuf form (415, as on a real server).

mod kinds;

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::Value;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body was not turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtobufError {
    /// Not a Kubernetes protobuf envelope, or bytes that do not decode as the kind named.
    Malformed(String),
    /// A kind the emulator has no protobuf decoder for (`apiVersion`, `kind`).
    UnknownKind(String, String),
}

impl std::fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "{reason}"),
            Self::UnknownKind(api_version, kind) => {
                write!(f, "no protobuf decoder for {api_version}, Kind={kind}")
            }
        }
    }
}

/// The JSON object (with `apiVersion` and `kind`) a protobuf body holds.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| {
        ProtobufError::Malformed(
            "the body does not start with the Kubernetes protobuf prefix".into(),
        )
    })?;
    let unknown = Unknown::decode(envelope).map_err(|e| ProtobufError::Malformed(e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let Some(mut object) = kinds::to_json(&api_version, &kind, &raw)
        .transpose()
        .map_err(|e| ProtobufError::Malformed(format!("decoding {kind}: {e}")))?
    else {
        return Err(ProtobufError::UnknownKind(api_version, kind));
    };
    if let Some(root) = object.as_object_mut() {
        // Go's encoding puts apiVersion and kind first; serde_json keeps insertion order here.
        let mut ordered = serde_json::Map::new();
        ordered.insert("apiVersion".into(), Value::String(api_version));
        ordered.insert("kind".into(), Value::String(kind));
        ordered.append(root);
        *root = ordered;
    }
    Ok(object)
}

#[cfg(test)]
mod tests;
