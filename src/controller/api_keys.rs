//! Which Mithril API key a resource acts with: its `apiKeySecretRef`, else the operator's own.
//!
//! Secrets are read through a short-lived cache: a thousand SpotBids sharing one Secret cost one
//! GET per TTL, and a rotated or fixed key is picked up within the TTL without a spec edit.

use super::error::Problem;
use crate::crd::ApiKeySecretRef;
use crate::mithril::ApiKey;
use crate::runtime::metrics::KeyLabels;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// (namespace, Secret name, key in the Secret).
type CacheKey = (String, String, String);

/// When a key was resolved, and how: a key, or what stops it being used.
type CacheEntry = (Instant, Result<ApiKey, Problem>);

/// Resolves API keys for resources.
pub struct ApiKeys {
    client: Client,
    default_key: Option<ApiKey>,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
    /// Where each key read is named for metrics: `default`, or the Secret's `namespace/name`.
    labels: KeyLabels,
}

impl ApiKeys {
    pub fn new(
        client: Client,
        default_key: Option<ApiKey>,
        ttl: Duration,
        labels: KeyLabels,
    ) -> Self {
        if let Some(key) = &default_key {
            labels.name(key, "default");
        }
        Self {
            client,
            default_key,
            ttl,
            cache: Mutex::default(),
            labels,
        }
    }

    /// The key for a resource in `namespace` with this reference. A missing Secret or key is a
    /// [`Problem`] for the resource; only a failing API server is an error.
    pub async fn key_for(
        &self,
        namespace: &str,
        reference: Option<&ApiKeySecretRef>,
    ) -> Result<Result<ApiKey, Problem>, kube::Error> {
        let Some(reference) = reference else {
            return Ok(self.default_key.clone().ok_or_else(|| {
                Problem::new(
                    "ApiKeyNotConfigured",
                    "the resource has no spec.apiKeySecretRef and the operator has no default key \
                     (--api-key-secret or MITHRIL_API_KEY)",
                )
            }));
        };
        let cache_key = (
            namespace.to_owned(),
            reference.name.clone(),
            reference.key.clone(),
        );
        if let Some((read_at, key)) = self.lock().get(&cache_key)
            && read_at.elapsed() < self.ttl
        {
            return Ok(key.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let key = match api.get_opt(&reference.name).await? {
            None => Err(Problem::new(
                "ApiKeySecretNotFound",
                format!("Secret {namespace}/{} does not exist", reference.name),
            )),
            Some(secret) => key_in_secret(&secret, namespace, reference),
        };
        if let Ok(key) = &key {
            self.labels
                .name(key, &format!("{namespace}/{}", reference.name));
        }
        let mut cache = self.lock();
        // Stale entries go, so a Secret no resource names any more is not kept for ever.
        cache.retain(|_, (read_at, _)| read_at.elapsed() < self.ttl);
        cache.insert(cache_key, (Instant::now(), key.clone()));
        Ok(key)
    }

    /// Secrets remembered (for tests and diagnostics).
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, CacheEntry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The API key under `reference.key` in the Secret.
fn key_in_secret(
    secret: &Secret,
    namespace: &str,
    reference: &ApiKeySecretRef,
) -> Result<ApiKey, Problem> {
    let (name, key) = (&reference.name, &reference.key);
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|bytes| bytes.0.clone())
        .ok_or_else(|| {
            Problem::new(
                "ApiKeyMissing",
                format!("Secret {namespace}/{name} has no key {key:?}"),
            )
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Problem::new(
            "ApiKeyInvalid",
            format!("Secret {namespace}/{name} key {key:?} is not UTF-8"),
        )
    })?;
    // A trailing newline (`echo key > file; kubectl create secret --from-file`) is common and harmless.
    ApiKey::new(text.trim_end()).map_err(|error| {
        Problem::new(
            "ApiKeyInvalid",
            format!("Secret {namespace}/{name} key {key:?}: {error}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn secrets_read_long_ago_are_not_kept() {
        let keys = ApiKeys::new(
            crate::kube_emulator::Emulator::new().client(),
            None,
            Duration::ZERO,
            KeyLabels::default(),
        );
        let reference = |name: &str| ApiKeySecretRef {
            name: name.into(),
            key: "api-key".into(),
        };
        for name in ["one", "two", "three"] {
            let problem = keys.key_for("default", Some(&reference(name))).await;
            assert!(matches!(problem, Ok(Err(_))), "no such Secret");
            assert_eq!(keys.cached(), 1, "only the last read is fresh");
        }
    }

    #[tokio::test]
    async fn keys_are_named_for_metrics_by_where_they_came_from() {
        use kube::api::{ObjectMeta, PostParams};
        let client = crate::kube_emulator::Emulator::new().client();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("team-key".into()),
                ..ObjectMeta::default()
            },
            string_data: Some([("api-key".to_owned(), "fkey_team".to_owned())].into()),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let labels = KeyLabels::default();
        let own = ApiKey::new("fkey_own").unwrap();
        let keys = ApiKeys::new(
            client,
            Some(own.clone()),
            Duration::from_secs(60),
            labels.clone(),
        );
        let reference = ApiKeySecretRef {
            name: "team-key".into(),
            key: "api-key".into(),
        };
        let team = keys
            .key_for("default", Some(&reference))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(labels.label(&team), "default/team-key");
        assert_eq!(labels.label(&own), "default");
    }
}
