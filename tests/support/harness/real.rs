//! The switch to a real Kubernetes API server. With `MITHRIL_TEST_KUBE=real` and
//! `MITHRIL_TEST_KUBECONFIG=PATH` (an admin kubeconfig, as `tools/real-apiserver/start.sh` writes
//! one) each harness gets a namespace of its own on that server, and the operator under test runs
//! as its ServiceAccount with the RBAC of `deploy/base`, so a missing permission is a real 403.
//! Without the variables nothing here runs: the suites use the in-process emulator.
//!
//! No kube-controller-manager runs beside such a server: no garbage collector, no namespace
//! cleanup. Test namespaces are deleted best-effort and stay Terminating.
#![allow(dead_code)]

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use mithril_operator::crd;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where `deploy/base` puts the operator's ServiceAccount (and its leader-election Role).
pub const OPERATOR_NAMESPACE: &str = "mithril-operator";
pub const OPERATOR_SERVICE_ACCOUNT: &str = "mithril-operator";
/// The label on every namespace a test makes, so leftovers can be found.
pub const TEST_NAMESPACE_LABEL: &str = "mithril.ai/e2e";
const FIELD_MANAGER: &str = "mithril-e2e";
/// The files of `deploy/base` that give the operator its identity and permissions.
const RBAC_FILES: &[&str] = &[
    "namespace.yaml",
    "service-account.yaml",
    "cluster-role.yaml",
    "cluster-role-binding.yaml",
    "cluster-identity-role.yaml",
    "cluster-identity-role-binding.yaml",
    "leader-election-role.yaml",
    "leader-election-role-binding.yaml",
];

/// The admin kubeconfig of the real API server to test against, or `None` for the emulator.
pub fn kubeconfig() -> Option<PathBuf> {
    match std::env::var("MITHRIL_TEST_KUBE").as_deref() {
        Ok("real") => Some(
            std::env::var_os("MITHRIL_TEST_KUBECONFIG")
                .expect("MITHRIL_TEST_KUBE=real needs MITHRIL_TEST_KUBECONFIG=PATH (an admin kubeconfig)")
                .into(),
        ),
        Ok("" | "emulator") | Err(_) => None,
        Ok(other) => panic!("MITHRIL_TEST_KUBE={other}: expected `real` or nothing"),
    }
}

/// True (and says so on stderr, past the test harness's output capture) when the suites run on
/// a real API server: for a test that needs what only the emulator offers.
pub fn skip_on_real_server(test: &str, reason: &str) -> bool {
    if kubeconfig().is_none() {
        return false;
    }
    // Written to the stream itself: print macros are captured and only shown on failure.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED on the real API server: {test}: {reason}"
    );
    true
}

/// One harness's share of a real API server.
pub struct RealCluster {
    /// Cluster admin: the test's own reads, writes and assertions.
    pub admin: Client,
    /// The operator's ServiceAccount, bound by the roles of `deploy/base`.
    pub operator: Client,
    /// This harness's namespace (labelled [`TEST_NAMESPACE_LABEL`]).
    pub namespace: String,
    kubeconfig: PathBuf,
    token: String,
}

/// The operator's token, minted once per test process (its set-up with it).
static OPERATOR_TOKEN: OnceCell<String> = OnceCell::const_new();

impl RealCluster {
    /// Connects, makes sure the CRDs and the operator's RBAC are there (idempotent: server-side
    /// apply), and creates a fresh namespace named after the running test.
    pub async fn connect(kubeconfig: PathBuf) -> Self {
        let admin = client(&kubeconfig, None).await;
        let token = OPERATOR_TOKEN
            .get_or_init(|| prepare(admin.clone()))
            .await
            .clone();
        let operator = client(&kubeconfig, Some(&token)).await;
        let namespace = unique_namespace();
        let manifest: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {TEST_NAMESPACE_LABEL: "true"}},
        }))
        .unwrap();
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &manifest)
            .await
            .unwrap_or_else(|error| panic!("namespace {namespace}: {error}"));
        Self {
            admin,
            operator,
            namespace,
            kubeconfig,
            token,
        }
    }

    /// A kubeconfig (YAML) for a separate operator process: the server of the admin kubeconfig,
    /// the operator's ServiceAccount token as the user.
    pub fn operator_kubeconfig_yaml(&self) -> String {
        let file = with_token(read_kubeconfig(&self.kubeconfig), &self.token);
        serde_saphyr::to_string(&file).expect("kubeconfig as YAML")
    }
}

impl Drop for RealCluster {
    /// Best effort: deletion only marks the namespace (no namespace controller runs).
    fn drop(&mut self) {
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A client of the server in `kubeconfig`: as its user, or with `token` instead.
async fn client(kubeconfig: &Path, token: Option<&str>) -> Client {
    let mut file = read_kubeconfig(kubeconfig);
    if let Some(token) = token {
        file = with_token(file, token);
    }
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig loads");
    Client::try_from(config).expect("kube client")
}

fn read_kubeconfig(path: &Path) -> Kubeconfig {
    Kubeconfig::read_from(path)
        .unwrap_or_else(|error| panic!("kubeconfig {}: {error}", path.display()))
}

/// `file` with every user replaced by a bearer `token`.
fn with_token(mut file: Kubeconfig, token: &str) -> Kubeconfig {
    for user in &mut file.auth_infos {
        user.auth_info = Some(serde_json::from_value(serde_json::json!({"token": token})).unwrap());
    }
    file
}

/// `e2e-<test name>-<random>`: unique, and telling which test left it.
fn unique_namespace() -> String {
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .rsplit("::")
        .next()
        .unwrap_or("test")
        .to_ascii_lowercase();
    let mut stem: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    stem = stem.trim_matches('-').to_owned();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("e2e-{stem}-{suffix}")
}

/// Installs the CRDs (waiting until Established) and the operator's RBAC from `deploy/base`, and
/// returns a token of the operator's ServiceAccount.
async fn prepare(admin: Client) -> String {
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for definition in crd::crds() {
        let name = definition.metadata.name.clone().expect("CRD name");
        crds.patch(&name, &apply, &Patch::Apply(&definition))
            .await
            .unwrap_or_else(|error| panic!("CRD {name} installs: {error}"));
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .unwrap_or_else(|_| panic!("CRD {name} never became Established"))
        .expect("CRD watch");
    }

    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base");
    for file in RBAC_FILES {
        let path = base.join(file);
        let text = std::fs::read_to_string(&path).expect("deploy/base file");
        let object: DynamicObject = serde_saphyr::from_str(&text).expect("a manifest");
        let types = object.types.clone().expect("apiVersion and kind");
        let (group, version) = match types.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", types.api_version.as_str()),
        };
        let plural = format!("{}s", types.kind.to_ascii_lowercase());
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, &types.kind),
            &plural,
        );
        let name = object.metadata.name.clone().expect("a name");
        let api: Api<DynamicObject> = match object.metadata.namespace.as_deref() {
            Some(namespace) => Api::namespaced_with(admin.clone(), namespace, &resource),
            None => Api::all_with(admin.clone(), &resource),
        };
        api.patch(&name, &apply, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|error| panic!("{} from deploy/base applies: {error}", path.display()));
    }

    let accounts: Api<ServiceAccount> = Api::namespaced(admin, OPERATOR_NAMESPACE);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            // Two hours: longer than any suite runs.
            expiration_seconds: Some(7200),
            ..Default::default()
        },
        ..Default::default()
    };
    accounts
        .create_token_request(OPERATOR_SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("a token of the operator's ServiceAccount")
        .status
        .expect("the token")
        .token
}
