//! The Argo CD health check in `deploy/argocd/`, run by a Lua 5.1 interpreter (Argo CD runs
//! these scripts in gopher-lua, a Lua 5.1) on SpotBids and InstanceSchedules in every state.
//!
//! Needs `lua5.1` (Debian: `apt-get install lua5.1`) or the interpreter named by `MITHRIL_LUA`;
//! without one, each test says why it is skipped and passes (fails if `MITHRIL_REQUIRE_TOOLS` names lua).

use serde_json::{Value, json};
use std::path::PathBuf;

fn argocd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd")
}

fn script() -> String {
    std::fs::read_to_string(argocd_dir().join("health.lua")).unwrap()
}

/// The interpreter: `MITHRIL_LUA`, else the first of lua5.1, luajit, lua on the PATH.
fn lua() -> Option<String> {
    if let Some(path) = std::env::var_os("MITHRIL_LUA") {
        return Some(path.to_string_lossy().into_owned());
    }
    ["lua5.1", "luajit", "lua"]
        .into_iter()
        .map(str::to_owned)
        .find(|name| {
            std::process::Command::new(name)
                .args(["-e", "os.exit(0)"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// A JSON value as a Lua literal; JSON null is nil, as Argo CD hands objects to Lua.
fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_literal).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{k:?}] = {}", lua_literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Runs the health check on `object`: (status, message).
fn health(lua: &str, object: &Value) -> (String, String) {
    let program = format!(
        "obj = {}\nlocal hs = (function()\n{}\nend)()\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        lua_literal(object),
        script()
    );
    let output = std::process::Command::new(lua)
        .args(["-e", &program])
        .output()
        .expect("the Lua interpreter runs");
    assert!(
        output.status.success(),
        "the health check failed on {object}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap();
    (status.to_owned(), message.to_owned())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2})
}

fn object(kind: &str, generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "mithril.ai/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ml", "generation": generation},
        "spec": {},
        "status": status,
    })
}

#[test]
fn the_configmap_patch_holds_the_script_for_both_kinds() {
    let text = std::fs::read_to_string(argocd_dir().join("argocd-cm-patch.yaml")).unwrap();
    let patch: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(patch["kind"], "ConfigMap");
    assert_eq!(patch["metadata"]["name"], "argocd-cm");
    let data = patch["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "resource.customizations.health.mithril.ai_SpotBid",
            "resource.customizations.health.mithril.ai_InstanceSchedule"
        ]
    );
    for (key, value) in data {
        assert_eq!(
            value.as_str(),
            Some(script().as_str()),
            "{key} is health.lua"
        );
    }
}

