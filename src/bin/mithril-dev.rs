//! `mithril-dev`: the operator's commands plus the demo, the benchmark, the Mithril simulator and
//! the Kubernetes API emulator; see [`mithril_operator::dev`].

use clap::Parser;
use mithril_operator::app::cli::exit_code;
use mithril_operator::dev::cli::DevCommand;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mithril-dev",
    version,
    about = "Mithril operator development tools: demo, benchmark, simulator, Kubernetes API emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: DevCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("mithril-dev", Cli::parse().command.execute().await)
}
