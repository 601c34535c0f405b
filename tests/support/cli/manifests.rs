//! Rendering the kustomizations in `deploy/` and reading what they hold.

use serde_json::Value;
use std::path::PathBuf;

pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// `kubectl kustomize deploy/<path>`: the rendered YAML.
pub async fn render(path: &str) -> String {
    let output = tokio::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy_dir().join(path))
        .output()
        .await
        .expect("kubectl is installed");
    assert!(
        output.status.success(),
        "kubectl kustomize deploy/{path} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every document of a multi-document YAML.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("YAML documents")
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

/// The one object of `kind` named `name`.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// One permission: (API group, resource or resource/subresource, verb).
pub type Grant = (String, String, String);

/// Every (group, resource, verb) the rules of a Role or ClusterRole grant.
pub fn grants(role: &Value) -> Vec<Grant> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let mut grants = Vec::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "no wildcards in a least-privilege role: {rule}"
                    );
                    grants.push((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    grants
}
