//! Fidelity check a person would run: kubectl (with its own kubeconfig, never ~/.kube) against the
//! emulator on a loopback socket.

use crate::support::emulator::*;
use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube_emulator::{Emulator, ServeHandle};
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
    cluster.ok(&["create", "namespace", "mithril-system"]).await;
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

/// The whitespace-separated words of each line of kubectl's output.
fn words(output: &str) -> Vec<Vec<&str>> {
    output
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}

fn yaml(output: &str) -> serde_json::Value {
    serde_saphyr::from_str(output).expect("kubectl printed YAML")
}

#[tokio::test]
async fn kubectl_typed_create_commands_send_protobuf_and_succeed() {
    let cluster = Cluster::start().await;
    // client-go's typed clients send protobuf bodies for built-in kinds.
    for (args, created) in [
        (
            &["create", "namespace", "typed"][..],
            "namespace/typed created",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "s1",
                "-n",
                "typed",
                "--from-literal=k=v",
            ][..],
            "secret/s1 created",
        ),
        (
            &[
                "create",
                "configmap",
                "c1",
                "-n",
                "typed",
                "--from-literal=k=v",
                "--from-literal=n=1",
            ][..],
            "configmap/c1 created",
        ),
    ] {
        assert_eq!(cluster.ok(args).await.trim(), created);
    }

    let namespace = yaml(
        &cluster
            .ok(&["get", "namespace", "typed", "-o", "yaml"])
            .await,
    );
    assert_eq!(namespace["kind"], "Namespace");
    assert_eq!(namespace["status"]["phase"], "Active");
    assert_eq!(namespace["spec"]["finalizers"], json!(["kubernetes"]));
    let secret = yaml(
        &cluster
            .ok(&["get", "secret", "s1", "-n", "typed", "-o", "yaml"])
            .await,
    );
    assert_eq!(secret["data"], json!({"k": "dg=="}));
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["metadata"]["namespace"], "typed");
    assert!(
        secret["metadata"]["uid"].is_string()
            && secret["metadata"]["creationTimestamp"].is_string()
    );
    let config_map = yaml(
        &cluster
            .ok(&["get", "configmap", "c1", "-n", "typed", "-o", "yaml"])
            .await,
    );
    assert_eq!(config_map["data"], json!({"k": "v", "n": "1"}));
    // The field manager kubectl names in the query, as on a real server.
    let managed = cluster
        .ok(&[
            "get",
            "cm",
            "c1",
            "-n",
            "typed",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[0].manager}",
        ])
        .await;
    assert_eq!(managed, "kubectl-create");

    // A server dry run stores nothing; a second create is refused.
    let dry = yaml(
        &cluster
            .ok(&[
                "create",
                "configmap",
                "c2",
                "-n",
                "typed",
                "--from-literal=a=b",
                "--dry-run=server",
                "-o",
                "yaml",
            ])
            .await,
    );
    assert_eq!(dry["data"], json!({"a": "b"}));
    let (found, _, stderr) = cluster
        .run(&["get", "configmap", "c2", "-n", "typed"])
        .await;
    assert!(!found && stderr.contains("NotFound"), "{stderr}");
    let (created, _, stderr) = cluster
        .run(&[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "typed",
            "--from-literal=k=v",
        ])
        .await;
    assert!(
        !created && stderr.contains(r#"secrets "s1" already exists"#),
        "{stderr}"
    );

    // kubectl apply of the same objects.
    let manifest = cluster.write(
        "typed.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: typed\n  labels: {team: gpu}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\n  namespace: typed\nstringData:\n  k: w\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: typed\ndata:\n  k: w\n",
    );
    let applied = cluster.ok(&["apply", "-f", &manifest]).await;
    for line in [
        "namespace/typed configured",
        "secret/s1 configured",
        "configmap/c1 configured",
    ] {
        assert!(applied.contains(line), "{line} missing from {applied}");
    }
    let value = cluster
        .ok(&[
            "get",
            "secret",
            "s1",
            "-n",
            "typed",
            "-o",
            "jsonpath={.data.k}",
        ])
        .await;
    assert_eq!(value, "dw==");
    let again = cluster.ok(&["apply", "-f", &manifest]).await;
    assert!(again.contains("configmap/c1 unchanged"), "{again}");

    for (args, deleted) in [
        (
            &["delete", "secret", "s1", "-n", "typed"][..],
            r#"secret "s1" deleted"#,
        ),
        (
            &["delete", "configmap", "c1", "-n", "typed"][..],
            r#"configmap "c1" deleted"#,
        ),
        (
            &["delete", "namespace", "typed"][..],
            r#"namespace "typed" deleted"#,
        ),
    ] {
        assert_eq!(cluster.ok(args).await.trim(), deleted);
    }
    let (found, _, stderr) = cluster.run(&["get", "namespace", "typed"]).await;
    assert!(!found && stderr.contains("NotFound"), "{stderr}");
}

