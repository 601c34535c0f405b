//! Differential check of the Kubernetes API emulator: one corpus of kubectl and kube-client
//! requests goes to a real kube-apiserver and to an emulator started here, and the answers are
//! compared once what legitimately differs between two servers (uids, timestamps,
//! resourceVersions, generated names, ages) is normalised. Every difference is reported; the test
//! fails on any that is not in [`KNOWN`], whose entries each name the README limit they are.
//!
//! Runs with `MITHRIL_TEST_KUBE=real` and `MITHRIL_TEST_KUBECONFIG=PATH` (an admin kubeconfig, see
//! tests/support/harness/real.rs); without them it says it is skipped and passes.
//! `MITHRIL_TEST_DIFF_DUMP=DIR` also writes both normalised answers of each case there.

use crate::support::harness::real;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_emulator::{Emulator, ServeHandle};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

/// A difference the emulator is known to have, with the README limit it is listed under
/// ("Where `kubectl` sees a difference from a real server").
struct Known {
    case: &'static str,
    /// The JSON path the difference is at, or a prefix of it.
    path: &'static str,
    readme: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        case: "tables",
        path: ".table_events.body.rows[0].object.metadata.managedFields[0].fieldsV1",
        readme: "an Event written through the core v1 API has its managed fields in events.k8s.io/v1 names",
    },
    Known {
        case: "tables",
        path: ".table /api/v1/namespaces/{ns}/services.body.rows[0].cells",
        readme: "a Service gets no cluster IP, node ports or defaults (`type`, `sessionAffinity`, IP families) from the server",
    },
];

/// One server under comparison.
struct Side {
    label: &'static str,
    client: Client,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    namespace: String,
    _emulator: Option<(Emulator, ServeHandle)>,
}

/// A rendered answer: HTTP code and body, or kubectl's exit, output and error.
type Observation = Value;

impl Side {
    async fn connect(
        label: &'static str,
        kubeconfig: PathBuf,
        dir: tempfile::TempDir,
        namespace: &str,
        emulator: Option<(Emulator, ServeHandle)>,
    ) -> Self {
        let file = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
        let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig loads");
        let client = Client::try_from(config).expect("kube client");
        Self {
            label,
            client,
            kubeconfig,
            dir,
            namespace: namespace.to_owned(),
            _emulator: emulator,
        }
    }

    /// kubectl with this side's kubeconfig and a discovery cache of its own.
    async fn kubectl(&self, args: &[&str]) -> Observation {
        let output = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .kill_on_drop(true)
            .output()
            .await
            .expect("kubectl is installed");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = match serde_json::from_str::<Value>(&stdout) {
            Ok(value) if value.is_object() => value,
            _ => text_lines(&stdout),
        };
        json!({"ok": output.status.success(), "stdout": stdout, "stderr": text_lines(&stderr)})
    }

    /// kubectl in this side's namespace.
    async fn kubectl_ns(&self, args: &[&str]) -> Observation {
        let mut all = vec!["-n", self.namespace.as_str()];
        all.extend_from_slice(args);
        self.kubectl(&all).await
    }

    /// A file in this side's directory (for `kubectl ... -f`).
    fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write a manifest");
        path.display().to_string()
    }

    /// One request through the kube client's transport: {code, body}.
    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Value>,
    ) -> Observation {
        self.call_accept(method, path, content_type, None, body)
            .await
    }

    async fn call_accept(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Option<Value>,
    ) -> Observation {
        let path = path.replace("{ns}", &self.namespace);
        let mut request = http::Request::builder().method(method).uri(&path);
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        if let Some(accept) = accept {
            request = request.header(http::header::ACCEPT, accept);
        }
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let request = request.body(bytes).expect("request");
        let response = self
            .client
            .send(request.map(kube::client::Body::from))
            .await
            .unwrap_or_else(|error| panic!("{} {method} {path}: {error}", self.label));
        let code = response.status().as_u16();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .expect("a response body");
        json!({"code": code, "body": body_value(&body)})
    }

    /// A watch read to its end (`timeoutSeconds` ends it): its events, one JSON value each.
    async fn watch(&self, path: &str) -> Vec<Value> {
        let path = path.replace("{ns}", &self.namespace);
        let request = http::Request::get(&path).body(Vec::new()).expect("request");
        let response = self
            .client
            .send(request.map(kube::client::Body::from))
            .await
            .unwrap_or_else(|error| panic!("{} watch {path}: {error}", self.label));
        let status = response.status().as_u16();
        let buffer = tokio::time::timeout(
            Duration::from_secs(30),
            response.into_body().collect_bytes(),
        )
        .await
        .unwrap_or_else(|_| panic!("{} watch {path} did not end", self.label))
        .unwrap_or_default();
        let mut events: Vec<Value> = buffer
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(body_value)
            .collect();
        if status != 200 {
            events.insert(0, json!({"code": status}));
        }
        events
    }
}

fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Text as lines of whitespace-separated words (column widths differ with the ages shown).
fn text_lines(text: &str) -> Value {
    Value::Array(
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                Value::Array(
                    line.split_whitespace()
                        .map(|word| Value::String(word.to_owned()))
                        .collect(),
                )
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Normalisation and comparison

/// Replaces what two correct servers may answer differently.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("selfLink");
            let generated = map
                .get("generateName")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let (Some(stem), Some(Value::String(name))) = (generated, map.get_mut("name"))
                && name.starts_with(&stem)
            {
                *name = format!("{stem}<generated>");
            }
            for (key, field) in map.iter_mut() {
                match (key.as_str(), &*field) {
                    ("resourceVersion", Value::String(rv)) if !rv.is_empty() => {
                        *field = json!("<rv>");
                    }
                    ("continue", Value::String(token)) if !token.is_empty() => {
                        *field = json!("<continue>");
                    }
                    ("message", Value::String(message)) => {
                        *field = Value::String(normalise_message(message));
                    }
                    _ => normalise(field),
                }
            }
            normalise_table(map);
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::String(text) => {
            if is_timestamp(text) {
                *text = "<time>".to_owned();
            } else if is_uid(text) {
                *text = "<uid>".to_owned();
            } else if is_age(text) {
                *text = "<age>".to_owned();
            }
        }
        _ => {}
    }
}

/// resourceVersions quoted in messages ("too old resource version: 1 (224)").
fn normalise_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("resource version: ") {
        let (head, tail) = rest.split_at(at + "resource version: ".len());
        out.push_str(head);
        let digits = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        rest = &tail[digits..];
        if digits > 0 {
            out.push_str("<rv>");
        }
        if let Some(inner) = rest.strip_prefix(" (")
            && let Some(close) = inner.find(')')
            && inner[..close].chars().all(|c| c.is_ascii_digit())
        {
            out.push_str(" (<rv>)");
            rest = &inner[close + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Table cells of `date` columns are ages.
fn normalise_table(map: &mut Map<String, Value>) {
    let Some(Value::Array(columns)) = map.get("columnDefinitions") else {
        return;
    };
    let dates: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c["type"] == "date" || c["format"] == "date")
        .map(|(i, _)| i)
        .collect();
    if let Some(Value::Array(rows)) = map.get_mut("rows") {
        for row in rows {
            if let Some(Value::Array(cells)) = row.get_mut("cells") {
                for &i in &dates {
                    if let Some(cell) = cells.get_mut(i) {
                        *cell = json!("<age>");
                    }
                }
            }
        }
    }
}

/// RFC 3339 (with or without fractions): 2026-12-06T06:59:20Z.
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && text.ends_with('Z')
}

/// A v4 UUID.
fn is_uid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An age as kubectl and Table cells print it: 5s, 3m2s, 2d, <unknown>, <invalid>.
fn is_age(text: &str) -> bool {
    if text == "<unknown>" || text == "<invalid>" {
        return true;
    }
    let mut digits = false;
    let mut units = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits = true;
        } else if "smhdy".contains(c) && digits {
            digits = false;
            units = true;
        } else {
            return false;
        }
    }
    units && !digits
}

struct Difference {
    case: String,
    path: String,
    real: Value,
    emulator: Value,
}

/// Every leaf where `real` and `emulator` differ.
fn diff(case: &str, path: &str, real: &Value, emulator: &Value, out: &mut Vec<Difference>) {
    match (real, emulator) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let sub = format!("{path}.{key}");
                diff(case, &sub, value, b.get(key).unwrap_or(&Value::Null), out);
            }
            for (key, value) in b {
                if !a.contains_key(key) {
                    diff(case, &format!("{path}.{key}"), &Value::Null, value, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                diff(
                    case,
                    &format!("{path}[{i}]"),
                    a.get(i).unwrap_or(&Value::Null),
                    b.get(i).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if real != emulator => out.push(Difference {
            case: case.to_owned(),
            path: path.to_owned(),
            real: real.clone(),
            emulator: emulator.clone(),
        }),
        _ => {}
    }
}

fn known(difference: &Difference) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.case == difference.case && difference.path.starts_with(k.path))
}

// ---------------------------------------------------------------------------------------------
// The corpus

type CaseFuture<'a> = Pin<Box<dyn Future<Output = Value> + 'a>>;
type Case = for<'a> fn(&'a Side) -> CaseFuture<'a>;

/// The corpus: (name, case) in the order they run.
macro_rules! corpus {
    ($($name:ident),* $(,)?) => {
        const CORPUS: &[(&str, Case)] = &[$((stringify!($name), {
            fn boxed(side: &Side) -> CaseFuture<'_> {
                Box::pin($name(side))
            }
            boxed
        })),*];
    };
}

corpus![
    create,
    create_refused,
    apply_client_side,
    server_side_apply,
    patch_merge,
    patch_json,
    patch_strategic,
    status_subresource,
    finalizers,
    watch_from_resource_version,
    watch_streaming_list,
    watch_too_old,
    selectors,
    tables,
    discovery,
    explain,
];

const GROUP_PATH: &str = "/apis/mithril.ai/v1alpha1/namespaces/{ns}";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const AS_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn spot_bid(name: &str) -> Value {
    json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": "SpotBid",
        "metadata": {"name": name, "labels": {"team": "research"}},
        "spec": {
            "project": "demo",
            "region": "us-central1-a",
            "instanceType": "h100-80gb.sxm.8x",
            "instanceQuantity": 1,
            "limitPrice": "$12.50",
        },
    })
}

