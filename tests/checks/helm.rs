//! The Helm chart in `charts/mithril-operator`: it lints, renders in both install scopes with
//! the RBAC of `deploy/base`, refuses wrong values through its schema, and a server accepts what
//! it renders.
//!
//! Needs helm (`MITHRIL_HELM`, else `helm` on the PATH; tools/helm/build.sh builds one); without
//! it each test says why it is skipped and passes (fails if `MITHRIL_REQUIRE_TOOLS` names helm).

use crate::support::cli::Cluster;
use crate::support::cli::manifests::{documents, object, render};
use serde_json::{Value, json};
use std::path::PathBuf;

fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/mithril-operator")
}

/// The helm binary, or None (with the reason printed) when there is none.
fn helm() -> Option<String> {
    let helm = std::env::var("MITHRIL_HELM").unwrap_or_else(|_| "helm".to_owned());
    match std::process::Command::new(&helm).arg("version").output() {
        Ok(output) if output.status.success() => Some(helm),
        _ => {
            crate::skip_without_tool(
                "helm",
                &format!(
                    "no helm ({helm:?} does not run); set MITHRIL_HELM to the path tools/helm/build.sh prints"
                ),
            );
            None
        }
    }
}

/// Runs helm: (success, stdout, stderr).
fn run(helm: &str, args: &[&str]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(helm)
        .args(args)
        // Keep helm's caches and config out of the user's home.
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .expect("helm runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `helm template mithril-operator <chart> -n mithril-operator <args>`: the rendered YAML.
fn template(helm: &str, args: &[&str]) -> String {
    let chart = chart_dir();
    let mut all = vec![
        "template",
        "mithril-operator",
        chart.to_str().unwrap(),
        "--namespace",
        "mithril-operator",
    ];
    all.extend(args);
    let (success, stdout, stderr) = run(helm, &all);
    assert!(success, "helm {all:?} failed:\n{stderr}");
    stdout
}

fn args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_chart_lints_in_both_install_scopes() {
    let Some(helm) = helm() else { return };
    let chart = chart_dir();
    for scope in ["cluster", "namespace"] {
        let set = format!("installScope={scope}");
        let (success, stdout, stderr) = run(
            &helm,
            &["lint", "--strict", chart.to_str().unwrap(), "--set", &set],
        );
        assert!(success, "helm lint ({scope}):\n{stdout}\n{stderr}");
    }
}

#[test]
fn wrong_values_are_refused_by_the_schema() {
    let Some(helm) = helm() else { return };
    let chart = chart_dir();
    for (set, error) in [
        ("installScope=everywhere", "/installScope"),
        ("deployment.replicas=two", "/deployment/replicas"),
        ("replicas=2", "additional properties 'replicas' not allowed"),
        ("log.format=xml", "/log/format"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("watchNamespaces={Not_A_Namespace}", "/watchNamespaces/0"),
        ("defaultKeyNamespaces={Team A}", "/defaultKeyNamespaces/0"),
        // Creating the key Secret needs the key.
        ("apiKeySecret.create=true", "/apiKeySecret/value"),
    ] {
        let (success, _, stderr) = run(
            &helm,
            &["template", "m", chart.to_str().unwrap(), "--set", set],
        );
        assert!(!success, "{set} was accepted");
        assert!(
            stderr.contains("values don't meet the specifications of the schema")
                && stderr.contains(error),
            "{set}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_install_grants_what_deploy_base_grants() {
    let Some(helm) = helm() else { return };
    let chart = documents(&template(&helm, &[]));
    let base = documents(&render("base").await);
    for (kind, name) in [
        ("ClusterRole", "mithril-operator"),
        ("ClusterRole", "mithril-operator-cluster-identity"),
        ("Role", "mithril-operator-leader-election"),
    ] {
        assert_eq!(
            object(&chart, kind, name)["rules"],
            object(&base, kind, name)["rules"],
            "{kind} {name}: the chart's rules are deploy/base's"
        );
    }
    for (kind, name) in [
        ("ClusterRoleBinding", "mithril-operator"),
        ("ClusterRoleBinding", "mithril-operator-cluster-identity"),
        ("RoleBinding", "mithril-operator-leader-election"),
    ] {
        let (chart, base) = (object(&chart, kind, name), object(&base, kind, name));
        assert_eq!(chart["roleRef"], base["roleRef"], "{kind} {name}");
        assert_eq!(chart["subjects"], base["subjects"], "{kind} {name}");
    }
    // Named as deploy/base names them, so either install is recognisable.
    let kinds = |objects: &[Value]| -> Vec<(String, String)> {
        let mut kinds: Vec<(String, String)> = objects
            .iter()
            .filter(|o| o["kind"] != "Namespace" && o["kind"] != "CustomResourceDefinition")
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().to_owned(),
                    o["metadata"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds(&chart),
        kinds(&base),
        "the same objects as deploy/base"
    );

    let deployment = object(&chart, "Deployment", "mithril-operator");
    let base_deployment = object(&base, "Deployment", "mithril-operator");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let (pod, base_pod) = (
        &deployment["spec"]["template"]["spec"],
        &base_deployment["spec"]["template"]["spec"],
    );
    for field in ["securityContext", "terminationGracePeriodSeconds"] {
        assert_eq!(pod[field], base_pod[field], "{field}");
    }
    let (container, base_container) = (&pod["containers"][0], &base_pod["containers"][0]);
    for field in [
        "securityContext",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "ports",
        "env",
    ] {
        assert_eq!(container[field], base_container[field], "{field}");
    }
    assert_eq!(container["image"], "mithril-operator:0.1.0");
    assert_eq!(
        args(deployment),
        [
            "run",
            "--api-key-secret=$(POD_NAMESPACE)/mithril-api-key",
            "--log-format=json",
            "--metrics-addr=0.0.0.0:8080"
        ]
    );
    assert_eq!(
        pod["topologySpreadConstraints"].as_array().unwrap().len(),
        2,
        "spread over nodes and zones"
    );
    let budget = object(&chart, "PodDisruptionBudget", "mithril-operator");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    // A server accepts it all.
    let cluster = Cluster::start().await;
    cluster.create_namespace("mithril-operator").await;
    let path = cluster.dir.path().join("chart.yaml");
    std::fs::write(&path, template(&helm, &["--include-crds"])).unwrap();
    let output = cluster
        .kubectl
        .ok(&["apply", "--dry-run=server", "-f", path.to_str().unwrap()])
        .await;
    for line in [
        "customresourcedefinition.apiextensions.k8s.io/spotbids.mithril.ai created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/mithril-operator created (server dry run)",
        "deployment.apps/mithril-operator created (server dry run)",
        "poddisruptionbudget.policy/mithril-operator created (server dry run)",
    ] {
        assert!(output.contains(line), "{line} missing from:\n{output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_install_grants_the_same_rules_in_namespaces_only() {
    let Some(helm) = helm() else { return };
    let chart = documents(&template(
        &helm,
        &[
            "--set",
            "installScope=namespace",
            "--set",
            "watchNamespaces={ml}",
        ],
    ));
    let base = documents(&render("base").await);
    let cluster_wide: Vec<&Value> = chart
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding")
        .map(|o| &o["metadata"]["name"])
        .collect();
    assert_eq!(
        cluster_wide,
        [
            &json!("mithril-operator-cluster-identity"),
            &json!("mithril-operator-cluster-identity")
        ],
        "nothing cluster-wide but reading kube-system"
    );
    let roles: Vec<&Value> = chart
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == "mithril-operator")
        .collect();
    let namespaces: Vec<&Value> = roles.iter().map(|r| &r["metadata"]["namespace"]).collect();
    assert_eq!(namespaces, [&json!("mithril-operator"), &json!("ml")]);
    for role in roles {
        assert_eq!(
            role["rules"],
            object(&base, "ClusterRole", "mithril-operator")["rules"],
            "the Role grants what deploy/base's ClusterRole grants"
        );
    }
    let deployment = object(&chart, "Deployment", "mithril-operator");
    assert!(
        args(deployment).contains(&"--namespace=mithril-operator,ml".to_owned()),
        "{:?}",
        args(deployment)
    );
}

#[test]
fn optional_objects_and_flags_follow_the_values() {
    let Some(helm) = helm() else { return };
    let defaults = documents(&template(&helm, &[]));
    for kind in [
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "Secret",
    ] {
        assert!(
            defaults.iter().all(|o| o["kind"] != kind),
            "no {kind} by default"
        );
    }
    assert!(
        !args(object(&defaults, "Deployment", "mithril-operator"))
            .iter()
            .any(|a| a.starts_with("--default-key-namespaces")),
        "the default-key policy is rendered only when set"
    );

    let all = documents(&template(
        &helm,
        &[
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "apiKeySecret.create=true",
            "--set",
            "apiKeySecret.value=fkey_test",
            "--set",
            "defaultKeyNamespaces={ml,research}",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "deployment.replicas=1",
            "--set",
            "log.level=debug",
            "--set",
            "deployment.priorityClassName=system-cluster-critical",
            "--set",
            "deployment.nodeSelector.pool=system",
            "--set",
            "deployment.tolerations[0].key=dedicated",
            "--set",
            "deployment.tolerations[0].operator=Exists",
            "--set",
            "deployment.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
            "--set",
            "deployment.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
            "--set",
            "resources.limits.memory=512Mi",
        ],
    ));
    let deployment = object(&all, "Deployment", "mithril-operator");
    assert_eq!(
        args(deployment),
        [
            "run",
            "--api-key-secret=$(POD_NAMESPACE)/mithril-api-key",
            "--log-format=json",
            "--log-level=debug",
            "--default-key-namespaces=ml,research",
            "--leader-election=false",
            "--metrics-addr=0.0.0.0:8080"
        ]
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["nodeSelector"], json!({"pool": "system"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Exists"}])
    );
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"],
        json!([{"key": "pool", "operator": "Exists"}])
    );
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        })
    );
    assert!(
        all.iter().all(|o| o["kind"] != "PodDisruptionBudget"
            && o["metadata"]["name"] != "mithril-operator-leader-election"),
        "one replica: no budget; no leader election: no Lease grant"
    );
    let secret = object(&all, "Secret", "mithril-api-key");
    assert_eq!(secret["stringData"]["api-key"], "fkey_test");

    // The monitoring and network objects are deploy/components' (bar the chart's labels).
    let component = |path: &str| -> Value {
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("deploy/components")
                .join(path),
        )
        .unwrap();
        serde_saphyr::from_str(&text).unwrap()
    };
    let rule = object(&all, "PrometheusRule", "mithril-operator");
    assert_eq!(
        rule["spec"],
        component("monitoring/prometheus-rule.yaml")["spec"]
    );
    let monitor = object(&all, "ServiceMonitor", "mithril-operator");
    assert_eq!(
        monitor["spec"]["endpoints"],
        component("monitoring/service-monitor.yaml")["spec"]["endpoints"]
    );
    let policy = object(&all, "NetworkPolicy", "mithril-operator");
    let kustomized = component("network-policy/network-policy.yaml");
    for field in ["policyTypes", "ingress", "egress"] {
        assert_eq!(policy["spec"][field], kustomized["spec"][field], "{field}");
    }
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn the_chart_ships_the_generated_crds() {
    let Some(helm) = helm() else { return };
    let by_name = |mut crds: Vec<Value>| {
        crds.sort_by_key(|c| c["metadata"]["name"].as_str().unwrap().to_owned());
        crds
    };
    let crds = by_name(
        documents(&template(&helm, &["--include-crds"]))
            .into_iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .collect(),
    );
    let generated = by_name(
        mithril_operator::crd::crds()
            .iter()
            .map(|crd| serde_json::to_value(crd).unwrap())
            .collect(),
    );
    assert_eq!(crds.len(), 3);
    assert!(
        crds == generated,
        "the chart's CRDs differ from the generated ones"
    );
}
