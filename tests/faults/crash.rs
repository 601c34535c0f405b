//! Crash consistency: the operator process is killed with SIGKILL at seeded random moments while
//! SpotBids are created and deleted. After a clean restart and convergence, Mithril holds exactly
//! one live bid per resource, no resource ever got two bids, and no bid outlives its resource.
//!
//! Sizes: `MITHRIL_FAULT_CRASH_RESOURCES` (default 40; full: 200), `MITHRIL_FAULT_CRASH_KILLS`
//! (default 6; full: 20), seed `MITHRIL_FAULT_SEED`.

use crate::support::faults::*;
use futures::{StreamExt, stream};
use kube::api::{Api, DeleteParams, PostParams};
use mithril_operator::crd::SpotBid;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_creates_and_deletes_leaves_one_bid_per_resource() {
    let resources = env_size("MITHRIL_FAULT_CRASH_RESOURCES", 40);
    let kills = env_size("MITHRIL_FAULT_CRASH_KILLS", 6);
    let seed = seed(20);
    let mut rng = StdRng::seed_from_u64(seed);
    // A third of the resources are deleted right after their creation.
    let deleted: BTreeSet<usize> = (0..resources)
        .filter(|_| rng.random_range(0..3) == 0)
        .collect();
    let kill_delays: Vec<Duration> = (0..kills)
        .map(|_| Duration::from_millis(rng.random_range(0..400)))
        .collect();
    let live: BTreeSet<String> = (0..resources)
        .filter(|index| !deleted.contains(index))
        .map(resource_name)
        .collect();

    let rig = rig(seed, u32::try_from(resources * 2).unwrap()).await;
    let spec = operator_spec();
    let mut operator = start_operator(&rig, &spec).await;

    let api: Api<SpotBid> = Api::namespaced(rig.kube.clone(), NAMESPACE);
    let workload = async {
        let indices: Vec<usize> = (0..resources).collect();
        for chunk in indices.chunks(10) {
            stream::iter(chunk.iter().copied())
                .for_each_concurrent(10, |index| {
                    let (api, deleted) = (api.clone(), &deleted);
                    async move {
                        let name = resource_name(index);
                        api.create(&PostParams::default(), &spot_bid(&name).unwrap())
                            .await
                            .expect("create");
                        if deleted.contains(&index) {
                            api.delete(&name, &DeleteParams::default())
                                .await
                                .expect("delete");
                        }
                    }
                })
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let crashes = async {
        for delay in &kill_delays {
            tokio::time::sleep(*delay).await;
            operator.kill().await.expect("kill -9");
            operator = start_operator(&rig, &spec).await;
        }
        operator
    };
    let ((), survivor) = tokio::join!(workload, crashes);
    // A clean restart, then convergence.
    survivor.kill().await.expect("kill -9");
    let _operator = start_operator(&rig, &spec).await;
    wait_converged(&rig, &live).await;
    wait_for("one live bid per live resource", || async {
        let audit = audit(&rig).await;
        audit.live_bids == live.len() && audit.missing == 0 && audit.leaked == 0
    })
    .await;

    let audit = audit(&rig).await;
    println!(
        "kills={kills} resources={resources} deleted={} bids={} duplicates={} leaked={} missing={}",
        deleted.len(),
        audit.live_bids,
        audit.duplicates,
        audit.leaked,
        audit.missing
    );
    assert_eq!(audit.live_bids, live.len(), "{audit:?}");
    assert_eq!(audit.duplicates, 0, "{audit:?}");
    assert_eq!(audit.leaked, 0, "{audit:?}");
    assert_eq!(audit.missing, 0, "{audit:?}");
}