fn spot_bids() -> String {
    format!("{GROUP_PATH}/spotbids")
}

fn spot_bid_path(name: &str) -> String {
    format!("{GROUP_PATH}/spotbids/{name}")
}

const SCHEDULE_YAML: &str = "apiVersion: mithril.ai/v1alpha1
kind: InstanceSchedule
metadata:
  name: working-hours
spec:
  project: demo
  selector:
    filter:
      instanceType: a100-80gb.sxm.8x
      region: eu-central1-a
  timeZone: Europe/Berlin
  windows:
    - days: [Monday, Tuesday, Wednesday, Thursday, Friday]
      start: \"08:00\"
      end: \"19:00\"
  minimumPause: 1h
";

/// POST of a custom resource and a ConfigMap (also with generateName), kubectl create, GET.
async fn create(s: &Side) -> Value {
    let posted = s
        .call("POST", &spot_bids(), None, Some(spot_bid("created")))
        .await;
    let fetched = s.call("GET", &spot_bid_path("created"), None, None).await;
    let config_map = s
        .call(
            "POST",
            "/api/v1/namespaces/{ns}/configmaps",
            None,
            Some(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"generateName": "settings-"},
                "data": {"mode": "fast"},
            })),
        )
        .await;
    let kubectl = s
        .kubectl_ns(&[
            "create",
            "configmap",
            "literal",
            "--from-literal=a=1",
            "-o",
            "json",
        ])
        .await;
    let manifest = s.file("schedule.yaml", SCHEDULE_YAML);
    let schedule = s.kubectl_ns(&["create", "-f", &manifest]).await;
    json!({"post": posted, "get": fetched, "configmap": config_map, "kubectl": kubectl,
           "schedule": schedule})
}

/// A second create of one name, an invalid object, an unknown field under strict validation.
async fn create_refused(s: &Side) -> Value {
    s.call("POST", &spot_bids(), None, Some(spot_bid("twice")))
        .await;
    let again = s
        .call("POST", &spot_bids(), None, Some(spot_bid("twice")))
        .await;
    let mut invalid = spot_bid("invalid");
    invalid["spec"]["instanceQuantity"] = json!(0);
    invalid["spec"]
        .as_object_mut()
        .unwrap()
        .remove("instanceType");
    let invalid = s.call("POST", &spot_bids(), None, Some(invalid)).await;
    let mut unknown = spot_bid("unknown");
    unknown["spec"]["colour"] = json!("blue");
    let strict = s
        .call(
            "POST",
            &format!("{}?fieldValidation=Strict", spot_bids()),
            None,
            Some(unknown.clone()),
        )
        .await;
    let warned = s
        .call(
            "POST",
            &format!("{}?fieldValidation=Warn", spot_bids()),
            None,
            Some(unknown),
        )
        .await;
    let missing = s.call("GET", &spot_bid_path("absent"), None, None).await;
    json!({"again": again, "invalid": invalid, "strict": strict, "warned": warned,
           "missing": missing})
}

/// kubectl apply (client-side): create, change, unchanged.
async fn apply_client_side(s: &Side) -> Value {
    let mut bid = spot_bid("applied");
    let first = s.file("applied.json", &bid.to_string());
    let created = s.kubectl_ns(&["apply", "-f", &first]).await;
    bid["spec"]["limitPrice"] = json!("$13.00");
    bid["metadata"]["labels"] = json!({"tier": "gold"});
    let second = s.file("applied.json", &bid.to_string());
    let changed = s.kubectl_ns(&["apply", "-f", &second, "-o", "json"]).await;
    let unchanged = s.kubectl_ns(&["apply", "-f", &second]).await;
    json!({"created": created, "changed": changed, "unchanged": unchanged})
}

/// Server-side apply by two managers: a conflict, then force; kubectl apply --server-side.
async fn server_side_apply(s: &Side) -> Value {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("mithril.ai", "v1alpha1", "SpotBid"),
        "spotbids",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.namespace, &resource);
    let answer = |result: kube::Result<DynamicObject>| match result {
        Ok(object) => serde_json::to_value(object).unwrap(),
        Err(kube::Error::Api(status)) => serde_json::to_value(*status).unwrap(),
        Err(other) => json!(other.to_string()),
    };
    let mut bid = spot_bid("ssa");
    let alpha = answer(
        api.patch("ssa", &PatchParams::apply("alpha"), &Patch::Apply(&bid))
            .await,
    );
    bid["spec"]["limitPrice"] = json!("$14.00");
    let conflict = answer(
        api.patch("ssa", &PatchParams::apply("beta"), &Patch::Apply(&bid))
            .await,
    );
    let forced = answer(
        api.patch(
            "ssa",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(&bid),
        )
        .await,
    );
    bid["spec"]["limitPrice"] = json!("$15.00");
    let manifest = s.file("ssa.json", &bid.to_string());
    let kubectl_conflict = s
        .kubectl_ns(&["apply", "--server-side", "-f", &manifest])
        .await;
    let kubectl_forced = s
        .kubectl_ns(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &manifest,
            "-o",
            "json",
        ])
        .await;
    json!({"alpha": alpha, "conflict": conflict, "forced": forced,
           "kubectl_conflict": kubectl_conflict, "kubectl_forced": kubectl_forced})
}