#[test]
fn health_follows_the_conditions_and_the_observed_generation() {
    let Some(lua) = lua() else {
        crate::skip_without_tool(
            "lua",
            "no Lua 5.1 interpreter (apt-get install lua5.1, or set MITHRIL_LUA)",
        );
        return;
    };
    let ready = condition("Ready", "True", "Running", "2/2 instances running");
    let synced = condition("Synced", "True", "Synced", "");
    let cases = [
        (
            "no status yet",
            json!({"apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
                   "metadata": {"name": "x", "generation": 1}, "spec": {}}),
            "Progressing",
            "Waiting for the operator to report a status",
        ),
        (
            "a spec the operator has not seen",
            object(
                "SpotBid",
                3,
                json!({"observedGeneration": 2, "phase": "Allocated",
                "conditions": [ready.clone(), synced.clone()]}),
            ),
            "Progressing",
            "Waiting for the operator to observe generation 3",
        ),
        (
            "allocated and synced",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Allocated",
                "conditions": [ready.clone(), synced.clone()]}),
            ),
            "Healthy",
            "Running: 2/2 instances running",
        ),
        (
            "waiting for capacity",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Open",
                "conditions": [condition("Ready", "False", "WaitingForCapacity", "open at $12.50"), synced.clone()]}),
            ),
            "Progressing",
            "WaitingForCapacity: open at $12.50",
        ),
        (
            "a key Mithril rejects",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Failed",
                "conditions": [condition("Ready", "False", "BidNotPlaced", ""),
                               condition("Synced", "False", "InvalidApiKey", "Mithril rejected the API key (401)")]}),
            ),
            "Degraded",
            "InvalidApiKey: Mithril rejected the API key (401)",
        ),
        (
            "phase Failed whatever the reason",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Failed",
                "conditions": [condition("Synced", "False", "SomethingNew", "new")]}),
            ),
            "Degraded",
            "SomethingNew: new",
        ),
        (
            "Mithril down: retried",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Allocated",
                "conditions": [ready.clone(), condition("Synced", "False", "MithrilUnavailable", "503")]}),
            ),
            "Progressing",
            "MithrilUnavailable: 503",
        ),
        (
            "a paused bid",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2, "phase": "Paused",
                "conditions": [condition("Ready", "False", "Paused", "the bid is paused"), synced.clone()]}),
            ),
            "Suspended",
            "Paused: the bid is paused",
        ),
        (
            "reconcile paused by annotation",
            object(
                "SpotBid",
                2,
                json!({"observedGeneration": 2,
                "conditions": [condition("Synced", "False", "ReconcilePaused", "annotation")]}),
            ),
            "Suspended",
            "ReconcilePaused: annotation",
        ),
        (
            "conditions from an older generation",
            object(
                "SpotBid",
                3,
                json!({"observedGeneration": 3,
                "conditions": [ready.clone(), synced.clone()]}),
            ),
            "Progressing",
            "Waiting for the Ready and Synced conditions",
        ),
        (
            "a schedule in its wanted state",
            object(
                "InstanceSchedule",
                2,
                json!({"observedGeneration": 2, "wantedState": "Paused",
                "conditions": [condition("Ready", "True", "InState", "4/4"), synced.clone()]}),
            ),
            "Healthy",
            "InState: 4/4",
        ),
        (
            "two schedules selecting one instance",
            object(
                "InstanceSchedule",
                2,
                json!({"observedGeneration": 2,
                "conditions": [condition("Ready", "False", "NotInState", "3/4"),
                               condition("Synced", "False", "Conflict", "inst_a is also selected by other")]}),
            ),
            "Degraded",
            "Conflict: inst_a is also selected by other",
        ),
        (
            "a suspended schedule",
            object(
                "InstanceSchedule",
                2,
                json!({"observedGeneration": 2,
                "conditions": [condition("Synced", "False", "Suspended", "")]}),
            ),
            "Suspended",
            "Suspended",
        ),
        (
            "a schedule still acting",
            object(
                "InstanceSchedule",
                2,
                json!({"observedGeneration": 2,
                "conditions": [condition("Ready", "False", "NotInState", "1/2"), synced.clone()]}),
            ),
            "Progressing",
            "NotInState: 1/2",
        ),
    ];
    for (case, object, status, message) in cases {
        assert_eq!(
            health(&lua, &object),
            (status.to_owned(), message.to_owned()),
            "{case}"
        );
    }
}

/// The Lua table of reasons that retrying cannot fix holds every reason the operator classes as
/// the user's to fix (a new one would otherwise show as Progressing for good), and only known ones.
#[test]
fn every_reason_only_a_user_can_fix_is_degraded() {
    use mithril_operator::crd::Reason;
    let script = script();
    let start = script
        .find("local terminal = {")
        .expect("the terminal table");
    let end = start + script[start..].find('}').expect("its end");
    let listed: Vec<&str> = script[start..end]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '=' || c == ' '))
        .filter_map(|entry| entry.trim().strip_suffix("= true"))
        .map(str::trim)
        .collect();
    for name in &listed {
        assert!(
            Reason::parse(name).is_some(),
            "{name} is no reason of the operator"
        );
    }
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .filter(|reason| reason.is_users_problem())
        .map(|reason| reason.as_str())
        .filter(|name| !listed.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "health.lua's terminal table lacks {missing:?}"
    );
}
