//! The command line of `mithril-operator`, the operator as deployed (`run`, `crds`). The
//! developer's `mithril-dev` (`crate::dev::cli`) accepts these commands too, beside its own.

use crate::BoxError;
use crate::app::run;
use crate::crd;
use crate::runtime::telemetry;
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
