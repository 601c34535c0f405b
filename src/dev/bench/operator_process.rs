//! The operator as a separate process (`mithril-operator run`), started against a [`Rig`], killed
//! like a crashing pod, and measured through `/proc` and its `/metrics`.

use super::error::BenchError;
use super::rig::Rig;
use mithril_api::RateLimit;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Leader election of one replica.
#[derive(Debug, Clone)]
pub struct Election {
    pub lease_name: String,
    pub namespace: String,
    /// Whole seconds: leases count in seconds.
    pub lease_duration: Duration,
    pub renew_grace: Duration,
}

/// How to start one operator process.
#[derive(Debug, Clone)]
pub struct OperatorSpec {
    /// The `mithril-operator` executable.
    pub binary: PathBuf,
    /// The operator's default Mithril API key (passed through the environment, never the command
    /// line).
    pub api_key: String,
    pub concurrency: u16,
    pub mithril_poll_interval: Duration,
    /// `--mithril-settle-interval`; the operator's default when absent.
    pub mithril_settle_interval: Option<Duration>,
    pub resync_interval: Duration,
    pub rate_limit: RateLimit,
    /// `None`: no leader election, the replica acts at once.
    pub election: Option<Election>,
    pub identity: String,
    /// The one namespace to watch (`--namespace`); all namespaces when absent.
    pub namespace: Option<String>,
    /// The operator's log filter, e.g. `warn` or `trace`.
    pub log_level: String,
    /// Where stdout and stderr go; discarded when absent.
    pub log_file: Option<PathBuf>,
    /// How long a create in doubt holds placing again (`--create-grace`).
    pub create_grace: Duration,
    /// The kubeconfig to use instead of the rig's (e.g. one whose server is a relay).
    pub kubeconfig: Option<PathBuf>,
    /// The Mithril URL to use instead of the rig's simulator (e.g. a recording proxy).
    pub mithril_url: Option<url::Url>,
}

impl OperatorSpec {
    /// One replica of the binary at `binary` with `api_key`, no leader election, logging warnings.
    pub fn new(binary: impl Into<PathBuf>, api_key: impl Into<String>) -> Self {
        Self {
            binary: binary.into(),
            api_key: api_key.into(),
            concurrency: 16,
            mithril_poll_interval: Duration::from_secs(1),
            mithril_settle_interval: None,
            resync_interval: Duration::from_secs(10),
            rate_limit: RateLimit {
                per_second: 1_000.0,
                burst: 100,
            },
            election: None,
            identity: "mithril-operator-bench".to_owned(),
            namespace: None,
            log_level: "warn".to_owned(),
            log_file: None,
            create_grace: Duration::from_secs(120),
            kubeconfig: None,
            mithril_url: None,
        }
    }
}

/// What the kernel accounts for a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessUsage {
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Resident now: private memory (`RssAnon`: heap, stacks) and mapped files (`RssFile`: the
    /// executable's pages, shared with every process running it), bytes.
    pub rss_anon_bytes: u64,
    pub rss_file_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
}

/// A running operator process; killed (SIGKILL) when dropped.
pub struct OperatorProcess {
    child: Child,
    pid: u32,
    pub metrics_addr: SocketAddr,
    http: reqwest::Client,
}

/// `/proc/PID/stat` counts CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 on
/// every architecture it exports to user space.
const USER_HZ: f64 = 100.0;

