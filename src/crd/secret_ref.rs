//! Reference to the Secret that holds a Mithril API key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The key read from the Secret when `apiKeySecretRef.key` is not given.
pub const DEFAULT_API_KEY_KEY: &str = "api-key";

/// A key of a Secret in the resource's own namespace holding a Mithril API key (`fkey_...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySecretRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data whose value is the API key. Defaults to `api-key`.
    #[serde(default = "default_api_key_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_api_key_key() -> String {
    DEFAULT_API_KEY_KEY.to_owned()
}
