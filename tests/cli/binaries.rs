//! The two executables: `mithril-operator` (what the image ships) offers the operator's commands
//! only, `mithril-dev` those and the development tools; both print the same CRDs; the deployed one
//! allocates with jemalloc.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(bin)
        .args(args)
        .output()
        .expect("the binary starts");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

const OPERATOR: &str = env!("CARGO_BIN_EXE_mithril-operator");
const DEV: &str = env!("CARGO_BIN_EXE_mithril-dev");

#[test]
fn the_deployed_binary_holds_the_operator_commands_only() {
    let (ok, help) = run(OPERATOR, &["--help"]);
    assert!(ok, "{help}");
    for command in ["run", "crds"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    for command in ["demo", "bench", "kube-emulator"] {
        assert!(!help.contains(command), "{command} offered by:\n{help}");
        let (ok, refused) = run(OPERATOR, &[command]);
        assert!(
            !ok && refused.contains("unrecognized subcommand"),
            "{refused}"
        );
    }
}

#[test]
fn the_development_binary_adds_the_tools_to_the_operator_commands() {
    let (ok, help) = run(DEV, &["--help"]);
    assert!(ok, "{help}");
    for command in ["run", "crds", "demo", "bench", "sim", "kube-emulator"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let (operator_ok, operator_crds) = run(OPERATOR, &["crds"]);
    let (dev_ok, dev_crds) = run(DEV, &["crds"]);
    assert!(operator_ok && dev_ok);
    assert_eq!(operator_crds, dev_crds);
    assert!(operator_crds.contains("kind: CustomResourceDefinition"));
}

/// The deployed binary's allocator is jemalloc (src/main.rs): asked through its run-time options
/// to print its statistics at exit, it does, with the options built into it
/// (`.cargo/config.toml`): freed pages go back to the system at once.
#[cfg(not(target_env = "msvc"))]
#[test]
fn the_deployed_binary_allocates_with_jemalloc() {
    let output = Command::new(OPERATOR)
        .arg("crds")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("the binary starts");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Begin jemalloc statistics"),
        "no jemalloc statistics in:\n{stderr}"
    );
    assert!(
        stderr.contains("opt.dirty_decay_ms: 0 "),
        "freed pages kept:\n{stderr}"
    );
}
