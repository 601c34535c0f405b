//! `mithril-operator`: parses flags and dispatches; everything else lives in the library.

use clap::{Parser, Subcommand};
use mithril_operator::app::{demo, run};
use mithril_operator::runtime::telemetry::{self, LogFormat};
use mithril_operator::{crd, kube_emulator, sim};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mithril-operator",
    version,
    about = "Kubernetes operator for the Mithril GPU cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current Kubernetes configuration.
    Run(run::RunArgs),
    /// Run a Kubernetes API emulator, the Mithril simulator and the operator in one process,
    /// with the example resources applied.
    Demo(demo::DemoArgs),
    /// Print the CustomResourceDefinitions (YAML) generated from the Rust types.
    Crds,
    /// Serve the Mithril simulator (the Mithril API on an in-memory world).
    Sim(sim::cli::SimArgs),
    /// Serve the Kubernetes API emulator and write a kubeconfig for it.
    KubeEmulator(kube_emulator::cli::EmulatorArgs),
    /// Measure the operator (a separate process) at N SpotBids against the emulator and simulator.
    Bench(mithril_operator::bench::BenchArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    let result: Result<(), mithril_operator::BoxError> = match command {
        Command::Run(args) => {
            telemetry::init(args.log.log_format, args.log.log_level.as_deref());
            run::run(args).await.map_err(Into::into)
        }
        Command::Demo(args) => {
            telemetry::init(args.log_format, args.log_level.as_deref());
            demo::demo(args).await.map_err(Into::into)
        }
        Command::Crds => {
            print!("{}", crd::crds_yaml());
            Ok(())
        }
        Command::Sim(args) => {
            telemetry::init(LogFormat::Text, None);
            sim::cli::run(args).await
        }
        Command::Bench(args) => mithril_operator::bench::bench(args)
            .await
            .map_err(Into::into),
        Command::KubeEmulator(args) => {
            telemetry::init(LogFormat::Text, None);
            kube_emulator::cli::run(args).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mithril-operator: {error}");
            ExitCode::FAILURE
        }
    }
}
