//! `mithril-dev bench` at a small size: the command runs the operator as a separate process,
//! every resource becomes Ready (the command fails otherwise), and the tables are printed with
//! every trigger named. No figure is asserted: timings belong in the printed table.

use std::process::Command;

#[test]
fn bench_at_fifty_resources_prints_the_tables() {
    let output = Command::new(env!("CARGO_BIN_EXE_mithril-dev"))
        .args([
            "bench",
            "--resources",
            "50",
            "--seed",
            "7",
            "--latency-samples",
            "5",
            "--steady-resyncs",
            "2",
            "--timeout",
            "2m",
        ])
        .output()
        .expect("the bench command starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    println!("{stdout}");

    assert!(stdout.contains("| N | Ready (s) | Floor (s) |"), "{stdout}");
    let row = stdout
        .lines()
        .find(|line| line.starts_with("| 50 |"))
        .unwrap_or_else(|| panic!("no row for N = 50:\n{stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | N | Ready | Floor | Ratio | converging requests | ...
    let ready: f64 = cells[2].parse().expect("a ready time");
    assert!(ready > 0.0, "{row}");
    let creates = stdout
        .lines()
        .find(|line| line.starts_with("| `POST /v2/spot/bids` |"))
        .expect("bid creations counted");
    assert!(
        creates.contains("| 50 |"),
        "one creation per resource while converging: {creates}"
    );
    // Every reconcile says what woke it: the watch, the Mithril changes, the paced resync.
    let triggers: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("Reconciles by trigger"))
        .filter(|line| line.starts_with("| spotbid: "))
        .collect();
    for named in [
        "spotbid: object_updated",
        "spotbid: mithril_change",
        "spotbid: paced_resync",
    ] {
        assert!(
            triggers
                .iter()
                .any(|row| row.starts_with(&format!("| {named} |"))),
            "no {named} row: {triggers:#?}"
        );
    }
    assert!(
        triggers.iter().all(|row| !row.contains("unknown")),
        "a trigger without a name: {triggers:#?}"
    );
}
