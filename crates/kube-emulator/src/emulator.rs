//! The public face: an `Emulator` (cheap to clone) serving the Kubernetes API in process (as a
//! `kube::Client`) or on a socket (for kubectl and other processes).

use super::faults::Faults;
use super::kubeconfig;
use super::request_log::{RequestLog, RequestRecord};
use super::routes::router;
use super::shared::{EmulatorOptions, Shared};
use super::state::State;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the listening address: {0}")]
    LocalAddr(std::io::Error),
}

/// An in-process Kubernetes API server.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Emulator {
    /// An empty cluster: namespaces `default`, `kube-system` and `kube-node-lease`, the built-in types.
    pub fn new() -> Self {
        Self::with_options(EmulatorOptions::default())
    }

    pub fn with_options(options: EmulatorOptions) -> Self {
        let shared = Shared {
            state: Mutex::new(State::new(options.history_limit, options.watcher_buffer)),
            faults: Faults::default(),
            log: RequestLog::new(options.request_log_capacity),
            options,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// A client talking to the emulator in process, without a socket (default namespace `default`).
    /// Needs a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(
            router(self.shared.clone(), CancellationToken::new()),
            "default",
        )
    }

    /// Serves the API on a socket (port 0: any free port) until the handle is dropped or shut down.
    pub async fn serve(&self, addr: SocketAddr) -> Result<ServeHandle, EmulatorError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(EmulatorError::LocalAddr)?;
        let shutdown = CancellationToken::new();
        let app = router(self.shared.clone(), shutdown.clone());
        let signal = shutdown.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(%error, "kube emulator server stopped");
            }
        });
        Ok(ServeHandle {
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// A kubeconfig (plain HTTP, no credentials) for a socket served at `addr`.
    pub fn kubeconfig_yaml(&self, addr: SocketAddr) -> String {
        kubeconfig::kubeconfig_yaml(addr)
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The resource requests served so far (verb, group, resource, subresource, namespace).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().store.current_rv()
    }

    /// Open watch streams.
    pub fn watcher_count(&self) -> usize {
        self.shared.lock().store.watcher_count()
    }

    /// Objects stored for a resource (`plural` in `group`, "" for core); 0 when not served.
    pub fn object_count(&self, group: &str, plural: &str) -> usize {
        let state = self.shared.lock();
        let storage = state
            .registry
            .all()
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .map(|t| t.storage_key());
        storage.map_or(0, |storage| state.store.len(&storage))
    }
}

/// A socket serving the emulator; stops (and ends its watch streams) when dropped.
pub struct ServeHandle {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ServeHandle {
    /// Stops accepting, ends open watches, and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // The server task only ends by this cancellation; a join error means it panicked, already reported.
            let _ = task.await;
        }
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
