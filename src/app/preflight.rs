//! Start-up checks, each failing with a message that says what to fix: a Kubernetes configuration,
//! a reachable API server, the CRDs installed, and the operator's own API key.

use super::error::RunError;
use super::settings::{ApiKeySource, SecretName, Settings};
use crate::crd::{DEFAULT_API_KEY_KEY, InstanceSchedule, SpotBid, SpotPool};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::ListParams;
use kube::{Api, Client, CustomResourceExt, Resource};
use mithril_api::ApiKey;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// The usual resolution: `KUBECONFIG`, `~/.kube/config`, then the in-cluster service account.
pub async fn infer_kube_config() -> Result<kube::Config, RunError> {
    kube::Config::infer().await.map_err(RunError::NoKubeConfig)
}

/// A client for `config`, once the API server has answered.
pub async fn connect(config: kube::Config, timeout: Duration) -> Result<Client, RunError> {
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(RunError::KubeConfig)?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            tracing::info!(%url, version = %version.git_version, "connected to the Kubernetes API server");
            Ok(client)
        }
        Ok(Err(source)) => Err(RunError::ApiServerUnreachable { url, source }),
        Err(_) => Err(RunError::ApiServerTimeout { url, timeout }),
    }
}

/// One cheap list (a single item) of each kind the enabled controllers serve: a 404 means the
/// CustomResourceDefinition is missing, which no amount of retrying fixes.
pub async fn check_crds(
    client: &Client,
    settings: &Settings,
    timeout: Duration,
) -> Result<(), RunError> {
    let namespace = settings.namespaces.first().map(String::as_str);
    if settings.spot_bids {
        check_crd::<SpotBid>(client, namespace, timeout).await?;
    }
    if settings.instance_schedules {
        check_crd::<InstanceSchedule>(client, namespace, timeout).await?;
    }
    if settings.spot_pools {
        check_crd::<SpotPool>(client, namespace, timeout).await?;
    }
    Ok(())
}

async fn check_crd<K>(
    client: &Client,
    namespace: Option<&str>,
    timeout: Duration,
) -> Result<(), RunError>
where
    K: CustomResourceExt
        + Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let kind = K::kind(&());
    let listed = bounded(
        timeout,
        &format!("list {kind}s"),
        api.list_metadata(&ListParams::default().limit(1)),
    )
    .await;
    match listed {
        Ok(_) => Ok(()),
        Err(RunError::Kube {
            source: kube::Error::Api(status),
            ..
        }) if status.is_not_found() => Err(RunError::CrdNotInstalled {
            kind: kind.into_owned(),
            crd: K::crd_name().to_owned(),
        }),
        Err(error) => Err(error),
    }
}

/// The operator's default Mithril API key, read once.
pub async fn default_api_key(
    client: &Client,
    source: &ApiKeySource,
    timeout: Duration,
) -> Result<Option<ApiKey>, RunError> {
    match source {
        ApiKeySource::Key(key) => Ok(Some(key.clone())),
        ApiKeySource::None => {
            tracing::warn!(
                "no default Mithril API key (--api-key-secret or MITHRIL_API_KEY): only resources \
                 with spec.apiKeySecretRef will be reconciled"
            );
            Ok(None)
        }
        ApiKeySource::Secret(secret) => key_from_secret(client, secret, timeout).await.map(Some),
    }
}

async fn key_from_secret(
    client: &Client,
    secret: &SecretName,
    timeout: Duration,
) -> Result<ApiKey, RunError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
    let action = format!("read the API key Secret {secret}");
    let found = bounded(timeout, &action, api.get_opt(&secret.name)).await?;
    let Some(found) = found else {
        return Err(RunError::ApiKeySecretNotFound {
            secret: secret.to_string(),
            namespace: secret.namespace.clone(),
            name: secret.name.clone(),
        });
    };
    let data = found.data.unwrap_or_default();
    let Some(bytes) = data.get(DEFAULT_API_KEY_KEY) else {
        let present: Vec<&str> = data.keys().map(String::as_str).collect();
        return Err(RunError::ApiKeyMissingInSecret {
            secret: secret.to_string(),
            key: DEFAULT_API_KEY_KEY,
            present: if present.is_empty() {
                "no entries".to_owned()
            } else {
                present.join(", ")
            },
        });
    };
    let text = String::from_utf8_lossy(&bytes.0);
    // `echo key > file; kubectl create secret --from-file` leaves a trailing newline: harmless.
    let key = ApiKey::new(text.trim_end()).map_err(|source| RunError::ApiKeyInvalid {
        secret: secret.to_string(),
        source,
    })?;
    tracing::info!(%secret, "read the default Mithril API key");
    Ok(key)
}

/// The cluster's name in bid names: `--cluster-name`, else the first 8 characters of the
/// kube-system namespace's uid (stable for the cluster's life, distinct between clusters).
pub async fn cluster_name(
    client: &Client,
    settings: &Settings,
    timeout: Duration,
) -> Result<String, RunError> {
    if let Some(name) = &settings.cluster_name {
        return Ok(name.clone());
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let read = bounded(
        timeout,
        "read namespace kube-system (for the cluster's name in bid names; or set --cluster-name)",
        namespaces.get("kube-system"),
    )
    .await?;
    let uid: String = read
        .metadata
        .uid
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    if uid.is_empty() {
        return Err(RunError::InvalidSettings(
            "namespace kube-system has no uid: set --cluster-name".into(),
        ));
    }
    tracing::info!(cluster = %uid, "bids carry this cluster's name");
    Ok(uid)
}

/// Runs one Kubernetes request with a deadline, naming it in the error.
async fn bounded<T>(
    timeout: Duration,
    action: &str,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, RunError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result.map_err(|source| RunError::Kube {
            action: action.to_owned(),
            source,
        }),
        Err(_) => Err(RunError::Kube {
            action: action.to_owned(),
            source: kube::Error::Service(format!("no answer within {timeout:?}").into()),
        }),
    }
}