async fn patch_merge(s: &Side) -> Value {
    s.call("POST", &spot_bids(), None, Some(spot_bid("merged")))
        .await;
    let path = spot_bid_path("merged");
    let patched = s
        .call(
            "PATCH",
            &path,
            Some(MERGE),
            Some(
                json!({"metadata": {"labels": {"team": null, "tier": "gold"}},
                        "spec": {"paused": true, "regions": ["us-central1-b"]}}),
            ),
        )
        .await;
    let invalid = s
        .call(
            "PATCH",
            &path,
            Some(MERGE),
            Some(json!({"spec": {"instanceQuantity": -1}})),
        )
        .await;
    let kubectl = s
        .kubectl_ns(&[
            "patch",
            "spotbid",
            "merged",
            "--type=merge",
            "-p",
            r#"{"spec":{"paused":false}}"#,
        ])
        .await;
    json!({"patched": patched, "invalid": invalid, "kubectl": kubectl})
}

async fn patch_json(s: &Side) -> Value {
    s.call("POST", &spot_bids(), None, Some(spot_bid("jsonpatched")))
        .await;
    let path = spot_bid_path("jsonpatched");
    let patched = s
        .call(
            "PATCH",
            &path,
            Some(JSON_PATCH),
            Some(json!([
                {"op": "test", "path": "/spec/instanceQuantity", "value": 1},
                {"op": "replace", "path": "/spec/limitPrice", "value": "$13.00"},
                {"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
                {"op": "remove", "path": "/metadata/labels/team"},
            ])),
        )
        .await;
    let failed_test = s
        .call(
            "PATCH",
            &path,
            Some(JSON_PATCH),
            Some(json!([{"op": "test", "path": "/spec/instanceQuantity", "value": 7}])),
        )
        .await;
    let missing_path = s
        .call(
            "PATCH",
            &path,
            Some(JSON_PATCH),
            Some(json!([{"op": "remove", "path": "/spec/nothing"}])),
        )
        .await;
    let kubectl = s
        .kubectl_ns(&[
            "patch",
            "spotbid",
            "jsonpatched",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/paused","value":true}]"#,
        ])
        .await;
    json!({"patched": patched, "failed_test": failed_test, "missing_path": missing_path,
           "kubectl": kubectl})
}

/// Strategic merge patch: on a ConfigMap (finalizers merge, data), refused on a custom resource.
async fn patch_strategic(s: &Side) -> Value {
    s.call(
        "POST",
        "/api/v1/namespaces/{ns}/configmaps",
        None,
        Some(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "strategic", "labels": {"a": "1"}},
            "data": {"one": "1", "two": "2"},
        })),
    )
    .await;
    let path = "/api/v1/namespaces/{ns}/configmaps/strategic";
    let patched = s
        .call(
            "PATCH",
            path,
            Some(STRATEGIC),
            Some(json!({"metadata": {"labels": {"b": "2"}}, "data": {"one": null, "three": "3"}})),
        )
        .await;
    let kubectl = s
        .kubectl_ns(&[
            "patch",
            "configmap",
            "strategic",
            "-p",
            r#"{"data":{"four":"4"}}"#,
            "-o",
            "json",
        ])
        .await;
    s.call("POST", &spot_bids(), None, Some(spot_bid("strategic")))
        .await;
    let custom = s
        .call(
            "PATCH",
            &spot_bid_path("strategic"),
            Some(STRATEGIC),
            Some(json!({"spec": {"paused": true}})),
        )
        .await;
    let kubectl_custom = s
        .kubectl_ns(&[
            "patch",
            "spotbid",
            "strategic",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ])
        .await;
    json!({"patched": patched, "kubectl": kubectl, "custom": custom,
           "kubectl_custom": kubectl_custom})
}

/// The status subresource takes status only; the main resource ignores status.
async fn status_subresource(s: &Side) -> Value {
    s.call("POST", &spot_bids(), None, Some(spot_bid("statused")))
        .await;
    let path = spot_bid_path("statused");
    let status = s
        .call(
            "PATCH",
            &format!("{path}/status"),
            Some(MERGE),
            Some(
                json!({"status": {"phase": "Pending", "observedGeneration": 1},
                        "spec": {"limitPrice": "$99.00"}}),
            ),
        )
        .await;
    let main = s
        .call(
            "PATCH",
            &path,
            Some(MERGE),
            Some(json!({"status": {"phase": "Open"}, "spec": {"limitPrice": "$13.00"}})),
        )
        .await;
    let invalid = s
        .call(
            "PATCH",
            &format!("{path}/status"),
            Some(MERGE),
            Some(json!({"status": {"phase": "Sleeping"}})),
        )
        .await;
    let get_status = s.call("GET", &format!("{path}/status"), None, None).await;
    let kubectl = s
        .kubectl_ns(&[
            "patch",
            "spotbid",
            "statused",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Open"}}"#,
        ])
        .await;
    json!({"status": status, "main": main, "invalid": invalid, "get_status": get_status,
           "kubectl": kubectl})
}

