//! The Mithril API key, kept out of every log line.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

/// A Mithril API key (`fkey_...`).
///
/// The key never appears in `Debug` output and the type has no `Display`, `Serialize` or public
/// accessor: the only way it leaves this value is as the (sensitive-marked) `Authorization`
/// header built by the client.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a string cannot be an API key. Never contains the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the Mithril API key is empty")]
    Empty,
    #[error(
        "the Mithril API key contains whitespace or control characters (check for a trailing newline)"
    )]
    InvalidCharacters,
}

impl ApiKey {
    /// Wraps a key after checking it can travel in an HTTP header.
    pub fn new(key: impl Into<String>) -> Result<Self, ApiKeyError> {
        let key = key.into();
        if key.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiKeyError::InvalidCharacters);
        }
        Ok(ApiKey(key))
    }

    /// The `Authorization: Bearer ...` value, marked sensitive so `http`/`hyper` never log it and
    /// HTTP/2 never indexes it in HPACK tables.
    pub(crate) fn authorization_header(&self) -> HeaderValue {
        // ApiKey::new admits only visible ASCII, which is always a valid header value.
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.0))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        value.set_sensitive(true);
        value
    }
}

impl FromStr for ApiKey {
    type Err = ApiKeyError;
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        ApiKey::new(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("fkey_supersecret123").unwrap();
        let debug = format!("{key:?} {key:#?}");
        assert!(!debug.contains("supersecret"), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn header_is_bearer_and_sensitive() {
        let header = ApiKey::new("fkey_abc").unwrap().authorization_header();
        assert_eq!(header.to_str().unwrap(), "Bearer fkey_abc");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("fkey_abc"));
    }

    #[test]
    fn rejects_keys_that_cannot_be_sent() {
        assert_eq!(ApiKey::new(""), Err(ApiKeyError::Empty));
        assert_eq!(
            ApiKey::new("fkey_abc\n"),
            Err(ApiKeyError::InvalidCharacters)
        );
        assert_eq!(ApiKey::new("fkey abc"), Err(ApiKeyError::InvalidCharacters));
        assert!(!ApiKeyError::InvalidCharacters.to_string().contains("fkey"));
    }
}
