//! `mithril-dev sim`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::handle::{ClockMode, Sim, SimConfig};
use super::world_spec::WorldSpec;

/// Flags of `mithril-dev sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Seed of FIDs, lifecycle jitter and fault draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Accept only this API key (otherwise any `fkey_...` key).
    #[arg(long, env = "MITHRIL_SIM_API_KEY")]
    pub api_key: Option<String>,
    /// World file (YAML or JSON) replacing the default world.
    #[arg(long)]
    pub world: Option<PathBuf>,
    /// Simulated seconds per real second (default 1: real speed).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

/// Runs the simulator until Ctrl-C.
pub async fn run(args: SimArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(format!(
            "--time-scale must be a positive number, not {}",
            args.time_scale
        )
        .into());
    }
    let world = match &args.world {
        Some(path) => WorldSpec::from_file(path)?,
        None => WorldSpec::default(),
    };
    let sim = Sim::try_new(SimConfig {
        seed: args.seed,
        world,
        api_key: args.api_key,
        clock: ClockMode::Scaled(args.time_scale),
    })?;
    let server = sim.serve(args.listen).await?;
    println!("mithril simulator listening on {}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