/// Delete with a finalizer marks the object; removing the finalizer deletes it. Plain deletes
/// and a dry-run create beside.
async fn finalizers(s: &Side) -> Value {
    let mut bid = spot_bid("held");
    bid["metadata"]["finalizers"] = json!(["mithril.ai/test-hold"]);
    s.call("POST", &spot_bids(), None, Some(bid)).await;
    let path = spot_bid_path("held");
    let deleted = s.call("DELETE", &path, None, None).await;
    let marked = s.call("GET", &path, None, None).await;
    let edit = s
        .call(
            "PATCH",
            &path,
            Some(MERGE),
            Some(json!({"spec": {"limitPrice": "$13.00"}})),
        )
        .await;
    let add_finalizer = s
        .call(
            "PATCH",
            &path,
            Some(JSON_PATCH),
            Some(json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "x.ai/new"}])),
        )
        .await;
    let deleted_again = s.call("DELETE", &path, None, None).await;
    let released = s
        .call(
            "PATCH",
            &path,
            Some(MERGE),
            Some(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    let gone = s.call("GET", &path, None, None).await;
    let kubectl_mark = {
        let mut bid = spot_bid("held-kubectl");
        bid["metadata"]["finalizers"] = json!(["mithril.ai/test-hold"]);
        s.call("POST", &spot_bids(), None, Some(bid)).await;
        s.kubectl_ns(&["delete", "spotbid", "held-kubectl", "--wait=false"])
            .await
    };
    // Without finalizers: gone at once; the answer to a DELETE of a built-in and of a custom resource.
    s.call("POST", &spot_bids(), None, Some(spot_bid("plain")))
        .await;
    let plain = s.call("DELETE", &spot_bid_path("plain"), None, None).await;
    s.call(
        "POST",
        "/api/v1/namespaces/{ns}/configmaps",
        None,
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}})),
    )
    .await;
    let plain_builtin = s
        .call(
            "DELETE",
            "/api/v1/namespaces/{ns}/configmaps/plain",
            None,
            None,
        )
        .await;
    let dry_run = s
        .call(
            "POST",
            &format!("{}?dryRun=All", spot_bids()),
            None,
            Some(spot_bid("dry")),
        )
        .await;
    let not_stored = s.call("GET", &spot_bid_path("dry"), None, None).await;
    json!({"deleted": deleted, "marked": marked, "edit": edit, "add_finalizer": add_finalizer,
           "deleted_again": deleted_again, "released": released, "gone": gone,
           "kubectl_mark": kubectl_mark, "plain": plain, "plain_builtin": plain_builtin,
           "dry_run": dry_run, "not_stored": not_stored})
}

/// Consecutive bookmarks (their number depends on timing) become one.
fn collapse_bookmarks(events: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for event in events {
        if event["type"] == "BOOKMARK" && out.last().is_some_and(|e| e["type"] == "BOOKMARK") {
            continue;
        }
        out.push(event);
    }
    out
}

/// A watch from a list's resourceVersion with bookmarks, across create, update and delete.
async fn watch_from_resource_version(s: &Side) -> Value {
    let list = s
        .call(
            "GET",
            &format!("{}?labelSelector=watch%3Done", spot_bids()),
            None,
            None,
        )
        .await;
    let rv = list["body"]["metadata"]["resourceVersion"]
        .as_str()
        .expect("a list resourceVersion")
        .to_owned();
    let path = format!(
        "{}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=4&labelSelector=watch%3Done",
        spot_bids()
    );
    let watch = s.watch(&path);
    let writes = async {
        let mut bid = spot_bid("watched");
        bid["metadata"]["labels"] = json!({"watch": "one"});
        s.call("POST", &spot_bids(), None, Some(bid)).await;
        s.call(
            "PATCH",
            &spot_bid_path("watched"),
            Some(MERGE),
            Some(json!({"spec": {"limitPrice": "$13.00"}})),
        )
        .await;
        // Leaves the selector: DELETED for this watch.
        s.call(
            "PATCH",
            &spot_bid_path("watched"),
            Some(MERGE),
            Some(json!({"metadata": {"labels": {"watch": "two"}}})),
        )
        .await;
        s.call("DELETE", &spot_bid_path("watched"), None, None)
            .await;
    };
    let (events, ()) = tokio::join!(watch, writes);
    // kube-apiserver times its bookmarks per watcher (about a minute apart, one shortly before
    // the timeout): whether one lands in a 4 s watch varies. Compared: the other events, and
    // that every bookmark carries only kind, apiVersion and resourceVersion.
    let (bookmarks, changes): (Vec<Value>, Vec<Value>) =
        events.into_iter().partition(|e| e["type"] == "BOOKMARK");
    let well_formed = bookmarks.iter().all(|b| {
        let object = &b["object"];
        object.as_object().is_some_and(|o| o.len() == 3)
            && object["metadata"].as_object().is_some_and(|m| m.len() == 1)
            && object["metadata"]["resourceVersion"].is_string()
            && object["kind"] == "SpotBid"
            && object["apiVersion"] == "mithril.ai/v1alpha1"
    });
    json!({"events": changes, "bookmarks_well_formed": well_formed})
}