impl OperatorProcess {
    /// Starts `mithril-operator run` against the rig's emulator and simulator.
    pub fn spawn(rig: &Rig, spec: &OperatorSpec) -> Result<Self, BenchError> {
        let metrics_addr = free_loopback_port()?;
        let mut command = Command::new(&spec.binary);
        command
            .arg("run")
            .args([
                "--mithril-url",
                spec.mithril_url
                    .as_ref()
                    .unwrap_or(&rig.mithril_url)
                    .as_str(),
            ])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            .args(["--concurrency", &spec.concurrency.to_string()])
            .args([
                "--mithril-poll-interval",
                &millis(spec.mithril_poll_interval),
            ])
            .args(["--resync-interval", &millis(spec.resync_interval)])
            .args([
                "--mithril-rate-limit",
                &spec.rate_limit.per_second.to_string(),
            ])
            .args(["--mithril-burst", &spec.rate_limit.burst.to_string()])
            .args(["--identity", &spec.identity])
            .args(["--create-grace", &millis(spec.create_grace)])
            .args(["--log-format", "json", "--log-level", &spec.log_level]);
        if let Some(namespace) = &spec.namespace {
            command.args(["--namespace", namespace]);
        }
        if let Some(settle) = spec.mithril_settle_interval {
            command.args(["--mithril-settle-interval", &millis(settle)]);
        }
        match &spec.election {
            None => {
                command.args(["--leader-election", "false"]);
            }
            Some(election) => {
                command
                    .args(["--leader-election", "true"])
                    .args(["--leader-election-id", &election.lease_name])
                    .args(["--leader-election-namespace", &election.namespace])
                    .args(["--lease-duration", &millis(election.lease_duration)])
                    .args(["--lease-renew-grace", &millis(election.renew_grace)]);
            }
        }
        command
            .env(
                "KUBECONFIG",
                spec.kubeconfig.as_deref().unwrap_or(rig.kubeconfig()),
            )
            .env("MITHRIL_API_KEY", &spec.api_key)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match &spec.log_file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(BenchError::io(format!("opening {}", path.display())))?;
                let copy = file
                    .try_clone()
                    .map_err(BenchError::io("duplicating the log file"))?;
                command.stdout(file).stderr(copy);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command.spawn().map_err(BenchError::io(format!(
            "starting {}",
            spec.binary.display()
        )))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Operator("exited before it could be observed".into()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| BenchError::Operator(format!("HTTP client: {error}")))?;
        Ok(Self {
            child,
            pid,
            metrics_addr,
            http,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until `/readyz` answers 200 (start-up checks passed, controllers running), failing
    /// early if the process exits.
    pub async fn wait_ready(&mut self, within: Duration) -> Result<(), BenchError> {
        let deadline = tokio::time::Instant::now() + within;
        let url = format!("http://{}/readyz", self.metrics_addr);
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(BenchError::io("waiting for the operator"))?
            {
                return Err(BenchError::Operator(format!(
                    "exited during start-up: {status}"
                )));
            }
            let ready = self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: "the operator's /readyz".into(),
                    after: within,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, BenchError> {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| BenchError::Operator(format!("GET /metrics: {error}")))?;
        response
            .text()
            .await
            .map_err(|error| BenchError::Operator(format!("GET /metrics: {error}")))
    }

    /// Peak memory and CPU time so far, from `/proc`.
    pub fn usage(&self) -> Result<ProcessUsage, BenchError> {
        let status_path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&status_path)
            .map_err(BenchError::io(format!("reading {status_path}")))?;
        let stat_path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&stat_path)
            .map_err(BenchError::io(format!("reading {stat_path}")))?;
        let field = |name: &str| {
            parse_kib_field(&status, name)
                .ok_or_else(|| BenchError::Operator(format!("no {name} in {status_path}")))
        };
        let (peak_rss_bytes, rss_anon_bytes, rss_file_bytes) =
            (field("VmHWM")?, field("RssAnon")?, field("RssFile")?);
        let ticks = parse_cpu_ticks(&stat)
            .ok_or_else(|| BenchError::Operator(format!("unreadable {stat_path}")))?;
        Ok(ProcessUsage {
            peak_rss_bytes,
            rss_anon_bytes,
            rss_file_bytes,
            cpu_seconds: ticks as f64 / USER_HZ,
        })
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process at once (SIGKILL), as a node failure or OOM kill would, and reaps it.
    pub async fn kill(mut self) -> Result<(), BenchError> {
        self.child
            .kill()
            .await
            .map_err(BenchError::io("killing the operator"))
    }
}

/// Reserves a free loopback port by binding port 0 and releasing it for the operator to bind.
fn free_loopback_port() -> Result<SocketAddr, BenchError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(BenchError::io("finding a free port"))?;
    listener
        .local_addr()
        .map_err(BenchError::io("finding a free port"))
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// A field such as `VmHWM:   12345 kB` of `/proc/PID/status`, in bytes.
fn parse_kib_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_peak_rss_and_cpu_ticks() {
        let status = "Name:\tmithril\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\nRssAnon:\t  768 kB\nRssFile:\t  256 kB\n";
        assert_eq!(parse_kib_field(status, "VmHWM"), Some(2 * 1024 * 1024));
        assert_eq!(parse_kib_field(status, "RssAnon"), Some(768 * 1024));
        assert_eq!(parse_kib_field(status, "RssFile"), Some(256 * 1024));
        assert_eq!(parse_kib_field(status, "Rss"), None);
        let stat = "4242 (mithril (op)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn this_process_has_usage() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_kib_field(&status, "VmHWM").unwrap() > 0);
        assert!(parse_kib_field(&status, "RssAnon").unwrap() > 0);
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_cpu_ticks(&stat).is_some());
    }
}
