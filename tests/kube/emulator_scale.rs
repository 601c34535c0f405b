//! Scale: the measurement runs end to end and every count is right. Timings are printed, not asserted.
//! The 10,000-object figures: `cargo test --release --test kube -- emulator_scale:: --ignored --nocapture`.

use kube_emulator::scale::measure;

#[tokio::test]
async fn scale_measurement_is_consistent_for_a_small_cluster() {
    let figures = measure(1_200).await.unwrap();
    assert_eq!(figures.objects, 1_200);
    assert_eq!(figures.pages, 3);
    println!("{figures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn scale_figures_for_ten_thousand_objects() {
    let figures = measure(10_000).await.unwrap();
    assert_eq!(figures.pages, 20);
    println!("{figures}");
}
