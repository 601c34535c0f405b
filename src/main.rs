//! `mithril-operator`: the operator as deployed (`run`, `crds`); see [`mithril_operator::app::cli`].

use clap::Parser;
use mithril_operator::app::cli::{OperatorCommand, exit_code};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mithril-operator",
    version,
    about = "Kubernetes operator for the Mithril GPU cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: OperatorCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("mithril-operator", Cli::parse().command.execute().await)
}
