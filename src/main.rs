//! `mithril-operator`: parses flags and wires; everything else lives in the library.

use clap::{Parser, Subcommand};
use mithril_operator::{crd, kube_emulator, sim};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "mithril-operator", version, about = "Kubernetes operator for the Mithril GPU cloud")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (YAML) generated from the Rust types.
    Crds,
    /// Serve the Mithril simulator (the Mithril API on an in-memory world).
    Sim(sim::cli::SimArgs),
    /// Serve the Kubernetes API emulator and write a kubeconfig for it.
    KubeEmulator(kube_emulator::cli::EmulatorArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let result = match Cli::parse().command {
        Command::Crds => {
            print!("{}", crd::crds_yaml());
            Ok(())
        }
        Command::Sim(args) => sim::cli::run(args).await,
        Command::KubeEmulator(args) => kube_emulator::cli::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mithril-operator: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
