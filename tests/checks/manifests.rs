//! The manifests in `deploy/`: they render with kustomize, a server accepts them, the CRDs in
//! them are the generated ones, and the Deployment runs hardened.
//!
//! After changing a CRD type, regenerate the copies with:
//!     UPDATE_CRDS=1 cargo test --test checks -- manifests::

use crate::support::cli::Cluster;
use crate::support::cli::manifests::{deploy_dir, documents, grants, object, render};
use mithril_operator::crd::{crd_file_name, crd_yaml, crds};
use serde_json::{Value, json};

#[test]
fn the_crds_in_the_base_are_the_generated_crds() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    let dir = deploy_dir().join("base/crds");
    for crd in crds() {
        let path = dir.join(crd_file_name(&crd));
        if update {
            std::fs::write(&path, crd_yaml(&crd)).unwrap();
            continue;
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            crd_yaml(&crd),
            "{} differs from the generated CRD; regenerate with: UPDATE_CRDS=1 cargo test --test checks -- manifests::",
            path.display()
        );
    }
}

/// Applies `yaml` with `kubectl apply --dry-run=server` to an emulated cluster holding the
/// operator's namespace; returns kubectl's output.
async fn server_dry_run(yaml: &str) -> String {
    let cluster = Cluster::start().await;
    cluster.create_namespace("mithril-operator").await;
    let path = cluster.dir.path().join("rendered.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = cluster
        .kubectl
        .ok(&["apply", "--dry-run=server", "-f", path.to_str().unwrap()])
        .await;
    assert_eq!(
        cluster.emulator.object_count("apps", "deployments"),
        0,
        "a dry run stores nothing"
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_renders_and_a_server_accepts_it() {
    let rendered = render("base").await;
    let output = server_dry_run(&rendered).await;
    for line in [
        "customresourcedefinition.apiextensions.k8s.io/spotbids.mithril.ai created (server dry run)",
        "customresourcedefinition.apiextensions.k8s.io/instanceschedules.mithril.ai created (server dry run)",
        "customresourcedefinition.apiextensions.k8s.io/spotpools.mithril.ai created (server dry run)",
        "serviceaccount/mithril-operator created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/mithril-operator created (server dry run)",
        "clusterrolebinding.rbac.authorization.k8s.io/mithril-operator created (server dry run)",
        "role.rbac.authorization.k8s.io/mithril-operator-leader-election created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/mithril-operator-leader-election created (server dry run)",
        "service/mithril-operator-metrics created (server dry run)",
        "deployment.apps/mithril-operator created (server dry run)",
        "poddisruptionbudget.policy/mithril-operator created (server dry run)",
    ] {
        assert!(output.contains(line), "{line} missing from:\n{output}");
    }
    let example =
        std::fs::read_to_string(deploy_dir().join("base/api-key-secret.example.yaml")).unwrap();
    assert!(example.contains("PLACEHOLDER"));
    let output = server_dry_run(&example).await;
    assert!(
        output.contains("secret/mithril-api-key created (server dry run)"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_overlay_swaps_the_cluster_role_for_a_role() {
    let base = documents(&render("base").await);
    let rendered = render("overlays/namespaced").await;
    let overlay = documents(&rendered);
    let cluster_wide: Vec<(&serde_json::Value, &serde_json::Value)> = overlay
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding")
        .map(|o| (&o["kind"], &o["metadata"]["name"]))
        .collect();
    assert!(
        cluster_wide
            .iter()
            .all(|(_, name)| *name == "mithril-operator-cluster-identity"),
        "a namespaced install grants nothing cluster-wide but the cluster's identity: {cluster_wide:?}"
    );
    assert_eq!(
        grants(object(
            &overlay,
            "ClusterRole",
            "mithril-operator-cluster-identity"
        )),
        vec![("".to_owned(), "namespaces".to_owned(), "get".to_owned())],
        "reading kube-system (its uid names the cluster in bid names) is all"
    );
    let role = object(&overlay, "Role", "mithril-operator");
    assert_eq!(role["metadata"]["namespace"], "mithril-operator");
    assert_eq!(
        grants(role),
        grants(object(&base, "ClusterRole", "mithril-operator")),
        "the Role grants what the ClusterRole grants"
    );
    let binding = object(&overlay, "RoleBinding", "mithril-operator");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["subjects"][0]["name"], "mithril-operator");
    let args = &object(&overlay, "Deployment", "mithril-operator")["spec"]["template"]["spec"]["containers"]
        [0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&json!("--namespace=$(POD_NAMESPACE)")),
        "{args}"
    );
    let output = server_dry_run(&rendered).await;
    assert!(
        output.contains("role.rbac.authorization.k8s.io/mithril-operator created (server dry run)"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_runs_hardened_with_probes_and_limits() {
    let objects = documents(&render("base").await);
    let deployment = object(&objects, "Deployment", "mithril-operator");
    assert_eq!(deployment["metadata"]["namespace"], "mithril-operator");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "mithril-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "mithril-operator:0.1.0");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        container["resources"]["requests"],
        json!({"cpu": "50m", "memory": "64Mi"})
    );
    assert_eq!(
        container["resources"]["limits"],
        json!({"cpu": "500m", "memory": "256Mi"})
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    // A stop drains in-flight reconciles, then releases the Lease: the kubelet must wait for both.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace >= mithril_operator::app::SHUTDOWN_DRAIN.as_secs() + 10,
        "terminationGracePeriodSeconds {grace} leaves no time to drain"
    );
    assert_eq!(container["args"][0], "run");
    let env: Vec<&Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(env, [&json!("POD_NAME"), &json!("POD_NAMESPACE")]);
    let service = object(&objects, "Service", "mithril-operator-metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_args_are_flags_the_binary_accepts() {
    // The flags of the manifest, with an address that cannot be reached: parsing must pass and
    // the start must fail only at the API server, never on a flag.
    let objects = documents(&render("base").await);
    let container = &object(&objects, "Deployment", "mithril-operator")["spec"]["template"]["spec"]
        ["containers"][0];
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    std::fs::write(
        &kubeconfig,
        kube_emulator::Emulator::new().kubeconfig_yaml(addr),
    )
    .unwrap();
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("$(POD_NAMESPACE)", "mithril-operator")
        })
        .collect();
    args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut process = crate::support::cli::Process::spawn(
        dir.path(),
        "manifest-flags",
        &args,
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("POD_NAME", "mithril-operator-0"),
            ("POD_NAMESPACE", "mithril-operator"),
        ],
    );
    let status = process.exit().await;
    assert!(!status.success());
    assert!(
        process
            .stderr()
            .contains("cannot reach the Kubernetes API server"),
        "{}",
        process.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_spread_over_nodes_and_a_drain_takes_one_at_a_time() {
    let objects = documents(&render("base").await);
    let deployment = object(&objects, "Deployment", "mithril-operator");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let labels = &deployment["spec"]["selector"]["matchLabels"];
    let budget = object(&objects, "PodDisruptionBudget", "mithril-operator");
    assert_eq!(budget["metadata"]["namespace"], "mithril-operator");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);
    let spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        .as_array()
        .unwrap();
    let keys: Vec<&Value> = spread.iter().map(|c| &c["topologyKey"]).collect();
    assert_eq!(
        keys,
        [
            &json!("kubernetes.io/hostname"),
            &json!("topology.kubernetes.io/zone")
        ]
    );
    for constraint in spread {
        assert_eq!(&constraint["labelSelector"]["matchLabels"], labels);
        // A single-node cluster still schedules both replicas.
        assert_eq!(constraint["whenUnsatisfiable"], "ScheduleAnyway");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_overlay_adds_monitoring_and_a_network_policy() {
    let rendered = render("overlays/production").await;
    let objects = documents(&rendered);
    let base = documents(&render("base").await);
    assert_eq!(objects.len(), base.len() + 3, "base plus three objects");
    for object in &objects {
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/part-of"], "mithril-operator",
            "{}",
            object["kind"]
        );
    }
    let service = object(&objects, "Service", "mithril-operator-metrics");
    let monitor = object(&objects, "ServiceMonitor", "mithril-operator");
    assert_eq!(monitor["metadata"]["namespace"], "mithril-operator");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "selects the metrics Service"
        );
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );

    let rules = object(&objects, "PrometheusRule", "mithril-operator");
    let alerts: Vec<(&str, &str)> = rules["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["alert"].as_str().unwrap(), r["expr"].as_str().unwrap()))
        .collect();
    let names: Vec<&str> = alerts.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "MithrilOperatorNoLeader",
            "MithrilOperatorMithrilFailing",
            "MithrilOperatorRateLimited",
            "MithrilOperatorObserverStale",
            "MithrilOperatorReconcilesFailing",
            "MithrilOperatorResourcesFailed",
            "MithrilOperatorPreemptingTooLong",
            "MithrilOperatorSpendHigh",
        ]
    );
    // With every replica gone there is no series to sum: absent() makes the alert fire.
    assert!(
        alerts[0].1.contains("absent(mithril_operator_leader)"),
        "{}",
        alerts[0].1
    );
    for (name, expr) in &alerts {
        assert!(expr.contains("mithril_operator_"), "{name}: {expr}");
    }

    let policy = object(&objects, "NetworkPolicy", "mithril-operator");
    let deployment = object(&objects, "Deployment", "mithril-operator");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"ports": [{"port": "metrics", "protocol": "TCP"}]}]),
        "only scrapes come in"
    );
    let egress_ports: Vec<(i64, &str)> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap())
        .map(|p| (p["port"].as_i64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(
        egress_ports,
        [(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP")],
        "DNS, Mithril and the API server only"
    );

    // Everything but the Prometheus Operator's kinds (not served here) passes a server dry run.
    let served: Vec<&Value> = objects
        .iter()
        .filter(|o| o["apiVersion"] != "monitoring.coreos.com/v1")
        .collect();
    let yaml: String = served
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap()))
        .collect();
    let output = server_dry_run(&yaml).await;
    assert!(
        output
            .contains("networkpolicy.networking.k8s.io/mithril-operator created (server dry run)"),
        "{output}"
    );
}

/// The operator's metrics with a sample in every family the alerts read.
fn exported_metrics() -> String {
    use mithril_api::{ApiKey, AttemptOutcome, AttemptReport};
    use mithril_operator::observe::PollReport;
    use mithril_operator::runtime::metrics::Metrics;
    use std::collections::BTreeMap;
    use std::time::Duration;

    let metrics = Metrics::new();
    metrics.set_leader(true);
    metrics.spent("ml-team", "spotpool", 1.5);
    metrics.reconciled(
        "spotbid",
        Duration::from_millis(5),
        Some("MithrilUnavailable"),
    );
    metrics.set_phase_counts(
        "spotbid",
        &BTreeMap::from([("Failed".to_owned(), 1), ("Preempting".to_owned(), 1)]),
    );
    metrics.mithril_observer().on_attempt(&AttemptReport {
        method: &http::Method::GET,
        path_template: "/v2/spot/bids",
        outcome: AttemptOutcome::Status(503),
        latency: Duration::from_millis(10),
        retry: 0,
    });
    let key = ApiKey::new("fkey_alerts").unwrap();
    metrics.key_labels().name(&key, "default");
    metrics.cycle_listener().cycle_completed(
        &key,
        "proj_a",
        &PollReport {
            requests: 3,
            bids: 0,
            instances: 0,
            changed: 0,
            full_instance_refresh: true,
            duration: Duration::from_millis(20),
        },
        jiff::Timestamp::now(),
    );
    metrics.encode()
}

/// The label names an alert's expression or annotations use: `by (...)`, matchers, `$labels.X`.
fn labels_used(rule: &Value) -> Vec<String> {
    let word = |text: &str| -> String {
        text.trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let expr = rule["expr"].as_str().unwrap();
    let mut used = Vec::new();
    for (_, rest) in expr
        .match_indices("by (")
        .map(|(at, _)| expr.split_at(at + 4))
    {
        let list = rest.split(')').next().unwrap();
        used.extend(list.split(',').map(word));
    }
    for (_, rest) in expr.match_indices('{').map(|(at, _)| expr.split_at(at + 1)) {
        let matchers = rest.split('}').next().unwrap();
        used.extend(matchers.split(',').map(word));
    }
    for annotation in rule["annotations"]
        .as_object()
        .into_iter()
        .flat_map(|a| a.values())
    {
        let text = annotation.as_str().unwrap();
        used.extend(text.split("$labels.").skip(1).map(word));
    }
    used.retain(|label| !label.is_empty());
    used
}

#[test]
fn the_alerts_read_only_metrics_and_labels_the_operator_exports() {
    let text =
        std::fs::read_to_string(deploy_dir().join("components/monitoring/prometheus-rule.yaml"))
            .unwrap();
    let rules: Value = serde_saphyr::from_str(&text).unwrap();
    let exported = exported_metrics();
    let series: Vec<&str> = exported.lines().filter(|l| !l.starts_with('#')).collect();
    for rule in rules["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        let expr = rule["expr"].as_str().unwrap();
        let metrics: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("mithril_operator_"))
            .collect();
        assert!(!metrics.is_empty(), "{name}: {expr}");
        for label in labels_used(rule) {
            for metric in &metrics {
                assert!(
                    series
                        .iter()
                        .any(|line| line.starts_with(&format!("{metric}{{"))
                            && line.contains(&format!("{label}=\""))),
                    "{name}: {metric} has no label {label:?} in:\n{exported}"
                );
            }
        }
        for metric in &metrics {
            assert!(
                series.iter().any(|line| line.starts_with(metric)),
                "{name}: {metric} is not exported:\n{exported}"
            );
        }
    }
}
