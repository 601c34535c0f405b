//! `mithril-dev bench`: the operator at scale, measured.
//!
//! The Kubernetes API emulator and the Mithril simulator run in this process (served on loopback
//! sockets, the simulator's clock scaled); the operator runs as a separate process
//! (`mithril-operator run`, this very executable), as it runs in a cluster. For each size N the
//! benchmark
//! - starts the operator, waits for `/readyz`, applies N SpotBids (one instance each, in an auction
//!   big enough for all of them) and times until every one is `Ready`;
//! - times the floor: the same N bids placed directly with the Mithril client at the same
//!   concurrency on a fresh simulator, polled at the operator's interval until every instance runs;
//! - counts Mithril requests per endpoint while converging and over a steady window of several
//!   resyncs (reported per observation cycle and per Kubernetes resync), and the operator's
//!   reconciles by trigger (its `/metrics`);
//! - times spec edits to the bid's PATCH on Mithril, and bids cancelled on Mithril to the status
//!   showing it;
//! - reads the operator's peak RSS (`VmHWM`) and CPU time from `/proc`.
//!
//! The fault suite (`tests/faults/`) reuses [`Rig`] and [`OperatorProcess`].

mod error;
mod figures;
mod measure;
mod operator_process;
mod rig;
pub mod workload;
pub mod world;

pub use error::BenchError;
pub use figures::{Figures, Latencies, RequestCounts, TriggerCounts, sum_metric};
pub use measure::{BENCH_API_KEY, RunSettings};
pub use operator_process::{Election, OperatorProcess, OperatorSpec, ProcessUsage};
pub use rig::Rig;

use crate::runtime::durations::parse_duration;
use mithril_api::RateLimit;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `mithril-dev bench` (build with `--release` for meaningful figures, and both
/// executables: `cargo build --release`, then `target/release/mithril-dev bench`).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Sizes to measure (SpotBids), repeat or separate with commas.
    #[arg(long = "resources", value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    pub resources: Vec<usize>,
    /// Ended bids placed in the project before each run (each won an instance, then was
    /// cancelled): Mithril keeps them, and the operator's observation should not grow with them.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// Reconciles the operator runs at once; also the floor's requests in flight and the
    /// benchmark's creates in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Seeds the simulator (FIDs, jitter): the same seed gives the same world and market.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Simulated seconds per real second (a clearing every 10 simulated seconds).
    #[arg(long, default_value_t = 10.0)]
    pub time_scale: f64,
    /// The operator's Mithril poll interval: one observation cycle (the operator's resync against
    /// Mithril: paged lists of bids and instances) each (the floor polls as often).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// The operator's read of booting instances between observation cycles
    /// (`--mithril-settle-interval`): its default 5 s in simulated time at the default time scale.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub settle_interval: Duration,
    /// The operator's Kubernetes resync interval (every resource requeued; served from the
    /// observers' cache, no Mithril request).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Resyncs the steady-state window lasts; 0: convergence only (no steady window, no latency
    /// samples).
    #[arg(long, default_value_t = 5)]
    pub steady_resyncs: u32,
    /// Runs per size: each figure is reported as their median and range.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// A second resync interval, measured for convergence only (no steady window, no latency
    /// samples): by default the operator's own (`run --resync-interval`). 0: none.
    #[arg(long, default_value = "5m", value_parser = parse_optional_duration)]
    pub default_resync: Duration,
    /// Edits and Mithril-side changes timed for the latency figures.
    #[arg(long, default_value_t = 20)]
    pub latency_samples: usize,
    /// Mithril requests per second allowed to the operator and to the floor's client alike.
    #[arg(long, default_value_t = 1_000.0)]
    pub mithril_rate_limit: f64,
    /// Mithril request burst allowed to the operator and to the floor's client alike.
    #[arg(long, default_value_t = 100)]
    pub mithril_burst: u32,
    /// Bound on each wait (a run that exceeds it fails rather than reporting).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The operator executable (default: `mithril-operator` beside this executable, as
    /// `cargo build --release` leaves it).
    #[arg(long)]
    pub operator_binary: Option<PathBuf>,
}

/// Runs every size in turn and prints the tables (Markdown) on stdout.
pub async fn bench(args: BenchArgs) -> Result<(), BenchError> {
    if args.resources.is_empty() || args.resources.contains(&0) {
        return Err(BenchError::InvalidArgs(
            "--resources needs sizes of at least 1".into(),
        ));
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(BenchError::InvalidArgs(format!(
            "--time-scale must be a positive number, not {}",
            args.time_scale
        )));
    }
    if args.concurrency == 0 || args.runs == 0 {
        return Err(BenchError::InvalidArgs(
            "--concurrency and --runs must be at least 1".into(),
        ));
    }
    let binary = match &args.operator_binary {
        Some(path) => path.clone(),
        None => sibling_operator_binary()?,
    };
    let settings = RunSettings {
        binary,
        history: args.history,
        concurrency: args.concurrency,
        seed: args.seed,
        time_scale: args.time_scale,
        poll_interval: args.poll_interval,
        settle_interval: args.settle_interval,
        resync_interval: args.resync_interval,
        steady_resyncs: args.steady_resyncs,
        latency_samples: args.latency_samples,
        rate_limit: RateLimit {
            per_second: args.mithril_rate_limit,
            burst: args.mithril_burst,
        },
        timeout: args.timeout,
    };
    println!(
        "mithril-dev bench: {} runs per size, seed {}, history {} ended bids, concurrency {}, time x{}, poll {:?}, settle {:?}, resync {:?}, rate limit {}/s burst {}{}",
        args.runs,
        args.seed,
        args.history,
        args.concurrency,
        args.time_scale,
        args.poll_interval,
        args.settle_interval,
        args.resync_interval,
        args.mithril_rate_limit,
        args.mithril_burst,
        if cfg!(debug_assertions) {
            " (debug build: use --release for meaningful figures)"
        } else {
            ""
        }
    );
    println!("operator: {}", settings.binary.display());
    let sizes = measure_sizes(&settings, &args.resources, args.runs).await?;
    if settings.steady_resyncs > 0 {
        println!("{}", figures::summary_table(&sizes));
    } else {
        println!("{}", figures::convergence_table(&sizes));
    }
    if !args.default_resync.is_zero() {
        // The operator's default resync is too long to wait several of: convergence only.
        let settings = RunSettings {
            resync_interval: args.default_resync,
            steady_resyncs: 0,
            ..settings
        };
        let sizes = measure_sizes(&settings, &args.resources, args.runs).await?;
        println!(
            "Converging at resync {:?} (the operator's default)\n",
            args.default_resync
        );
        println!("{}", figures::convergence_table(&sizes));
    }
    Ok(())
}