/// A streaming list: ADDED for what exists, then the bookmark ending the initial events.
async fn watch_streaming_list(s: &Side) -> Value {
    let mut bid = spot_bid("streamed");
    bid["metadata"]["labels"] = json!({"stream": "yes"});
    s.call("POST", &spot_bids(), None, Some(bid)).await;
    let path = format!(
        "{}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1&labelSelector=stream%3Dyes",
        spot_bids()
    );
    let events = s.watch(&path).await;
    json!({"events": collapse_bookmarks(events)})
}

/// A resourceVersion from before the resource type existed: 410 Expired, as an ERROR event of a
/// watch and as the answer to an exact list.
async fn watch_too_old(s: &Side) -> Value {
    let watch = s
        .watch(&format!(
            "{}?watch=1&resourceVersion=1&timeoutSeconds=2",
            spot_bids()
        ))
        .await;
    let bad = s
        .call(
            "GET",
            &format!(
                "{}?watch=1&resourceVersion=abc&timeoutSeconds=1",
                spot_bids()
            ),
            None,
            None,
        )
        .await;
    json!({"watch": watch, "bad": bad})
}

/// Label and field selectors on a built-in and a custom resource, and an unsupported field.
async fn selectors(s: &Side) -> Value {
    for (name, tier) in [("sel-a", "gold"), ("sel-b", "silver"), ("sel-c", "gold")] {
        s.call(
            "POST",
            "/api/v1/namespaces/{ns}/configmaps",
            None,
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": {"tier": tier, "sel": "yes"}}})),
        )
        .await;
        let mut bid = spot_bid(name);
        bid["metadata"]["labels"] = json!({"tier": tier, "sel": "yes"});
        s.call("POST", &spot_bids(), None, Some(bid)).await;
    }
    let names = |list: &Value| -> Value {
        let items = list["body"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        json!({
            "code": list["code"],
            "names": items.iter().map(|i| i["metadata"]["name"].clone()).collect::<Vec<_>>(),
            "status": if list["code"] == 200 { Value::Null } else { list["body"].clone() },
        })
    };
    let mut out = Map::new();
    for (label, query) in [
        ("label_equal", "labelSelector=sel%3Dyes,tier%3Dgold"),
        ("label_set", "labelSelector=sel%3Dyes,tier%20notin%20(gold)"),
        ("label_exists", "labelSelector=sel,!absent"),
        ("field_name", "fieldSelector=metadata.name%3Dsel-b"),
        (
            "field_not",
            "fieldSelector=metadata.name!%3Dsel-b&labelSelector=sel",
        ),
        (
            "field_namespace",
            "fieldSelector=metadata.namespace%3D{ns}&labelSelector=sel",
        ),
        ("field_unknown", "fieldSelector=spec.region%3Dus-central1-a"),
        ("label_invalid", "labelSelector=tier%3D%3D%3Dgold"),
        ("paged", "labelSelector=sel&limit=2"),
    ] {
        let query = query.replace("{ns}", &s.namespace);
        let config_maps = s
            .call(
                "GET",
                &format!("/api/v1/namespaces/{{ns}}/configmaps?{query}"),
                None,
                None,
            )
            .await;
        let bids = s
            .call("GET", &format!("{}?{query}", spot_bids()), None, None)
            .await;
        out.insert(
            label.to_owned(),
            json!({"configmaps": names(&config_maps), "spotbids": names(&bids),
                   "continue": bids["body"]["metadata"]["continue"],
                   "remaining": bids["body"]["metadata"]["remainingItemCount"]}),
        );
    }
    out.insert(
        "kubectl".to_owned(),
        s.kubectl_ns(&[
            "get",
            "spotbids",
            "-l",
            "tier=gold",
            "--field-selector",
            "metadata.name!=sel-a",
            "-o",
            "name",
        ])
        .await,
    );
    Value::Object(out)
}

/// Tables: kubectl get for both CRDs (also -o wide) and two built-ins, and the Table JSON itself.
async fn tables(s: &Side) -> Value {
    let mut bid = spot_bid("tabled");
    bid["metadata"]["labels"] = json!({"table": "yes"});
    s.call("POST", &spot_bids(), None, Some(bid)).await;
    s.call(
        "PATCH",
        &format!("{}/status", spot_bid_path("tabled")),
        Some(MERGE),
        Some(json!({"status": {"phase": "Open", "region": "us-central1-a", "limitPrice": "$12.50",
                               "ready": "0/1",
                               "conditions": [{"type": "Synced", "status": "True", "reason": "Placed",
                                               "message": "placed", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
    )
    .await;
    let manifest = s.file(
        "table-schedule.yaml",
        &SCHEDULE_YAML.replace("working-hours", "tabled"),
    );
    s.kubectl_ns(&["apply", "-f", &manifest]).await;
    s.call(
        "POST",
        "/api/v1/namespaces/{ns}/configmaps",
        None,
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "tabled", "labels": {"table": "yes"}},
                    "data": {"a": "1", "b": "2"}})),
    )
    .await;
    s.call(
        "POST",
        "/api/v1/namespaces/{ns}/events",
        None,
        Some(json!({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "tabled.1", "labels": {"table": "yes"}},
                    "involvedObject": {"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
                                       "name": "tabled", "namespace": s.namespace},
                    "reason": "Placed", "message": "bid placed", "type": "Normal",
                    "source": {"component": "mithril-operator"},
                    "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
                    "count": 1})),
    )
    .await;
    let mut out = Map::new();
    for (label, args) in [
        ("spotbids", vec!["get", "spotbids", "-l", "table=yes"]),
        (
            "spotbids_wide",
            vec!["get", "spotbids", "-l", "table=yes", "-o", "wide"],
        ),
        ("instanceschedules", vec!["get", "instanceschedules"]),
        (
            "instanceschedules_wide",
            vec!["get", "instanceschedules", "-o", "wide"],
        ),
        ("configmaps", vec!["get", "configmaps", "-l", "table=yes"]),
        ("events", vec!["get", "events"]),
        ("events_wide", vec!["get", "events", "-o", "wide"]),
        (
            "labels",
            vec!["get", "spotbids", "-l", "table=yes", "--show-labels"],
        ),
        (
            "custom_columns",
            vec![
                "get",
                "spotbids",
                "-l",
                "table=yes",
                "-o",
                "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
            ],
        ),
    ] {
        out.insert(label.to_owned(), s.kubectl_ns(&args).await);
    }
    for (label, path) in [
        (
            "table_spotbids",
            format!("{}?labelSelector=table%3Dyes", spot_bids()),
        ),
        ("table_schedules", format!("{GROUP_PATH}/instanceschedules")),
        (
            "table_configmaps",
            "/api/v1/namespaces/{ns}/configmaps?labelSelector=table%3Dyes".to_owned(),
        ),
        (
            "table_events",
            "/api/v1/namespaces/{ns}/events?labelSelector=table%3Dyes".to_owned(),
        ),
        ("table_one", spot_bid_path("tabled")),
    ] {
        out.insert(
            label.to_owned(),
            s.call_accept("GET", &path, None, Some(AS_TABLE), None)
                .await,
        );
    }
    // One object of each other built-in the emulator serves, and its Table.
    let built_ins = [
        (
            "/api/v1/namespaces/{ns}/secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tabled"}, "type": "Opaque", "data": {"a": "eA=="}}),
        ),
        (
            "/api/v1/namespaces/{ns}/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "tabled"},
                   "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}),
        ),
        (
            "/api/v1/namespaces/{ns}/serviceaccounts",
            json!({"apiVersion": "v1",
            "kind": "ServiceAccount", "metadata": {"name": "tabled"}}),
        ),
        (
            "/apis/apps/v1/namespaces/{ns}/deployments",
            json!({"apiVersion": "apps/v1",
            "kind": "Deployment", "metadata": {"name": "tabled"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
            json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "tabled"}, "spec": {"holderIdentity": "me"}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "tabled"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
            json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "tabled"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tabled"},
            "subjects": [{"kind": "ServiceAccount", "name": "tabled", "namespace": s.namespace},
                         {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ann"}]}),
        ),
        (
            "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
            json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "tabled"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
            json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "tabled"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}),
        ),
    ];
    for (path, object) in built_ins {
        s.call("POST", path, None, Some(object)).await;
        // Rows without their objects: built-ins are schemaless in the emulator (their managed
        // fields follow the object's shape, not the Go type's), see the README.
        let table = s
            .call_accept(
                "GET",
                &format!("{path}?includeObject=None"),
                None,
                Some(AS_TABLE),
                None,
            )
            .await;
        out.insert(format!("table {path}"), table);
    }
    // Cluster-scoped kinds: a real server has objects of its own, so the columns only, and the
    // row of the project's CRD.
    for path in [
        "/api/v1/namespaces?limit=1",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=1",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?limit=1",
        "/apis/events.k8s.io/v1/namespaces/{ns}/events",
    ] {
        let table = s.call_accept("GET", path, None, Some(AS_TABLE), None).await;
        out.insert(
            format!("columns {path}"),
            json!({"code": table["code"], "columns": table["body"]["columnDefinitions"]}),
        );
    }
    let crd = s
        .call_accept(
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldSelector=metadata.name%3Dspotbids.mithril.ai",
            None,
            Some(AS_TABLE),
            None,
        )
        .await;
    out.insert(
        "table crd".to_owned(),
        json!({"columns": crd["body"]["columnDefinitions"],
               "cells": crd["body"]["rows"][0]["cells"]}),
    );
    Value::Object(out)
}

/// Discovery of the project's group, as kubectl and the client see it.
async fn discovery(s: &Side) -> Value {
    let api_resources = s
        .kubectl(&["api-resources", "--api-group=mithril.ai"])
        .await;
    let wide = s
        .kubectl(&["api-resources", "--api-group=mithril.ai", "-o", "wide"])
        .await;
    let versions = s.kubectl(&["api-versions"]).await;
    let mithril_versions = json!(
        versions["stdout"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|line| line[0]
                .as_str()
                .is_some_and(|v| v.starts_with("mithril.ai/")))
            .collect::<Vec<_>>()
    );
    let group = s.call("GET", "/apis/mithril.ai", None, None).await;
    let mut resources = s.call("GET", "/apis/mithril.ai/v1alpha1", None, None).await;
    // The real server lists a version's resources in its CRD cache's order, which varies from run
    // to run: compare them by name.
    if let Some(Value::Array(list)) = resources.pointer_mut("/body/resources") {
        list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    }
    json!({"api_resources": api_resources, "wide": wide, "versions": mithril_versions,
           "group": group, "resources": resources})
}

/// kubectl explain on the project's CRD: an object field and a list of strings.
async fn explain(s: &Side) -> Value {
    json!({
        "spec": s.kubectl(&["explain", "spotbid.spec"]).await,
        "regions": s.kubectl(&["explain", "spotbid.spec.regions"]).await,
        "pricing": s.kubectl(&["explain", "spotbids.spec.pricing.strategy"]).await,
        "schedule": s.kubectl(&["explain", "instanceschedule.spec.windows"]).await,
    })
}

// ---------------------------------------------------------------------------------------------

/// Installs the CRDs from crds/ and creates the namespace of this run.
async fn prepare(side: &Side) {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let applied = side
        .kubectl(&["apply", "-f", crds.to_str().expect("a UTF-8 path")])
        .await;
    assert_eq!(
        applied["ok"], true,
        "{}: CRDs install: {applied}",
        side.label
    );
    let established = side
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/spotbids.mithril.ai",
            "crd/instanceschedules.mithril.ai",
            "crd/spotpools.mithril.ai",
        ])
        .await;
    assert_eq!(established["ok"], true, "{}: {established}", side.label);
    let namespace = side
        .kubectl(&["create", "namespace", &side.namespace])
        .await;
    assert_eq!(namespace["ok"], true, "{}: {namespace}", side.label);
}