/// Creates one object through the in-process client.
async fn create(cluster: &Cluster, api_version: &str, plural: &str, object: serde_json::Value) {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap().to_string();
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(group, version, &kind),
        plural,
    );
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(cluster.emulator.client(), namespace, &resource),
        None => Api::all_with(cluster.emulator.client(), &resource),
    };
    api.create(
        &Default::default(),
        &serde_json::from_value(object).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn kubectl_get_shows_a_real_servers_columns_for_built_ins() {
    let cluster = Cluster::start().await;
    let objects = [
        (
            "v1",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gpu"}}),
        ),
        (
            "v1",
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "gpu"},
            "type": "kubernetes.io/basic-auth", "stringData": {"username": "u", "password": "p"}}),
        ),
        (
            "v1",
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "gpu"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
        ),
        (
            "v1",
            "serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": "gpu"},
            "secrets": [{"name": "creds"}]}),
        ),
        (
            "coordination.k8s.io/v1",
            "leases",
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "gpu"}, "spec": {"holderIdentity": "pod-a"}}),
        ),
        (
            "coordination.k8s.io/v1",
            "leases",
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "vacant", "namespace": "gpu"}, "spec": {}}),
        ),
    ];
    for (api_version, plural, object) in objects {
        create(&cluster, api_version, plural, object).await;
    }
    let twenty_minutes_ago =
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 1200)
            .unwrap()
            .to_string();
    create(&cluster, "v1", "events", json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "p1.1", "namespace": "gpu"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "gpu", "fieldPath": "spec.containers{main}"},
        "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": twenty_minutes_ago, "lastTimestamp": twenty_minutes_ago, "count": 3})).await;

    assert_eq!(
        words(&cluster.ok(&["get", "namespaces"]).await)[0],
        ["NAME", "STATUS", "AGE"]
    );
    let namespaces = cluster
        .ok(&["get", "namespace", "gpu", "--no-headers"])
        .await;
    assert_eq!(words(&namespaces)[0][..2], ["gpu", "Active"]);
    let secrets = cluster.ok(&["get", "secrets", "-n", "gpu"]).await;
    assert_eq!(words(&secrets)[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(
        words(&secrets)[1][..3],
        ["creds", "kubernetes.io/basic-auth", "2"]
    );
    let config_maps = cluster.ok(&["get", "configmaps", "-n", "gpu"]).await;
    assert_eq!(words(&config_maps)[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(words(&config_maps)[1][..2], ["settings", "3"]);
    let accounts = cluster.ok(&["get", "serviceaccounts", "-n", "gpu"]).await;
    // kube-apiserver v1.37 prints no SECRETS column any more.
    assert_eq!(words(&accounts)[0], ["NAME", "AGE"]);
    assert_eq!(words(&accounts)[1][..1], ["runner"]);
    let leases = cluster.ok(&["get", "leases", "-n", "gpu"]).await;
    assert_eq!(words(&leases)[0], ["NAME", "HOLDER", "AGE"]);
    assert_eq!(words(&leases)[1][..2], ["leader", "pod-a"]);
    // An empty cell is printed as nothing: the age follows the name.
    assert_eq!(words(&leases)[2].len(), 2, "{leases}");

    // Events: no Name column; the object as kind/name; wide adds the priority-1 columns.
    let events = cluster.ok(&["get", "events", "-n", "gpu"]).await;
    let expected = [
        "LAST SEEN   TYPE      REASON    OBJECT   MESSAGE",
        "20m         Warning   BackOff   pod/p1   Back-off restarting failed container",
    ];
    assert_eq!(events.lines().collect::<Vec<_>>(), expected, "{events}");
    let new_api = cluster
        .ok(&["get", "events.v1.events.k8s.io", "-n", "gpu"])
        .await;
    assert_eq!(new_api.lines().collect::<Vec<_>>(), expected, "{new_api}");
    let wide = cluster
        .ok(&["get", "events", "-n", "gpu", "-o", "wide"])
        .await;
    assert_eq!(
        words(&wide),
        [
            vec![
                "LAST",
                "SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST",
                "SEEN",
                "COUNT",
                "NAME"
            ],
            vec![
                "20m",
                "Warning",
                "BackOff",
                "pod/p1",
                "spec.containers{main}",
                "kubelet,",
                "node-1",
                "Back-off",
                "restarting",
                "failed",
                "container",
                "20m",
                "3",
                "p1.1"
            ],
        ]
    );
}

#[tokio::test]
async fn kubectl_typed_create_of_accounts_rbac_and_services() {
    let cluster = Cluster::start().await;
    for (args, created) in [
        (
            &["create", "serviceaccount", "runner"][..],
            "serviceaccount/runner created",
        ),
        (
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=secrets",
            ][..],
            "role.rbac.authorization.k8s.io/reader created",
        ),
        (
            &[
                "create",
                "rolebinding",
                "read",
                "--role=reader",
                "--serviceaccount=default:runner",
                "--user=alice",
            ][..],
            "rolebinding.rbac.authorization.k8s.io/read created",
        ),
        (
            &[
                "create",
                "clusterrole",
                "lister",
                "--verb=list",
                "--resource=configmaps",
            ][..],
            "clusterrole.rbac.authorization.k8s.io/lister created",
        ),
        (
            &[
                "create",
                "clusterrolebinding",
                "list",
                "--clusterrole=lister",
                "--group=devs",
            ][..],
            "clusterrolebinding.rbac.authorization.k8s.io/list created",
        ),
        (
            &["create", "service", "clusterip", "web", "--tcp=80:8080"][..],
            "service/web created",
        ),
    ] {
        assert_eq!(cluster.ok(args).await.trim(), created);
    }
    let role = yaml(&cluster.ok(&["get", "role", "reader", "-o", "yaml"]).await);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}])
    );
    let bindings = cluster.ok(&["get", "rolebinding", "-o", "wide"]).await;
    assert_eq!(
        words(&bindings)[0],
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    );
    let row = &words(&bindings)[1];
    assert_eq!(
        [row[0], row[1], row[3], row[4]],
        ["read", "Role/reader", "alice", "default/runner"]
    );
    let service = yaml(&cluster.ok(&["get", "service", "web", "-o", "yaml"]).await);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
    assert_eq!(service["spec"]["selector"], json!({"app": "web"}));
    let roles = cluster.ok(&["get", "clusterroles"]).await;
    assert_eq!(words(&roles)[0], ["NAME", "CREATED", "AT"]);

    // get -w prints a built-in's columns for each change.
    let mut watch = cluster
        .kubectl(&["get", "serviceaccounts", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watched = BufReader::new(watch.stdout.take().unwrap()).lines();
    let header = watched.next_line().await.unwrap().unwrap();
    assert_eq!(words(&header)[0], ["NAME", "AGE"]);
    let first = watched.next_line().await.unwrap().unwrap();
    assert_eq!(words(&first)[0][..1], ["runner"]);
    cluster.ok(&["create", "serviceaccount", "builder"]).await;
    let change = watched.next_line().await.unwrap().unwrap();
    assert_eq!(words(&change)[0][..1], ["builder"]);
    watch.kill().await.unwrap();

    // Deployments are not decoded from protobuf: 415, and `kubectl apply -f` instead.
    let (created, _, stderr) = cluster
        .run(&["create", "deployment", "d1", "--image=nginx"])
        .await;
    assert!(!created && stderr.contains("unknown format"), "{stderr}");
}

/// The operator's CRDs as shipped in `crds/`: `kubectl get` shows the Synced and Ready
/// conditions as columns, the bid's FID only with `-o wide`, and a cron of the wrong shape is
/// refused with the field named.
#[tokio::test]
async fn kubectl_shows_the_operators_condition_columns_and_refuses_a_bad_cron() {
    let cluster = Cluster::start().await;
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    cluster.ok(&["apply", "-f", crds]).await;
    cluster
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/spotbids.mithril.ai",
            "crd/instanceschedules.mithril.ai",
            "--timeout=60s",
        ])
        .await;
    let bid = cluster.write(
        "bid.yaml",
        "apiVersion: mithril.ai/v1alpha1\nkind: SpotBid\nmetadata:\n  name: training\n  namespace: default\n\
         spec:\n  project: demo\n  region: us-central1-a\n  instanceType: h100-80gb.sxm.8x\n  instanceQuantity: 1\n  limitPrice: \"$12.50\"\n",
    );
    let schedule = cluster.write(
        "schedule.yaml",
        "apiVersion: mithril.ai/v1alpha1\nkind: InstanceSchedule\nmetadata:\n  name: nightly\n  namespace: default\n\
         spec:\n  project: demo\n  selector:\n    reservationFids: [res_a]\n  timeZone: UTC\n  windows:\n  - cron: \"0 22 * * *\"\n    duration: 8h\n",
    );
    cluster.ok(&["apply", "-f", &bid, "-f", &schedule]).await;
    let conditions = json!([
        {"type": "Ready", "status": "False", "reason": "WaitingForCapacity", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Synced", "status": "True", "reason": "Synced", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]);
    let client = cluster.emulator.client();
    for (resource, name, status) in [
        (
            kube::api::ApiResource::erase::<mithril_operator::crd::SpotBid>(&()),
            "training",
            json!({"phase": "Open", "bidFid": "bid_abc", "ready": "0/1", "conditions": conditions}),
        ),
        (
            kube::api::ApiResource::erase::<mithril_operator::crd::InstanceSchedule>(&()),
            "nightly",
            json!({"wantedState": "Paused", "inState": "0/0", "conditions": conditions}),
        ),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    }
    let rows = |table: String| -> Vec<Vec<String>> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let table = rows(cluster.ok(&["get", "sb"]).await);
    assert_eq!(
        table[0],
        [
            "NAME",
            "PHASE",
            "REGION",
            "LIMIT",
            "PAYING",
            "INSTANCES",
            "SYNCED",
            "READY",
            "AGE"
        ]
    );
    assert_eq!(table[1][..5], ["training", "Open", "0/1", "True", "False"]);
    let wide = rows(cluster.ok(&["get", "sb", "-o", "wide"]).await);
    assert_eq!(wide[0][7..], ["READY", "BID", "AGE"]);
    assert_eq!(wide[1][5], "bid_abc");
    let table = rows(cluster.ok(&["get", "isched"]).await);
    assert_eq!(
        table[0],
        [
            "NAME",
            "WANTED",
            "IN",
            "STATE",
            "NEXT",
            "TRANSITION",
            "SYNCED",
            "READY",
            "AGE"
        ]
    );
    assert_eq!(table[1][..5], ["nightly", "Paused", "0/0", "True", "False"]);

    let bad = cluster.write(
        "bad.yaml",
        &std::fs::read_to_string(&schedule)
            .unwrap()
            .replace("0 22 * * *", "0 22 * *")
            .replace("nightly", "bad"),
    );
    let (success, _, stderr) = cluster.run(&["apply", "-f", &bad]).await;
    assert!(!success);
    assert!(
        stderr.contains("spec.windows[0].cron: Invalid value")
            && stderr.contains("cron must be five fields"),
        "{stderr}"
    );
}

/// The printers of kube-apiserver v1.37 for the kinds it has them for: PodDisruptionBudgets,
/// NetworkPolicies and CustomResourceDefinitions get their own columns.
#[tokio::test]
async fn kubectl_prints_pdbs_network_policies_and_crds_with_their_columns() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&["apply", "-f", &fixture("gadget-crd.yaml")])
        .await;
    let manifest = cluster.write(
        "policies.yaml",
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
",
    );
    cluster.ok(&["apply", "-f", &manifest]).await;
    let pdbs = cluster.ok(&["get", "pdb"]).await;
    let pdbs = words(&pdbs);
    assert_eq!(
        pdbs[0],
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(pdbs[1][..4], ["web", "1", "N/A", "0"]);
    let policies = cluster.ok(&["get", "networkpolicies"]).await;
    let policies = words(&policies);
    assert_eq!(policies[0], ["NAME", "POD-SELECTOR", "AGE"]);
    assert_eq!(policies[1][..2], ["web", "app=web"]);
    let crds = cluster
        .ok(&["get", "crd", "gadgets.test.mithril.ai", "-o", "wide"])
        .await;
    let crds = words(&crds);
    assert_eq!(
        crds[0],
        [
            "NAME",
            "SCOPE",
            "VERSIONS",
            "CREATED",
            "AT",
            "GROUP",
            "KIND",
            "SHORTNAMES",
            "ESTABLISHED"
        ]
    );
    assert_eq!(
        crds[1][..3],
        ["gadgets.test.mithril.ai", "Namespaced", "v1(storage)"]
    );
    assert_eq!(crds[1][4..], ["test.mithril.ai", "Gadget", "gd", "true"]);
}
