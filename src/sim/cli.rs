//! `mithril-operator sim`.

use std::net::SocketAddr;

/// Flags of `mithril-operator sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
}

/// Runs the simulator until Ctrl-C.
pub async fn run(_args: SimArgs) -> Result<(), crate::BoxError> {
    Err("the simulator is not built yet".into())
}
