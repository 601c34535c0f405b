//! `mithril-dev sim` as a process: it prints where it listens and answers real requests.

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts the binary and returns it with the base URL from its first stdout line.
async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mithril-dev"))
        .arg("sim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // A guard against a hung process, not a timing assertion.
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the simulator announces itself")
        .expect("read stdout")
        .expect("a line");
    let url = line
        .strip_prefix("mithril simulator listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    (child, url.to_owned())
}

async fn get(url: &str, path: &str, key: &str) -> (reqwest::StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("send");
    let status = response.status();
    // The simulator's crate checks every answer against the spec; here, only the command.
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
async fn the_command_serves_the_default_world() {
    let (mut child, url) = start(&["--seed", "3"]).await;
    let (status, projects) = get(&url, "/v2/projects", "fkey_cli_test").await;
    assert_eq!(status, 200);
    assert_eq!(projects[0]["name"], "demo");
    let (status, auctions) = get(&url, "/v2/spot/availability", "fkey_cli_test").await;
    assert_eq!(status, 200);
    assert_eq!(auctions.as_array().expect("auctions").len(), 15);
    let (status, _) = get(&url, "/v2/spot/bids", "not-a-key").await;
    assert_eq!(status, 401);
    child.kill().await.expect("stop the simulator");
}

#[tokio::test]
async fn the_command_takes_a_world_a_key_and_a_time_scale() {
    let world = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/mithril-sim/tests/fixtures/sim_world.yaml"
    );
    let (mut child, url) = start(&[
        "--world",
        world,
        "--api-key",
        "fkey_platform_admin",
        "--time-scale",
        "60",
    ])
    .await;
    let (status, _) = get(&url, "/v2/projects", "fkey_research_team").await;
    assert_eq!(status, 401, "only the configured key");
    let (status, projects) = get(&url, "/v2/projects", "fkey_platform_admin").await;
    assert_eq!(status, 200);
    assert_eq!(projects.as_array().expect("projects").len(), 2);
    let time: Value = reqwest::get(format!("{url}/_sim/time"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let now: jiff::Timestamp = time["now"]
        .as_str()
        .expect("now")
        .parse()
        .expect("timestamp");
    assert!(
        now >= "2025-06-01T08:00:00Z".parse().expect("start"),
        "the world's clock"
    );
    child.kill().await.expect("stop the simulator");
}
