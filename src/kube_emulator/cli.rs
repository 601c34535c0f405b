//! `mithril-operator kube-emulator`.

use std::{net::SocketAddr, path::PathBuf};

/// Flags of `mithril-operator kube-emulator`.
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
pub async fn run(_args: EmulatorArgs) -> Result<(), crate::BoxError> {
    Err("the emulator is not built yet".into())
}