/// Measures every size `runs` times, printing each run's tables (its endpoint table only when it
/// had a steady window); the figures by size.
async fn measure_sizes(
    settings: &RunSettings,
    resources: &[usize],
    runs: u32,
) -> Result<Vec<Vec<Figures>>, BenchError> {
    let mut sizes = Vec::new();
    for &size in resources {
        let mut figures_of_size = Vec::new();
        for run in 1..=runs {
            let at = format!(
                "N = {size} at resync {:?}, run {run} of {runs}",
                settings.resync_interval
            );
            eprintln!("measuring {at} ...");
            let figures = measure::run(settings, size).await?;
            println!();
            println!("{at}:");
            if settings.steady_resyncs > 0 {
                println!("{}", figures::endpoint_table(&figures));
            }
            println!("{}", figures::trigger_table(&figures));
            figures_of_size.push(figures);
        }
        sizes.push(figures_of_size);
    }
    Ok(sizes)
}

/// A duration, or `0` for none.
fn parse_optional_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

/// The `mithril-operator` executable built beside this one: the operator as the image ships it.
///
/// `cargo run --bin mithril-dev` builds only this executable, so the sibling may be missing or
/// left from before the last change; measuring old code would be worse than refusing. Cargo
/// leaves the library it links into both beside them (`cargo build`): a sibling older than that
/// library was not linked from it.
fn sibling_operator_binary() -> Result<PathBuf, BenchError> {
    let this = std::env::current_exe().map_err(BenchError::io("finding this executable"))?;
    sibling_of(&this)
}

/// The operator executable beside `this`, if it was linked from the library beside them.
fn sibling_of(this: &std::path::Path) -> Result<PathBuf, BenchError> {
    let sibling = this.with_file_name(format!("mithril-operator{}", std::env::consts::EXE_SUFFIX));
    let library = this.with_file_name("libmithril_operator.rlib");
    let modified = |path: &std::path::Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(BenchError::io(format!("reading {}", path.display())))
    };
    let refuse = |why: &str| {
        BenchError::InvalidArgs(format!(
            "{} is {why}: build both executables with `cargo build --release` (or pass \
             --operator-binary)",
            sibling.display()
        ))
    };
    if !sibling.exists() {
        return Err(refuse("missing"));
    }
    if library.exists() && modified(&sibling)? < modified(&library)? {
        return Err(refuse("older than the library built since"));
    }
    Ok(sibling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_default_resync_measured_is_the_operators() {
        #[derive(Parser)]
        struct Operator {
            #[command(flatten)]
            run: crate::app::run::RunArgs,
        }
        #[derive(Parser)]
        struct Bench {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let operator = Operator::try_parse_from(["mithril-operator"]).expect("defaults");
        let bench = Bench::try_parse_from(["bench"]).expect("defaults");
        assert_eq!(bench.bench.default_resync, operator.run.resync_interval);
        assert_eq!(bench.bench.runs, 3);
        let none = Bench::try_parse_from(["bench", "--default-resync", "0"]).expect("valid");
        assert!(none.bench.default_resync.is_zero());
    }
    use std::fs::{File, FileTimes};
    use std::time::SystemTime;

    fn touch(path: &std::path::Path, at: SystemTime) {
        let file = File::create(path).unwrap();
        file.set_times(FileTimes::new().set_modified(at)).unwrap();
    }

    #[test]
    fn the_sibling_operator_must_exist_and_be_linked_from_the_latest_library() {
        let dir = tempfile::tempdir().unwrap();
        let this = dir.path().join("mithril-dev");
        let sibling = dir.path().join("mithril-operator");
        let library = dir.path().join("libmithril_operator.rlib");
        let earlier = SystemTime::now() - Duration::from_secs(600);
        let later = SystemTime::now();
        touch(&this, later);

        let missing = sibling_of(&this).unwrap_err().to_string();
        assert!(missing.contains("is missing"), "{missing}");

        // No library beside them (binaries copied elsewhere, or a test build): trusted.
        touch(&sibling, earlier);
        assert_eq!(sibling_of(&this).unwrap(), sibling);

        touch(&library, later);
        let stale = sibling_of(&this).unwrap_err().to_string();
        assert!(stale.contains("older than the library"), "{stale}");

        touch(&library, earlier);
        touch(&sibling, later);
        assert_eq!(sibling_of(&this).unwrap(), sibling);
    }
}
