//! `mithril-dev demo`: the Kubernetes API emulator, the Mithril simulator (time running
//! faster than the clock) and the operator, in one process, with the examples applied.

use super::examples::{self, ManifestError};
use crate::app::RunError;
use crate::app::run::run_with;
use crate::app::settings::{ApiKeySource, BidSafety, Settings};
use crate::runtime::durations::parse_duration;
use crate::runtime::shutdown;
use crate::runtime::telemetry::LogFormat;
use kube_emulator::{Emulator, EmulatorError};
use mithril_api::{ApiKey, ApiKeyError, RateLimit};
use mithril_sim::{ClockMode, Sim, SimConfig, SimError, WorldSpec};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The key the operator uses with the simulator (which accepts any `fkey_` key).
const SIMULATOR_KEY: &str = "fkey_mithril_operator_demo";

/// Flags of `mithril-dev demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Start with no example resources.
    #[arg(long)]
    pub no_examples: bool,
    /// Loopback port of the Kubernetes API emulator (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub kube_port: u16,
    /// Loopback port of the Mithril simulator (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub mithril_port: u16,
    /// Simulated seconds per real second: at 60, an auction clears every 2 s and an instance
    /// starts in about 4 s.
    #[arg(long, default_value_t = 60.0)]
    pub time_scale: f64,
    /// Where to write the kubeconfig of the emulator (removed on exit).
    #[arg(long, default_value = "mithril-demo.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Use this Mithril API instead of the simulator (needs MITHRIL_API_KEY).
    #[arg(long)]
    pub mithril_url: Option<Url>,
    /// The Mithril API key (for --mithril-url; the simulator takes any).
    #[arg(
        long,
        env = "MITHRIL_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<ApiKey>,
    /// Time between two observations of Mithril.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub mithril_poll_interval: Duration,
    /// Address of the operator's /metrics, /healthz and /readyz (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub metrics_addr: SocketAddr,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (default: RUST_LOG, else info).
    #[arg(long)]
    pub log_level: Option<String>,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("--time-scale must be a positive number, not {0}")]
    TimeScale(f64),
    #[error("--mithril-url needs an API key: set MITHRIL_API_KEY")]
    MissingApiKey,
    #[error("the simulator's URL: {0}")]
    SimulatorUrl(#[source] url::ParseError),
    #[error("the demo's API key: {0}")]
    ApiKey(#[source] ApiKeyError),
    #[error("Kubernetes API emulator: {0}")]
    Emulator(#[from] EmulatorError),
    #[error("Mithril simulator: {0}")]
    Simulator(#[from] SimError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("cannot write the kubeconfig {path}: {source}")]
    WriteKubeconfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the emulator's kubeconfig cannot be loaded: {0}")]
    Kubeconfig(String),
    #[error("operator: {0}")]
    Operator(#[from] RunError),
}

/// Runs the demo until SIGTERM or Ctrl-C.
pub async fn demo(args: DemoArgs) -> Result<(), DemoError> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(DemoError::TimeScale(args.time_scale));
    }
    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));

    let emulator = Emulator::new();
    let kube_server = emulator.serve(loopback(args.kube_port)).await?;
    let (mithril_url, api_key, simulator) = match &args.mithril_url {
        Some(url) => {
            let key = args.api_key.clone().ok_or(DemoError::MissingApiKey)?;
            (url.clone(), key, None)
        }
        None => {
            let sim = Sim::try_new(SimConfig {
                seed: 0,
                world: WorldSpec::default(),
                api_key: None,
                clock: ClockMode::Scaled(args.time_scale),
            })?;
            let server = sim.serve(loopback(args.mithril_port)).await?;
            let url = Url::parse(&server.url()).map_err(DemoError::SimulatorUrl)?;
            let key = match &args.api_key {
                Some(key) => key.clone(),
                None => ApiKey::new(SIMULATOR_KEY).map_err(DemoError::ApiKey)?,
            };
            (url, key, Some(server))
        }
    };

    let client = emulator.client();
    examples::install_crds(&client).await?;
    let applied = if args.no_examples {
        Vec::new()
    } else {
        examples::apply_examples(&client).await?
    };

    let kubeconfig_yaml = emulator.kubeconfig_yaml(kube_server.addr);
    let kube_config = kube_config(&kubeconfig_yaml).await?;
    write_atomically(&args.kubeconfig, &kubeconfig_yaml)?;
    print!(
        "{}",
        instructions(
            &args,
            kube_server.addr,
            &mithril_url,
            simulator.is_some(),
            &applied,
        )
    );

    let settings = Settings {
        mithril_url,
        api_key: ApiKeySource::Key(api_key),
        spot_bids: true,
        instance_schedules: true,
        spot_pools: true,
        namespaces: Vec::new(),
        default_key_namespaces: Vec::new(),
        concurrency: 16,
        resync: Duration::from_secs(300),
        mithril_poll_interval: args.mithril_poll_interval,
        // Booting instances followed four times a cycle.
        mithril_settle_interval: args.mithril_poll_interval / 4,
        rate_limit: RateLimit::default(),
        metrics_addr: args.metrics_addr,
        leader_election: None,
        identity: "mithril-operator-demo".to_owned(),
        startup_timeout: Duration::from_secs(30),
        cluster_name: None,
        bid_safety: BidSafety::default(),
    };
    let outcome = run_with(settings, kube_config, shutdown::signal(), |addr| {
        println!("Operator metrics:    http://{addr}/metrics (health: /healthz, /readyz)");
    })
    .await;

    if let Some(server) = simulator {
        server.shutdown().await;
    }
    kube_server.shutdown().await;
    // The file points at a port that is closed now.
    if let Err(error) = std::fs::remove_file(&args.kubeconfig) {
        tracing::warn!(path = %args.kubeconfig.display(), %error, "cannot remove the kubeconfig");
    }
    Ok(outcome?)
}

