//! The command line of `mithril-dev`: every operator command plus `demo`, `bench`, `sim` and
//! `kube-emulator`. It is what `cargo run` starts.

use super::{bench, demo};
use crate::BoxError;
use crate::app::cli::OperatorCommand;
use crate::runtime::telemetry::{self, LogFormat};

/// The development commands, beside the operator's own.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    #[command(flatten)]
    Operator(OperatorCommand),
    /// Run a Kubernetes API emulator, the Mithril simulator and the operator in one process,
    /// with the example resources applied.
    Demo(demo::DemoArgs),
    /// Serve the Mithril simulator (the Mithril API on an in-memory world).
    Sim(mithril_sim::cli::SimArgs),
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
                mithril_sim::cli::run(args).await
            }
            Self::KubeEmulator(args) => {
                telemetry::init(LogFormat::Text, None);
                kube_emulator::cli::run(args).await
            }
            Self::Bench(args) => bench::bench(args).await.map_err(Into::into),
        }
    }
}