#[tokio::test]
async fn the_emulator_answers_as_a_real_api_server_does() {
    let Some(real_kubeconfig) = real::kubeconfig() else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED without a real API server: the_emulator_answers_as_a_real_api_server_does: \
             set MITHRIL_TEST_KUBE=real and MITHRIL_TEST_KUBECONFIG (see .ci/real-apiserver.sh)"
        );
        return;
    };
    let namespace = format!("diff-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let real = Side::connect(
        "real",
        real_kubeconfig,
        tempfile::tempdir().unwrap(),
        &namespace,
        None,
    )
    .await;
    let emulator = Emulator::new();
    let server = emulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, emulator.kubeconfig_yaml(server.addr)).unwrap();
    let emulated = Side::connect(
        "emulator",
        kubeconfig,
        dir,
        &namespace,
        Some((emulator, server)),
    )
    .await;
    prepare(&real).await;
    prepare(&emulated).await;

    let mut differences = Vec::new();
    for (name, case) in CORPUS {
        let mut from_real = case(&real).await;
        let mut from_emulator = case(&emulated).await;
        normalise(&mut from_real);
        normalise(&mut from_emulator);
        // For a closer look: both answers of every case as files.
        if let Some(dir) = std::env::var_os("MITHRIL_TEST_DIFF_DUMP") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("the dump folder");
            for (side, value) in [("real", &from_real), ("emulator", &from_emulator)] {
                let text = serde_json::to_string_pretty(value).unwrap();
                std::fs::write(dir.join(format!("{name}.{side}.json")), text).expect("a dump");
            }
        }
        diff(name, "", &from_real, &from_emulator, &mut differences);
    }

    let mut report = String::new();
    let mut unexplained = 0;
    for difference in &differences {
        let explanation = match known(difference) {
            Some(known) => format!("known: {}", known.readme),
            None => {
                unexplained += 1;
                "NOT KNOWN".to_owned()
            }
        };
        report.push_str(&format!(
            "{} {}\n    real:     {}\n    emulator: {}\n    ({explanation})\n",
            difference.case, difference.path, difference.real, difference.emulator
        ));
    }
    let _ = writeln!(
        std::io::stderr(),
        "differential corpus: {} cases in namespace {namespace}, {} differences ({} known)\n{report}",
        CORPUS.len(),
        differences.len(),
        differences.len() - unexplained,
    );
    let _ = real
        .kubectl(&["delete", "namespace", &namespace, "--wait=false"])
        .await;
    assert_eq!(
        unexplained, 0,
        "the emulator answered differently from the real server (report above)"
    );
    // An entry no difference needs any more is a limit fixed: the list (and the README) shrink.
    let stale: Vec<&str> = KNOWN
        .iter()
        .filter(|k| {
            !differences
                .iter()
                .any(|d| known(d).is_some_and(|m| (m.case, m.path) == (k.case, k.path)))
        })
        .map(|k| k.readme)
        .collect();
    assert!(
        stale.is_empty(),
        "known differences no longer seen: {stale:?}"
    );
}
