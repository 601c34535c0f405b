//! Why a benchmark (or a fault scenario built on its rig) could not run to the end.

use std::time::Duration;

/// Why a benchmark could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid benchmark flags: {0}")]
    InvalidArgs(String),
    #[error("Kubernetes API emulator: {0}")]
    Emulator(#[from] kube_emulator::EmulatorError),
    #[error("Mithril simulator: {0}")]
    Simulator(#[from] mithril_sim::SimError),
    #[error("Mithril client: {0}")]
    Mithril(#[from] mithril_api::MithrilError),
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("the simulator's URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the operator process: {0}")]
    Operator(String),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}
