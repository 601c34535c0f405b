//! The emulator's `scale` subresource, for a CRD that declares one (the SpotPool's): the
//! `autoscaling/v1` Scale read and written through the real kube client, discovery as kubectl
//! reads it, and `kubectl scale` itself (a merge patch of the Scale, or with
//! `--current-replicas` a read and a PUT).

use crate::support::cli::Cluster;
use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, Patch, PatchParams, PostParams};
use mithril_operator::crd::{SpotBid, SpotPool};
use serde_json::json;

const NS: &str = "default";

async fn pool(cluster: &Cluster, name: &str, replicas: i32) -> SpotPool {
    let pool: SpotPool = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas, "blockSize": 2,
            "template": {"project": "demo", "region": "us-central1-a",
                "instanceType": "h100-80gb.sxm.8x", "limitPrice": "$12.50"},
        },
    }))
    .unwrap();
    Api::<SpotPool>::namespaced(cluster.client(), NS)
        .create(&PostParams::default(), &pool)
        .await
        .expect("SpotPool is created")
}

fn replicas(scale: &Scale) -> Option<i32> {
    scale.spec.as_ref().and_then(|s| s.replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_subresource_reads_and_writes_the_replica_paths() {
    let cluster = Cluster::with_crds().await;
    let pools: Api<SpotPool> = Api::namespaced(cluster.client(), NS);
    let created = pool(&cluster, "train", 6).await;

    // Status replicas and selector come from the paths the CRD names (absent: 0, none).
    let scale = pools.get_scale("train").await.unwrap();
    assert_eq!(replicas(&scale), Some(6));
    let status = scale.status.clone().unwrap();
    assert_eq!((status.replicas, status.selector), (0, None));
    assert_eq!(scale.metadata.name.as_deref(), Some("train"));
    assert_eq!(scale.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(scale.metadata.uid, created.metadata.uid);
    assert_eq!(
        scale.metadata.resource_version,
        created.metadata.resource_version
    );
    pools
        .patch_status(
            "train",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 4, "selector": "mithril.ai/pool=train"}})),
        )
        .await
        .unwrap();
    let status = pools.get_scale("train").await.unwrap().status.unwrap();
    assert_eq!(status.replicas, 4);
    assert_eq!(status.selector.as_deref(), Some("mithril.ai/pool=train"));

    // A merge patch of the Scale changes spec.replicas: a spec change, so a new generation.
    let scaled = pools
        .patch_scale(
            "train",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 10}})),
        )
        .await
        .unwrap();
    assert_eq!(replicas(&scaled), Some(10));
    let stored = pools.get("train").await.unwrap();
    assert_eq!(stored.spec.replicas, 10);
    assert_eq!(stored.metadata.generation, Some(2));
    assert_eq!(
        scaled.metadata.resource_version,
        stored.metadata.resource_version
    );
    assert_eq!(stored.status.unwrap().replicas, 4, "status untouched");

    // A PUT with a stale resourceVersion conflicts; with the current one it applies.
    let mut stale = scale.clone();
    stale.spec.as_mut().unwrap().replicas = Some(3);
    let conflict = pools
        .replace_scale("train", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&conflict, kube::Error::Api(s) if s.code == 409),
        "{conflict:?}"
    );
    let mut current = pools.get_scale("train").await.unwrap();
    current.spec.as_mut().unwrap().replicas = Some(3);
    let replaced = pools
        .replace_scale("train", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(replicas(&replaced), Some(3));
    assert_eq!(pools.get("train").await.unwrap().spec.replicas, 3);

    // Negative replicas are refused; the object's own schema still applies (max 100000).
    for (wanted, field) in [(-1, "spec.replicas"), (200_000, "spec.replicas")] {
        let refused = pools
            .patch_scale(
                "train",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": wanted}})),
            )
            .await
            .unwrap_err();
        match refused {
            kube::Error::Api(status) => {
                assert_eq!(status.code, 422, "{status:?}");
                assert!(status.message.contains(field), "{status:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pools.get("train").await.unwrap().spec.replicas, 3);

    // Kinds without a scale subresource have none; a missing object is 404.
    let spot_bids: Api<SpotBid> = Api::namespaced(cluster.client(), NS);
    let missing = spot_bids.get_scale("anything").await.unwrap_err();
    assert!(matches!(&missing, kube::Error::Api(s) if s.code == 404));
    let missing = pools.get_scale("nothing").await.unwrap_err();
    assert!(matches!(&missing, kube::Error::Api(s) if s.code == 404));

    // Writes through the Scale are logged under the subresource.
    let log = cluster.emulator.request_log();
    assert!(log.iter().any(|r| r.resource == "spotpools"
        && r.subresource.as_deref() == Some("scale")
        && r.verb == "patch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_drives_the_scale_subresource() {
    let cluster = Cluster::with_crds().await;
    pool(&cluster, "train", 6).await;
    let pools: Api<SpotPool> = Api::namespaced(cluster.client(), NS);

    // Discovery names the subresource and its kind, as kubectl's scale client needs.
    let resources = cluster
        .kubectl
        .ok(&["get", "--raw", "/apis/mithril.ai/v1alpha1"])
        .await;
    let resources: serde_json::Value = serde_json::from_str(&resources).unwrap();
    let scale = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "spotpools/scale")
        .expect("spotpools/scale in discovery");
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
    );
    assert!(
        !resources["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "spotbids/scale")
    );

    let output = cluster
        .kubectl
        .ok(&["scale", "spotpool", "train", "--replicas=8"])
        .await;
    assert!(
        output.contains("spotpool.mithril.ai/train scaled"),
        "{output}"
    );
    assert_eq!(pools.get("train").await.unwrap().spec.replicas, 8);

    // With a precondition kubectl reads the Scale and PUTs it back.
    cluster
        .kubectl
        .ok(&[
            "scale",
            "spool/train",
            "--current-replicas=8",
            "--replicas=12",
        ])
        .await;
    assert_eq!(pools.get("train").await.unwrap().spec.replicas, 12);
    let (success, _, stderr) = cluster
        .kubectl
        .run(&[
            "scale",
            "spotpool/train",
            "--current-replicas=3",
            "--replicas=1",
        ])
        .await;
    assert!(!success, "a failed precondition scales nothing");
    assert!(
        stderr.contains("precondition") || stderr.contains("Expected"),
        "{stderr}"
    );
    assert_eq!(pools.get("train").await.unwrap().spec.replicas, 12);

    // The scale kubectl reads is the one the API serves.
    let replicas = cluster
        .kubectl
        .ok(&[
            "get",
            "--raw",
            "/apis/mithril.ai/v1alpha1/namespaces/default/spotpools/train/scale",
        ])
        .await;
    let scale: serde_json::Value = serde_json::from_str(&replicas).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 12);
}
