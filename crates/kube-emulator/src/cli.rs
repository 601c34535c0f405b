//! `mithril-dev kube-emulator`.

use super::Emulator;
use std::{net::SocketAddr, path::PathBuf};

/// Flags of `mithril-dev kube-emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Where to write a kubeconfig for the listening address.
    #[arg(long, default_value = "kube-emulator.kubeconfig")]
    pub kubeconfig: PathBuf,
}

/// Runs the emulator until Ctrl-C.
pub async fn run(args: EmulatorArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let emulator = Emulator::new();
    let handle = emulator.serve(args.listen).await?;
    std::fs::write(&args.kubeconfig, emulator.kubeconfig_yaml(handle.addr))
        .map_err(|e| format!("cannot write {}: {e}", args.kubeconfig.display()))?;
    tracing::info!(
        addr = %handle.addr,
        kubeconfig = %args.kubeconfig.display(),
        "kube emulator serving (plain HTTP, no authentication); use kubectl --kubeconfig {}",
        args.kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
