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
            "--runs",
            "2",
            "--default-resync",
            "5m",
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

    assert!(
        stdout.contains("| N | Runs | Ready (s) | Floor (s) |"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|line| line.starts_with("| 50 | 2 |"))
        .unwrap_or_else(|| panic!("no row for N = 50 over two runs:\n{stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | N | Runs | Ready: median (min-max) | Floor | Ratio | converging requests | ...
    let ready: f64 = cells[3]
        .split(' ')
        .next()
        .and_then(|median| median.parse().ok())
        .expect("a median ready time");
    assert!(ready > 0.0, "{row}");
    // Convergence at the operator's default resync, beside it.
    assert!(
        stdout.contains("Converging at resync 300s"),
        "no default-resync table:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("| 50 | 2 | 300s |")),
        "no default-resync row:\n{stdout}"
    );
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
