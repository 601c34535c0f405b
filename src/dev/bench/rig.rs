//! The world an operator process runs against: the Kubernetes API emulator and the Mithril
//! simulator, both in this process and served on loopback sockets, with a kubeconfig on disk for
//! the operator.

use super::error::BenchError;
use crate::crd;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube_emulator::{Emulator, ServeHandle};
use mithril_sim::{Sim, SimConfig, SimServer};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use url::Url;

/// Emulator and simulator, serving; removed (sockets closed, kubeconfig deleted) on drop.
pub struct Rig {
    pub sim: Sim,
    pub emulator: Emulator,
    /// A client of the emulator in process (no socket): the benchmark's own reads and writes.
    pub kube: kube::Client,
    pub mithril_url: Url,
    kubeconfig: PathBuf,
    sim_server: Option<SimServer>,
    kube_server: Option<ServeHandle>,
}

impl Rig {
    /// Starts a simulator built from `config` and an emulator with the operator's CRDs installed.
    pub async fn start(config: SimConfig) -> Result<Self, BenchError> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let sim = Sim::try_new(config)?;
        let sim_server = sim.serve(loopback).await?;
        let mithril_url = Url::parse(&sim_server.url())?;
        let emulator = Emulator::new();
        let kube_server = emulator.serve(loopback).await?;
        let kube = emulator.client();
        let crds: Api<CustomResourceDefinition> = Api::all(kube.clone());
        for definition in crd::crds() {
            crds.create(&PostParams::default(), &definition).await?;
        }
        let kubeconfig = temp_kubeconfig_path();
        std::fs::write(&kubeconfig, emulator.kubeconfig_yaml(kube_server.addr))
            .map_err(BenchError::io(format!("writing {}", kubeconfig.display())))?;
        Ok(Self {
            sim,
            emulator,
            kube,
            mithril_url,
            kubeconfig,
            sim_server: Some(sim_server),
            kube_server: Some(kube_server),
        })
    }

    /// A simulator built from `config` beside an existing cluster (a real API server with the
    /// operator's CRDs installed): `kube` is the rig's own client, `operator_kubeconfig` the text
    /// of the kubeconfig the operator processes connect with. The emulator is created but neither
    /// served nor used.
    pub async fn start_on_cluster(
        config: SimConfig,
        kube: kube::Client,
        operator_kubeconfig: &str,
    ) -> Result<Self, BenchError> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let sim = Sim::try_new(config)?;
        let sim_server = sim.serve(loopback).await?;
        let mithril_url = Url::parse(&sim_server.url())?;
        let kubeconfig = temp_kubeconfig_path();
        std::fs::write(&kubeconfig, operator_kubeconfig)
            .map_err(BenchError::io(format!("writing {}", kubeconfig.display())))?;
        Ok(Self {
            sim,
            emulator: Emulator::new(),
            kube,
            mithril_url,
            kubeconfig,
            sim_server: Some(sim_server),
            kube_server: None,
        })
    }

    /// The kubeconfig an operator process uses to reach the emulator.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Closes both sockets, waiting for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.sim_server.take() {
            server.shutdown().await;
        }
        if let Some(server) = self.kube_server.take() {
            server.shutdown().await;
        }
    }
}

/// A fresh kubeconfig file name in the temporary directory.
fn temp_kubeconfig_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "mithril-operator-bench-{}-{}.kubeconfig",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temporary directory harms nothing.
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}
