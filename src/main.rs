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

/// jemalloc instead of the system allocator: the operator's memory is mostly small allocations
/// (names, FIDs, prices of every cached resource and bid), which jemalloc keeps smaller
/// (BENCHMARKS.md, round 4). Its built-in options are in `.cargo/config.toml`; `_RJEM_MALLOC_CONF`
/// overrides them at run time.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("mithril-operator", Cli::parse().command.execute().await)
}
