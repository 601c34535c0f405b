//! Fidelity check a person would run: kubectl (with its own kubeconfig, never ~/.kube) against the
//! emulator on a loopback socket.

mod common_emulator;

use common_emulator::*;
use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use mithril_operator::kube_emulator::{Emulator, ServeHandle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kube_emulator");

struct Cluster {
    emulator: Emulator,
    _server: ServeHandle,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start() -> Self {
        let emulator = Emulator::new();
        let server = emulator
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, emulator.kubeconfig_yaml(server.addr)).unwrap();
        Self {
            emulator,
            _server: server,
            dir,
            kubeconfig,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            // kubectl caches discovery under $HOME: keep it inside the test's directory.
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl to completion: (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = self
            .kubectl(args)
            .output()
            .await
            .expect("kubectl is installed");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(success, "kubectl {args:?} failed: {stderr}");
        stdout
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

fn fixture(name: &str) -> String {
    Path::new(FIXTURES).join(name).display().to_string()
}

const GADGET: &str = "apiVersion: test.mithril.ai/v1
kind: Gadget
metadata:
  name: g1
  finalizers: [test.mithril.ai/hold]
spec:
  quantity: 2
";

#[tokio::test]
async fn kubectl_drives_a_custom_resource_through_its_life() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&["apply", "-f", &fixture("gadget-crd.yaml")])
        .await;
    cluster
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/gadgets.test.mithril.ai",
            "--timeout=60s",
        ])
        .await;
    let manifest = cluster.write("gadget.yaml", GADGET);
    assert!(
        cluster
            .ok(&["apply", "-f", &manifest])
            .await
            .contains("gadget.test.mithril.ai/g1 created")
    );

    // Printer columns, the default from the schema, short names.
    let table = cluster.ok(&["get", "gd"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "QUANTITY", "TIER", "PHASE"]);
    assert_eq!(lines[1], ["g1", "2", "silver"]);

    // Field documentation from the schema.
    let explained = cluster.ok(&["explain", "gadget.spec"]).await;
    assert!(
        explained.contains("How many gadgets to run.") && explained.contains("quantity"),
        "{explained}"
    );

    // Status subresource.
    cluster
        .ok(&[
            "patch",
            "gadget",
            "g1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ])
        .await;
    let phase = cluster
        .ok(&["get", "gadget", "g1", "-o", "jsonpath={.status.phase}"])
        .await;
    assert_eq!(phase, "Running");

    // get -w streams a change.
    let mut watch = cluster
        .kubectl(&["get", "gadgets", "-w", "--no-headers"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watched = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = watched.next_line().await.unwrap().unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["g1", "2", "silver", "Running"]
    );
    cluster
        .ok(&[
            "patch",
            "gadget",
            "g1",
            "--type=merge",
            "-p",
            r#"{"spec":{"quantity":5}}"#,
        ])
        .await;
    let change = watched.next_line().await.unwrap().unwrap();
    assert_eq!(
        change.split_whitespace().collect::<Vec<_>>(),
        ["g1", "5", "silver", "Running"]
    );
    watch.kill().await.unwrap();

    // describe shows what kube-runtime's Recorder published (events.k8s.io/v1, read as core/v1).
    let gadgets: Api<DynamicObject> =
        Api::namespaced_with(cluster.emulator.client(), "default", &gadget_resource());
    let reporter = Reporter {
        controller: "gadget-controller".into(),
        instance: None,
    };
    let recorder = Recorder::new(cluster.emulator.client(), reporter);
    let note = Event {
        type_: EventType::Normal,
        reason: "Scaled".into(),
        note: Some("running 5 gadgets".into()),
        action: "Scale".into(),
        secondary: None,
    };
    recorder
        .publish(
            &note,
            &gadgets
                .get("g1")
                .await
                .unwrap()
                .object_ref(&gadget_resource()),
        )
        .await
        .unwrap();
    let described = cluster.ok(&["describe", "gadget", "g1"]).await;
    assert!(
        described.contains("Scaled") && described.contains("running 5 gadgets"),
        "{described}"
    );

    // delete blocks on the finalizer; wait --for=delete returns once it is removed.
    let mut delete = cluster
        .kubectl(&["delete", "gadget", "g1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut marked = gadgets.get("g1").await.unwrap();
    while marked.metadata.deletion_timestamp.is_none() {
        tokio::task::yield_now().await;
        marked = gadgets.get("g1").await.unwrap();
    }
    let mut wait = cluster
        .kubectl(&["wait", "--for=delete", "gadget/g1", "--timeout=120s"])
        .spawn()
        .unwrap();
    assert!(
        delete.try_wait().unwrap().is_none(),
        "kubectl delete waits while the finalizer is there"
    );
    let release = json!({"metadata": {"finalizers": null}});
    gadgets
        .patch("g1", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    assert!(delete.wait().await.unwrap().success());
    assert!(wait.wait().await.unwrap().success());
    let (found, _, stderr) = cluster.run(&["get", "gadget", "g1"]).await;
    assert!(!found && stderr.contains("NotFound"), "{stderr}");
}

#[tokio::test]
async fn kubectl_rejects_bad_manifests_with_the_schema_message() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&["apply", "-f", &fixture("gadget-crd.yaml")])
        .await;
    let cases = [
        (
            "quantity: 0",
            "spec.quantity: Invalid value: 0: spec.quantity in body should be greater than or equal to 1",
        ),
        (
            "quantity: 1\n  tier: bronze",
            "spec.tier: Unsupported value: \"bronze\": supported values: \"gold\", \"silver\"",
        ),
        (
            "quantity: 1\n  typo: 3",
            "strict decoding error: unknown field \"spec.typo\"",
        ),
        ("tier: gold", "spec.quantity: Required value"),
    ];
    for (index, (spec, message)) in cases.into_iter().enumerate() {
        let manifest = format!(
            "apiVersion: test.mithril.ai/v1\nkind: Gadget\nmetadata:\n  name: bad{index}\nspec:\n  {spec}\n"
        );
        let path = cluster.write(&format!("bad{index}.yaml"), &manifest);
        let (success, _, stderr) = cluster.run(&["apply", "-f", &path]).await;
        assert!(!success, "{manifest} was accepted");
        assert!(stderr.contains(message), "expected {message:?} in {stderr}");
    }
}

#[tokio::test]
async fn kubectl_server_dry_run_of_a_deployment_manifest() {
    let cluster = Cluster::start().await;
    // `kubectl create namespace` would send protobuf (refused with 415): apply a manifest instead.
    let namespace = cluster.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mithril-system\n",
    );
    cluster.ok(&["apply", "-f", &namespace]).await;
    let output = cluster
        .ok(&[
            "apply",
            "--dry-run=server",
            "-f",
            &fixture("deployment.yaml"),
        ])
        .await;
    for line in [
        "serviceaccount/mithril-operator created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/mithril-operator created (server dry run)",
        "deployment.apps/mithril-operator created (server dry run)",
        "service/metrics created (server dry run)",
    ] {
        assert!(output.contains(line), "{line} missing from {output}");
    }
    assert_eq!(
        cluster.emulator.object_count("apps", "deployments"),
        0,
        "a dry run stores nothing"
    );
    cluster
        .ok(&["apply", "-f", &fixture("deployment.yaml")])
        .await;
    let again = cluster
        .ok(&["apply", "-f", &fixture("deployment.yaml")])
        .await;
    assert!(
        again.contains("deployment.apps/mithril-operator unchanged"),
        "{again}"
    );
    let all = cluster
        .ok(&["get", "all", "-n", "mithril-system", "-o", "name"])
        .await;
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        ["service/metrics", "deployment.apps/mithril-operator"]
    );
}

#[tokio::test]
async fn kubectl_typed_commands_get_415_for_protobuf_bodies() {
    let cluster = Cluster::start().await;
    let (success, _, stderr) = cluster.run(&["create", "namespace", "typed"]).await;
    assert!(
        !success && stderr.contains("UnsupportedMediaType"),
        "{stderr}"
    );
}
