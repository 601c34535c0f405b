//! Why the operator could not start, or stopped: each message says what to do about it.

use crate::runtime::leader::LeaderError;
use mithril_api::{ApiKeyError, MithrilError};
use std::net::SocketAddr;
use std::time::Duration;

/// A failed start or an abnormal stop of `run` (and of the operator inside `demo`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid settings: {0}")]
    InvalidSettings(String),
    #[error(
        "no Kubernetes configuration found: set KUBECONFIG, write ~/.kube/config, or run in a pod \
         with a service account ({0})"
    )]
    NoKubeConfig(#[source] kube::config::InferConfigError),
    #[error("the Kubernetes configuration cannot be used: {0}")]
    KubeConfig(#[source] kube::Error),
    #[error("cannot reach the Kubernetes API server at {url}: {source}")]
    ApiServerUnreachable {
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Kubernetes API server at {url} did not answer within {timeout:?}")]
    ApiServerTimeout { url: String, timeout: Duration },
    #[error(
        "the {kind} CustomResourceDefinition ({crd}) is not installed in this cluster: \
         install the CRDs with `kubectl apply -f crds/` (or `kubectl apply -k deploy/base`)"
    )]
    CrdNotInstalled { kind: String, crd: String },
    #[error("cannot {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "the API key Secret {secret} does not exist: create it with \
         `kubectl create secret generic {name} -n {namespace} --from-literal=api-key=fkey_...`"
    )]
    ApiKeySecretNotFound {
        secret: String,
        namespace: String,
        name: String,
    },
    #[error("the API key Secret {secret} has no {key:?} entry (it has: {present})")]
    ApiKeyMissingInSecret {
        secret: String,
        key: &'static str,
        present: String,
    },
    #[error("the API key in Secret {secret} cannot be used: {source}")]
    ApiKeyInvalid {
        secret: String,
        #[source]
        source: ApiKeyError,
    },
    #[error("the Mithril client cannot be built: {0}")]
    MithrilClient(#[source] MithrilError),
    #[error("cannot serve metrics and health on {addr}: {source}")]
    MetricsBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Leader(#[from] LeaderError),
    #[error(
        "lost the leader Lease {lease}: controllers stopped; exiting so this replica restarts as a standby"
    )]
    LeadershipLost { lease: String },
    #[error("the {0} controller stopped unexpectedly")]
    ControllerStopped(&'static str),
}
