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

/// jemalloc, as the operator: the emulator and simulator clone and serialize many small values, and
/// glibc's malloc was a quarter of this process's CPU in the benchmark (BENCHMARKS.md, round 10).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    exit_code("mithril-dev", Cli::parse().command.execute().await)
}
