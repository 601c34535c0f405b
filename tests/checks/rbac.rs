//! The RBAC in `deploy/base` against what the operator actually does: run the operator (leader
//! election on, key from a Secret, both controllers) through a SpotBid's life and an
//! InstanceSchedule, take the emulator's request log, and check that every request the operator
//! made is allowed and that nothing granted goes unused without a stated reason.

use crate::support::cli::manifests::{Grant, documents, grants, object, render};
use crate::support::cli::{Cluster, DEADLINE, wait_for};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_emulator::RequestRecord;
use mithril_api::RateLimit;
use mithril_operator::app::run::run_with;
use mithril_operator::app::{ApiKeySource, BidSafety, LeaderElection, SecretName, Settings};
use mithril_operator::crd::{InstanceSchedule, READY, SpotBid, SpotPool, is_condition_true};
use mithril_sim::{Sim, SimConfig};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const OPERATOR_NS: &str = "mithril-operator";
const NS: &str = "default";
const KEY: &str = "fkey_rbac_test_key_0000000000000000";

/// Granted but not exercised by this scenario, and why each is still needed.
const JUSTIFIED_UNUSED: &[(&str, &str, &str, &str)] = &[
    (
        "mithril.ai",
        "spotbids/finalizers",
        "update",
        "OwnerReferencesPermissionEnforcement (e.g. OpenShift) checks it when a finalizer is set",
    ),
    (
        "mithril.ai",
        "spotpools/finalizers",
        "update",
        "OwnerReferencesPermissionEnforcement checks it when a SpotBid blocks its pool's deletion",
    ),
    (
        "events.k8s.io",
        "events",
        "patch",
        "a repeated event is folded into the first one's series by a patch",
    ),
];

/// The requests the test itself makes, so they can be told apart from the operator's.
#[derive(Default)]
struct OwnRequests(std::sync::Mutex<Vec<RequestRecord>>);

impl OwnRequests {
    fn note(&self, verb: &str, resource: &str) {
        self.0.lock().unwrap().push(RequestRecord {
            verb: verb.into(),
            group: "mithril.ai".into(),
            resource: resource.into(),
            subresource: None,
            namespace: Some(NS.into()),
        });
    }
}

