//! The operator as the image builds it (`--no-default-features`) compiles none of the development
//! tools: not the simulator, not the emulator, nor what only they need.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates only the simulator and the emulator bring in.
const DEVELOPMENT_ONLY: [&str; 6] = [
    "mithril-sim",
    "kube-emulator",
    "cel",
    "jsonschema",
    "k8s-pb",
    "h2",
];

/// The packages `mithril-operator` compiles (normal and build dependencies) with `features`.
fn packages(features: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "mithril-operator", "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}", "--offline"])
        .args(features)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_image_build_compiles_no_development_tool() {
    let shipped = packages(&["--no-default-features"]);
    let found: Vec<&str> = DEVELOPMENT_ONLY
        .into_iter()
        .filter(|name| shipped.contains(*name))
        .collect();
    assert!(found.is_empty(), "the image build compiles {found:?}");
    // The names are right: the development build does compile them.
    let development = packages(&[]);
    for name in DEVELOPMENT_ONLY {
        assert!(
            development.contains(name),
            "{name} not in the development build"
        );
    }
}