/// The client configuration of the emulator's kubeconfig: the operator reaches the emulator over
/// its socket, as it reaches a cluster.
async fn kube_config(yaml: &str) -> Result<kube::Config, DemoError> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml)
        .map_err(|error| DemoError::Kubeconfig(error.to_string()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|error| DemoError::Kubeconfig(error.to_string()))
}

/// Writes the whole file or nothing, so whoever waits for it never reads half of it.
fn write_atomically(path: &Path, content: &str) -> Result<(), DemoError> {
    let error = |source| DemoError::WriteKubeconfig {
        path: path.display().to_string(),
        source,
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, content).map_err(error)?;
    std::fs::rename(&partial, path).map_err(error)
}

/// What `demo` prints once everything is up: where things are and what to try. The commands
/// naming example resources are printed only when the examples were applied.
fn instructions(
    args: &DemoArgs,
    kube_addr: SocketAddr,
    mithril_url: &Url,
    simulated: bool,
    applied: &[String],
) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut line = |content: String| {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{content}");
    };
    let kubeconfig = args.kubeconfig.display();
    let kubectl = format!("kubectl --kubeconfig {kubeconfig}");
    let base = mithril_url.as_str().trim_end_matches('/');
    line(format!(
        "Kubernetes API:      http://{kube_addr} (emulator; kubeconfig: {kubeconfig})"
    ));
    if simulated {
        line(format!(
            "Mithril API:         {base} (simulator, time x{}; any fkey_ key)",
            args.time_scale
        ));
    } else {
        line(format!("Mithril API:         {base}"));
    }
    if !applied.is_empty() {
        line(format!("Applied:             {}", applied.join(", ")));
    }
    line(String::new());
    line("Try:".to_owned());
    if applied.is_empty() {
        line(format!(
            "  {kubectl} get spotbids,spotpools,instanceschedules -A -w"
        ));
        line(format!(
            "  {kubectl} apply -f MANIFEST.yaml   # a SpotBid or InstanceSchedule of your own"
        ));
    } else {
        line(format!("  {kubectl} get spotbids -w"));
        line(format!("  {kubectl} describe spotbid h100-training"));
        line(format!(
            "  {kubectl} patch spotbid h100-training --type merge -p '{{\"spec\":{{\"limitPrice\":\"$15.00\"}}}}'"
        ));
        line(format!(
            "  {kubectl} patch spotbid a100-batch --type merge -p '{{\"spec\":{{\"paused\":false}}}}'"
        ));
        line(format!(
            "  {kubectl} get events --field-selector involvedObject.name=h100-training"
        ));
        line(format!("  {kubectl} delete spotbid h100-training"));
        line(format!(
            "  {kubectl} get instanceschedules   # pause/resume reserved instances on windows"
        ));
        line(format!(
            "  {kubectl} scale spotpool h100-pool --replicas=6   # a pool grows by SpotBids"
        ));
        line(format!(
            "  {kubectl} describe instanceschedule working-hours"
        ));
    }
    if simulated {
        line(format!(
            "  curl -s -H 'Authorization: Bearer {SIMULATOR_KEY}' {base}/v2/spot/bids   # the bids on Mithril"
        ));
        line(format!(
            "  curl -s -X POST {base}/_sim/demand -d '{{\"region\":\"us-central1-a\",\"instance_type\":\"h100-80gb.sxm.8x\",\"quantity\":16,\"limit_price\":\"$20.00\"}}'   # outbid: preemption"
        ));
    }
    line(String::new());
    line("Ctrl-C stops everything.".to_owned());
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: DemoArgs,
    }

    fn banner(applied: &[String]) -> String {
        let args = Cli::parse_from(["demo"]).demo;
        let url = Url::parse("http://127.0.0.1:8090").unwrap();
        instructions(
            &args,
            "127.0.0.1:6443".parse().unwrap(),
            &url,
            true,
            applied,
        )
    }

    #[test]
    fn without_examples_no_command_names_an_example() {
        let empty = banner(&[]);
        for (_, manifest) in examples::EXAMPLES {
            let name = manifest
                .lines()
                .find_map(|line| line.trim().strip_prefix("name: "))
                .unwrap();
            assert!(!empty.contains(name), "{name:?} in:\n{empty}");
        }
        assert!(
            empty.contains("get spotbids,spotpools,instanceschedules -A -w"),
            "{empty}"
        );
        let full = banner(&["spotbids/h100-training".to_owned()]);
        assert!(full.contains("describe spotbid h100-training"), "{full}");
        assert!(
            full.contains("describe instanceschedule working-hours"),
            "{full}"
        );
    }
}