async fn get_spot_bid(api: &Api<SpotBid>, own: &OwnRequests, name: &str) -> Option<SpotBid> {
    own.note("get", "spotbids");
    api.get_opt(name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_allows_exactly_what_the_operator_does() {
    let cluster = Cluster::with_crds().await;
    cluster.create_namespace(OPERATOR_NS).await;
    cluster
        .create_secret(OPERATOR_NS, "mithril-api-key", json!({"api-key": KEY}))
        .await;
    cluster
        .create_secret(NS, "team-key", json!({"api-key": KEY}))
        .await;
    let sim = Sim::new(SimConfig::default());
    let sim_server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let settings = Settings {
        mithril_url: sim_server.url().parse().unwrap(),
        api_key: ApiKeySource::Secret(SecretName {
            namespace: OPERATOR_NS.into(),
            name: "mithril-api-key".into(),
        }),
        spot_bids: true,
        instance_schedules: true,
        spot_pools: true,
        namespaces: Vec::new(),
        default_key_namespaces: Vec::new(),
        concurrency: 4,
        resync: Duration::from_secs(300),
        mithril_poll_interval: Duration::from_millis(300),
        mithril_settle_interval: Duration::from_secs(5),
        rate_limit: RateLimit::default(),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        leader_election: Some(LeaderElection {
            lease_name: "mithril-operator".into(),
            namespace: Some(OPERATOR_NS.into()),
            lease_duration: Duration::from_secs(4),
            renew_grace: Duration::from_secs(2),
        }),
        identity: "rbac-test".into(),
        startup_timeout: Duration::from_secs(10),
        cluster_name: None,
        bid_safety: BidSafety::default(),
    };
    let first_operator_request = cluster.emulator.request_log().len();
    let stop = CancellationToken::new();
    let operator = tokio::spawn(run_with(
        settings,
        cluster.kube_config().await,
        stop.clone().cancelled_owned(),
        |_| {},
    ));

    let own = OwnRequests::default();
    let client = cluster.client();
    let spot_bids: Api<SpotBid> = Api::namespaced(client.clone(), NS);
    let schedules: Api<InstanceSchedule> = Api::namespaced(client.clone(), NS);
    let bid: SpotBid = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": "training", "namespace": NS},
        "spec": {
            "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "instanceQuantity": 1, "limitPrice": "$12.50",
            "apiKeySecretRef": {"name": "team-key"},
        },
    }))
    .unwrap();
    own.note("create", "spotbids");
    spot_bids
        .create(&PostParams::default(), &bid)
        .await
        .unwrap();
    let schedule: InstanceSchedule = serde_saphyr::from_str(include_str!(
        "../../examples/instanceschedule-working-hours.yaml"
    ))
    .unwrap();
    own.note("create", "instanceschedules");
    schedules
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();

    // Placed, then allocated and running once the simulator's clock moves.
    wait_for("the bid placed", DEADLINE, || {
        let (spot_bids, own) = (&spot_bids, &own);
        async move {
            let found = get_spot_bid(spot_bids, own, "training").await;
            found.filter(|b| b.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
        }
    })
    .await;
    for _ in 0..10 {
        sim.advance(Duration::from_secs(60));
    }
    wait_for("the SpotBid Ready", DEADLINE, || {
        let (spot_bids, own) = (&spot_bids, &own);
        async move {
            let found = get_spot_bid(spot_bids, own, "training").await;
            found.filter(|b| {
                b.status
                    .as_ref()
                    .is_some_and(|s| is_condition_true(&s.conditions, READY))
            })
        }
    })
    .await;
    own.note("patch", "spotbids");
    spot_bids
        .patch(
            "training",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"limitPrice": "$15.00"}})),
        )
        .await
        .unwrap();
    wait_for("the new limit reported", DEADLINE, || {
        let (spot_bids, own) = (&spot_bids, &own);
        async move {
            let found = get_spot_bid(spot_bids, own, "training").await;
            found.filter(|b| {
                b.status.as_ref().and_then(|s| s.limit_price.as_deref()) == Some("$15.00")
            })
        }
    })
    .await;
    wait_for("the schedule's status", DEADLINE, || {
        let (schedules, own) = (&schedules, &own);
        async move {
            own.note("get", "instanceschedules");
            schedules
                .get_opt("working-hours")
                .await
                .unwrap()
                .filter(|s| s.status.is_some())
        }
    })
    .await;
    own.note("delete", "spotbids");
    spot_bids
        .delete("training", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the SpotBid gone", DEADLINE, || {
        let (spot_bids, own) = (&spot_bids, &own);
        async move {
            get_spot_bid(spot_bids, own, "training")
                .await
                .is_none()
                .then_some(())
        }
    })
    .await;

    // A SpotPool: its SpotBid created, then deleted with the pool.
    let pools: Api<SpotPool> = Api::namespaced(client.clone(), NS);
    let pool: SpotPool = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
        "metadata": {"name": "pool", "namespace": NS},
        "spec": {
            "replicas": 1,
            "template": {
                "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
                "limitPrice": "$12.50", "apiKeySecretRef": {"name": "team-key"},
            },
        },
    }))
    .unwrap();
    own.note("create", "spotpools");
    pools.create(&PostParams::default(), &pool).await.unwrap();
    let child_placed = || {
        let (spot_bids, own) = (&spot_bids, &own);
        async move {
            own.note("list", "spotbids");
            let listed = spot_bids
                .list(&kube::api::ListParams::default().labels("mithril.ai/pool=pool"))
                .await
                .unwrap();
            listed
                .items
                .iter()
                .any(|b| b.status.as_ref().is_some_and(|s| s.bid_fid.is_some()))
                .then_some(())
        }
    };
    wait_for("the pool's bid placed", DEADLINE, child_placed).await;
    own.note("delete", "spotpools");
    pools
        .delete("pool", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the pool gone", DEADLINE, || {
        let (pools, own) = (&pools, &own);
        async move {
            own.note("get", "spotpools");
            pools.get_opt("pool").await.unwrap().is_none().then_some(())
        }
    })
    .await;

    stop.cancel();
    tokio::time::timeout(DEADLINE, operator)
        .await
        .expect("the operator stops")
        .unwrap()
        .expect("a clean stop");

    // The operator's requests: everything since it started, minus the test's own.
    let mut operator_requests: Vec<RequestRecord> =
        cluster.emulator.request_log()[first_operator_request..].to_vec();
    for request in own.0.into_inner().unwrap() {
        let index = operator_requests
            .iter()
            .position(|r| *r == request)
            .unwrap_or_else(|| panic!("the test's own {request:?} is not in the log"));
        operator_requests.remove(index);
    }

    let base = documents(&render("base").await);
    let cluster_grants: BTreeSet<Grant> = grants(object(&base, "ClusterRole", "mithril-operator"))
        .into_iter()
        .collect();
    let cluster_grants: BTreeSet<Grant> = cluster_grants
        .into_iter()
        .chain(grants(object(
            &base,
            "ClusterRole",
            "mithril-operator-cluster-identity",
        )))
        .collect();
    let lease_grants: BTreeSet<Grant> =
        grants(object(&base, "Role", "mithril-operator-leader-election"))
            .into_iter()
            .collect();
    let as_grant = |r: &RequestRecord| -> Grant {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        (r.group.clone(), resource, r.verb.clone())
    };
    let mut used = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for request in &operator_requests {
        let grant = as_grant(request);
        let allowed = cluster_grants.contains(&grant)
            || (request.namespace.as_deref() == Some(OPERATOR_NS) && lease_grants.contains(&grant));
        if !allowed {
            denied.insert(format!("{grant:?} in {:?}", request.namespace));
        }
        used.insert(grant);
    }
    assert!(
        denied.is_empty(),
        "the operator made requests its RBAC denies: {denied:#?}"
    );

    let justified: BTreeSet<Grant> = JUSTIFIED_UNUSED
        .iter()
        .map(|(g, r, v, _)| (g.to_string(), r.to_string(), v.to_string()))
        .collect();
    let unused: BTreeSet<&Grant> = cluster_grants
        .iter()
        .chain(&lease_grants)
        .filter(|grant| !used.contains(*grant) && !justified.contains(*grant))
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never used: {unused:#?}\nused: {used:#?}"
    );
}
