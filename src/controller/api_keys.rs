//! Which Mithril API key a resource acts with: its `apiKeySecretRef`, else the operator's own
//! (in the namespaces allowed to use it).
//!
//! Secrets are read through a short-lived cache: a thousand SpotBids sharing one Secret cost one
//! GET per TTL. Which resources name which Secret is kept too, so that a Secret created, changed
//! or deleted drops its cached key and wakes them ([`super::secret_wakeups`]).

use super::error::{Error, Problem};
use super::usage::User;
use crate::crd::{ApiKeySecretRef, Reason};
use crate::runtime::metrics::KeyLabels;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use mithril_api::ApiKey;
use std::collections::{BTreeSet, HashMap};
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
    /// `None`: every namespace may use the default key.
    default_key_namespaces: Option<BTreeSet<String>>,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
    /// The (namespace, Secret name) each resource names.
    named: Mutex<HashMap<User, (String, String)>>,
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
            default_key_namespaces: None,
            ttl,
            cache: Mutex::default(),
            named: Mutex::default(),
            labels,
        }
    }

    /// Notes which key Secret `user` names (none: the operator's key).
    pub fn named_by(&self, user: &User, reference: Option<&ApiKeySecretRef>) {
        let mut named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
        match reference {
            Some(reference) => {
                let secret = (user.namespace.clone(), reference.name.clone());
                if named.get(user) != Some(&secret) {
                    named.insert(user.clone(), secret);
                }
            }
            None => {
                named.remove(user);
            }
        }
    }

    /// Forgets what `user` named (it is gone).
    pub fn unnamed_by(&self, user: &User) {
        self.named_by(user, None);
    }

    /// The resources of `kind` that name a key Secret.
    pub fn naming(&self, kind: &str) -> Vec<User> {
        self.named
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .filter(|user| user.kind == kind)
            .cloned()
            .collect()
    }

    /// A Secret was created, changed or deleted: its keys are read again next time, and the
    /// resources naming it are returned (to be woken).
    pub fn secret_changed(&self, namespace: &str, name: &str) -> Vec<User> {
        self.lock()
            .retain(|(ns, secret, _), _| ns != namespace || secret != name);
        self.named
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, (ns, secret))| ns == namespace && secret == name)
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// Lets only resources in `namespaces` act with the default key (`None`: every namespace).
    pub fn default_key_only_in(mut self, namespaces: Option<BTreeSet<String>>) -> Self {
        self.default_key_namespaces = namespaces;
        self
    }

    /// The operator's own key for a resource in `namespace`, or why it may not have it.
    fn default_key_for(&self, namespace: &str) -> Result<ApiKey, Problem> {
        if let Some(allowed) = &self.default_key_namespaces
            && !allowed.contains(namespace)
        {
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            return Err(Problem::new(
                Reason::ApiKeyNotAllowed,
                format!(
                    "namespace {namespace} may not use the operator's own API key \
                     (--default-key-namespaces allows: {}); set spec.apiKeySecretRef to a Secret \
                     in this namespace",
                    allowed.join(", ")
                ),
            ));
        }
        self.default_key.clone().ok_or_else(|| {
            Problem::new(
                Reason::ApiKeyNotConfigured,
                "the resource has no spec.apiKeySecretRef and the operator has no default key \
                 (--api-key-secret or MITHRIL_API_KEY)",
            )
        })
    }

    /// The key for a resource in `namespace` with this reference. A missing Secret or key is an
    /// [`Error::Problem`] for the resource; a failing API server is [`Error::Kube`].
    pub async fn key_for(
        &self,
        namespace: &str,
        reference: Option<&ApiKeySecretRef>,
    ) -> Result<ApiKey, Error> {
        let Some(reference) = reference else {
            return self.default_key_for(namespace).map_err(Error::Problem);
        };
        let cache_key = (
            namespace.to_owned(),
            reference.name.clone(),
            reference.key.clone(),
        );
        if let Some((read_at, key)) = self.lock().get(&cache_key)
            && read_at.elapsed() < self.ttl
        {
            return key.clone().map_err(Error::Problem);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let key = match api.get_opt(&reference.name).await? {
            None => Err(Problem::new(
                Reason::ApiKeySecretNotFound,
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
        key.map_err(Error::Problem)
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
                Reason::ApiKeyMissing,
                format!("Secret {namespace}/{name} has no key {key:?}"),
            )
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Problem::new(
            Reason::ApiKeyInvalid,
            format!("Secret {namespace}/{name} key {key:?} is not UTF-8"),
        )
    })?;
    // A trailing newline (`echo key > file; kubectl create secret --from-file`) is common and harmless.
    ApiKey::new(text.trim_end()).map_err(|error| {
        Problem::new(
            Reason::ApiKeyInvalid,
            format!("Secret {namespace}/{name} key {key:?}: {error}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_secret_is_read_again_and_names_who_uses_it() {
        let keys = ApiKeys::new(
            kube_emulator::Emulator::new().client(),
            None,
            Duration::from_secs(3600),
            KeyLabels::default(),
        );
        let reference = ApiKeySecretRef {
            name: "team-key".into(),
            key: "api-key".into(),
        };
        let (train, other) = (
            User::new("SpotBid", "ml", "train"),
            User::new("SpotBid", "ml", "other"),
        );
        keys.named_by(&train, Some(&reference));
        keys.named_by(&other, None);
        let missing = keys.key_for("ml", Some(&reference)).await;
        assert!(
            matches!(missing, Err(Error::Problem(_))),
            "no such Secret yet"
        );
        assert_eq!(keys.cached(), 1);

        assert!(keys.secret_changed("research", "team-key").is_empty());
        assert_eq!(
            keys.cached(),
            1,
            "another namespace's Secret changes nothing here"
        );
        assert_eq!(
            keys.secret_changed("ml", "team-key"),
            std::slice::from_ref(&train)
        );
        assert_eq!(keys.cached(), 0, "the cached answer goes with the change");
        keys.unnamed_by(&train);
        assert!(keys.secret_changed("ml", "team-key").is_empty());
    }

    #[tokio::test]
    async fn the_default_key_is_only_for_the_namespaces_allowed() {
        let key = ApiKey::new("fkey_default0123456789").unwrap();
        let client = kube_emulator::Emulator::new().client();
        let everyone = ApiKeys::new(
            client.clone(),
            Some(key.clone()),
            Duration::ZERO,
            KeyLabels::default(),
        );
        assert!(everyone.key_for("any", None).await.is_ok());

        let allowed = BTreeSet::from(["platform".to_owned()]);
        let keys = ApiKeys::new(client, Some(key), Duration::ZERO, KeyLabels::default())
            .default_key_only_in(Some(allowed));
        assert!(keys.key_for("platform", None).await.is_ok());
        let Err(Error::Problem(problem)) = keys.key_for("team-a", None).await else {
            panic!("team-a may not use the default key");
        };
        assert_eq!(problem.reason, "ApiKeyNotAllowed");
        assert!(problem.message.contains("platform"), "{}", problem.message);
    }

    #[tokio::test]
    async fn secrets_read_long_ago_are_not_kept() {
        let keys = ApiKeys::new(
            kube_emulator::Emulator::new().client(),
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
            assert!(matches!(problem, Err(Error::Problem(_))), "no such Secret");
            assert_eq!(keys.cached(), 1, "only the last read is fresh");
        }
    }

    #[tokio::test]
    async fn keys_are_named_for_metrics_by_where_they_came_from() {
        use kube::api::{ObjectMeta, PostParams};
        let client = kube_emulator::Emulator::new().client();
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
        let team = keys.key_for("default", Some(&reference)).await.unwrap();
        assert_eq!(labels.label(&team), "default/team-key");
        assert_eq!(labels.label(&own), "default");
    }
}
