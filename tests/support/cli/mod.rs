//! Shared by the command-line and deployment tests: the built binary as a separate process,
//! kubectl with its own kubeconfig, an emulated cluster on loopback, and waits with deadlines.
#![allow(dead_code)]

pub mod manifests;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube_emulator::{Emulator, ServeHandle};
use mithril_operator::crd;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// The operator as deployed (`run`, `crds`).
pub const BIN: &str = env!("CARGO_BIN_EXE_mithril-operator");
/// The development tools (`demo`, `bench`, `sim`, `kube-emulator`, and the operator's commands).
pub const DEV_BIN: &str = env!("CARGO_BIN_EXE_mithril-dev");
/// The bound on any single wait: generous, it only limits how long a failure takes to show.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub use super::wait_for;

/// kubectl pointed at one kubeconfig, with its caches kept in `home`.
#[derive(Clone)]
pub struct Kubectl {
    pub kubeconfig: PathBuf,
    pub home: PathBuf,
}

impl Kubectl {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", &self.home)
            .env("KUBECACHEDIR", self.home.join("kube-cache"))
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl to completion within [`DEADLINE`]: (success, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = tokio::time::timeout(DEADLINE, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .expect("kubectl is installed");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl and requires success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(success, "kubectl {args:?} failed:\n{stderr}\n{stdout}");
        stdout
    }
}

/// The emulator served on a loopback port, with a kubeconfig and kubectl for it.
pub struct Cluster {
    pub emulator: Emulator,
    pub server: ServeHandle,
    pub dir: tempfile::TempDir,
    pub kubectl: Kubectl,
}

impl Cluster {
    /// An empty cluster (no CRDs).
    pub async fn start() -> Self {
        let emulator = Emulator::new();
        let server = emulator
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator serves");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, emulator.kubeconfig_yaml(server.addr)).unwrap();
        let kubectl = Kubectl {
            kubeconfig,
            home: dir.path().to_owned(),
        };
        Self {
            emulator,
            server,
            dir,
            kubectl,
        }
    }

    /// A cluster with the operator's CRDs installed.
    pub async fn with_crds() -> Self {
        let cluster = Self::start().await;
        let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
        for definition in crd::crds() {
            crds.create(&PostParams::default(), &definition)
                .await
                .expect("CRD installs");
        }
        cluster
    }

    pub fn client(&self) -> kube::Client {
        self.emulator.client()
    }

    /// The kube client configuration of the socket, as a process outside would load it.
    pub async fn kube_config(&self) -> kube::Config {
        let yaml = self.emulator.kubeconfig_yaml(self.server.addr);
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap()
    }

    /// Creates a Secret with the given string entries.
    pub async fn create_secret(&self, namespace: &str, name: &str, entries: Value) {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": entries,
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.client(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("Secret is created");
    }

    /// Creates a namespace as a user would (`kubectl create namespace`).
    pub async fn create_namespace(&self, name: &str) {
        self.kubectl.ok(&["create", "namespace", name]).await;
    }
}

/// The binary running as a separate process, its output in files.
pub struct Process {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Process {
    /// Starts the binary chosen by `args`' command ([`DEV_BIN`] for the development commands,
    /// [`BIN`] for the operator's own) in `dir`, with an environment holding nothing the operator
    /// reads but `env`.
    pub fn spawn(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let bin = match args.first() {
            Some(&("run" | "crds")) => BIN,
            _ => DEV_BIN,
        };
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let mut command = Command::new(bin);
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the binary starts");
        Self {
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the process to exit by itself.
    pub async fn exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("the process did not exit; stderr:\n{}", self.stderr()),
        }
    }

    /// Sends SIGTERM (Kubernetes stopping the pod) and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM").await;
        self.exit().await
    }

    /// SIGKILL: a crash or a node lost, nothing runs after it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill");
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// The address of /metrics from the operator's JSON start-up log line.
    pub async fn metrics_addr(&self) -> String {
        wait_for("the metrics address in the log", DEADLINE, || async {
            self.stderr().lines().find_map(|line| {
                let entry: Value = serde_json::from_str(line).ok()?;
                (entry["message"] == "serving /metrics, /healthz and /readyz")
                    .then(|| entry["addr"].as_str().map(str::to_owned))
                    .flatten()
            })
        })
        .await
    }
}

/// GET `url`: (status, body); `None` when nothing answers.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The bids the simulator holds whose name belongs to the SpotBid `namespace/name` (the
/// operator names bids `k8s.NAMESPACE.NAME.HASH`).
pub async fn sim_bids(sim_url: &str, key: &str, namespace: &str, name: &str) -> Vec<Value> {
    // `k8s-<cluster>.<namespace>.<name>.<uid>`: whatever the cluster's name.
    let prefix = format!("{namespace}.{name}.");
    let response = reqwest::Client::new()
        .get(format!("{sim_url}/v2/spot/bids"))
        .bearer_auth(key)
        .send()
        .await
        .expect("simulator answers");
    let body: Value = response.json().await.expect("JSON");
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|bid| {
            bid["name"].as_str().is_some_and(|n| {
                n.starts_with("k8s-")
                    && n.split_once('.')
                        .is_some_and(|(_, rest)| rest.starts_with(&prefix))
            })
        })
        .cloned()
        .collect()
}
