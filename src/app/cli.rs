//! The command lines of the two executables, parsed here so both share one definition.
//!
//! - `mithril-operator` is what the image ships: [`OperatorCommand`] only (`run`, `crds`). It
//!   links none of the emulator, simulator or benchmark code, so the pages of code the kernel maps
//!   into a running operator are the operator's own (at 10,000 resources, about 3 MiB of
//!   resident memory less than one executable holding everything: 18 against 15 MiB).
//! - `mithril-dev` is the developer's: every operator command plus [`DevCommand`]'s `demo`,
//!   `bench`, `sim` and `kube-emulator`. It is what `cargo run` starts.

use crate::BoxError;
use crate::app::{demo, run};
use crate::runtime::telemetry::{self, LogFormat};
use crate::{bench, crd, kube_emulator, sim};
use std::process::ExitCode;

/// The commands of the operator as deployed.
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Run the operator against the cluster of the current Kubernetes configuration.
    Run(Box<run::RunArgs>),
    /// Print the CustomResourceDefinitions (YAML) generated from the Rust types.
    Crds,
}

impl OperatorCommand {
    pub async fn execute(self) -> Result<(), BoxError> {
        match self {
            Self::Run(args) => {
                telemetry::init(args.log.log_format, args.log.log_level.as_deref());
                run::run(*args).await.map_err(Into::into)
            }
            Self::Crds => {
                print!("{}", crd::crds_yaml());
                Ok(())
            }
        }
    }
}

/// The development commands, beside the operator's own.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    #[command(flatten)]
    Operator(OperatorCommand),
    /// Run a Kubernetes API emulator, the Mithril simulator and the operator in one process,
    /// with the example resources applied.
    Demo(demo::DemoArgs),
    /// Serve the Mithril simulator (the Mithril API on an in-memory world).
    Sim(sim::cli::SimArgs),
    /// Serve the Kubernetes API emulator and write a kubeconfig for it.
    KubeEmulator(kube_emulator::cli::EmulatorArgs),
    /// Measure the operator (`mithril-operator run`, a separate process) at N SpotBids against
    /// the emulator and simulator.
    Bench(bench::BenchArgs),
}

impl DevCommand {
    pub async fn execute(self) -> Result<(), BoxError> {
        match self {
            Self::Operator(command) => command.execute().await,
            Self::Demo(args) => {
                telemetry::init(args.log_format, args.log_level.as_deref());
                demo::demo(args).await.map_err(Into::into)
            }
            Self::Sim(args) => {
                telemetry::init(LogFormat::Text, None);
                sim::cli::run(args).await
            }
            Self::KubeEmulator(args) => {
                telemetry::init(LogFormat::Text, None);
                kube_emulator::cli::run(args).await
            }
            Self::Bench(args) => bench::bench(args).await.map_err(Into::into),
        }
    }
}

/// The exit code of a finished command; a failure is printed as `program: error`.
pub fn exit_code(program: &str, result: Result<(), BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}
