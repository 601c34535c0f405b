//! SpotPool end to end: the pool and SpotBid controllers against the Kubernetes API emulator (or a
//! real API server: `MITHRIL_TEST_KUBE=real`) and the Mithril simulator. At every step the
//! simulator's bids are checked against the pool's SpotBids: one live bid per SpotBid, of its
//! quantity, and no other (none duplicated, none leaked).

use crate::support::harness::{CLUSTER, CONVERGE, Harness};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use mithril_api::{Bid, BidStatus, ListBidsQuery};
use mithril_operator::controller::spot_bid::names::bid_name;
use mithril_operator::crd::{
    ConditionStatus, POOL_LABEL, READY, SYNCED, SpotBid, SpotPool, find_condition,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The harness (SpotBid controller running) with the SpotPool controller beside it.
struct PoolRig {
    h: Harness,
    stop: CancellationToken,
    pools: tokio::task::JoinHandle<()>,
}

impl PoolRig {
    async fn start() -> Self {
        let h = Harness::start().await;
        let stop = CancellationToken::new();
        let (ctx, token, namespace) = (h.ctx.clone(), stop.clone(), h.ns().to_owned());
        let pools = tokio::spawn(async move {
            mithril_operator::controller::spot_pool::run(ctx, Some(&namespace), async move {
                token.cancelled().await
            })
            .await;
        });
        Self { h, stop, pools }
    }

    fn pools(&self) -> Api<SpotPool> {
        Api::namespaced(self.h.kube.clone(), self.h.ns())
    }

    fn spot_bids(&self) -> Api<SpotBid> {
        Api::namespaced(self.h.kube.clone(), self.h.ns())
    }

    async fn create_pool(&self, name: &str, spec: serde_json::Value) -> SpotPool {
        let pool: SpotPool = serde_json::from_value(json!({
            "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
            "metadata": {"name": name, "namespace": self.h.ns()},
            "spec": spec,
        }))
        .unwrap();
        self.pools()
            .create(&PostParams::default(), &pool)
            .await
            .expect("SpotPool is accepted")
    }

    async fn patch_pool(&self, name: &str, spec: serde_json::Value) {
        self.pools()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("pool patch");
    }

    /// The pool's SpotBids, by name.
    async fn children(&self, pool: &str) -> BTreeMap<String, SpotBid> {
        let selector = format!("{POOL_LABEL}={pool}");
        self.spot_bids()
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("SpotBids")
            .items
            .into_iter()
            .map(|child| (child.name_any(), child))
            .collect()
    }

    /// Every bid the simulator holds for the test's key (live or not).
    async fn all_bids(&self) -> Vec<Bid> {
        self.h
            .mithril
            .bids(ListBidsQuery::default().limit(100))
            .filter_map(|bid| async move { bid.ok() })
            .collect()
            .await
    }

    async fn live_bids(&self) -> Vec<Bid> {
        let mut live = self.all_bids().await;
        live.retain(|bid| bid.status != BidStatus::Terminated);
        live
    }

    /// Waits until the pool's SpotBids are `quantities` (sorted), none being deleted, each with
    /// exactly one live bid of its quantity, and no other live bid exists. Returns the SpotBids.
    async fn converged(&self, pool: &str, quantities: &[i64]) -> BTreeMap<String, SpotBid> {
        let deadline = tokio::time::Instant::now() + CONVERGE;
        loop {
            let children = self.children(pool).await;
            let live = self.live_bids().await;
            match self.matches(&children, &live, quantities) {
                Ok(()) => return children,
                Err(why) if tokio::time::Instant::now() > deadline => {
                    panic!("pool {pool} never converged to {quantities:?}: {why}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn matches(
        &self,
        children: &BTreeMap<String, SpotBid>,
        live: &[Bid],
        quantities: &[i64],
    ) -> Result<(), String> {
        let mut wanted: Vec<i64> = children
            .values()
            .map(|c| i64::from(c.spec.instance_quantity))
            .collect();
        wanted.sort_unstable();
        if wanted != quantities {
            return Err(format!("SpotBid quantities {wanted:?}"));
        }
        if let Some(going) = children
            .values()
            .find(|c| c.metadata.deletion_timestamp.is_some())
        {
            return Err(format!("{} still being deleted", going.name_any()));
        }
        for child in children.values() {
            let name = bid_name(
                CLUSTER,
                self.h.ns(),
                &child.name_any(),
                child.metadata.uid.as_deref().unwrap(),
            );
            let own: Vec<&Bid> = live.iter().filter(|b| b.name == name).collect();
            if own.len() != 1 || own[0].instance_quantity != i64::from(child.spec.instance_quantity)
            {
                return Err(format!("{}: live bids {own:?}", child.name_any()));
            }
            let fid = child.status.as_ref().and_then(|s| s.bid_fid.as_deref());
            if fid != Some(own[0].fid.as_str()) {
                return Err(format!("{}: status shows bid {fid:?}", child.name_any()));
            }
        }
        if live.len() != children.len() {
            return Err(format!(
                "{} live bids for {} SpotBids",
                live.len(),
                children.len()
            ));
        }
        Ok(())
    }

    async fn scale(&self, pool: &str, replicas: i32) {
        let scale = self
            .pools()
            .patch_scale(
                pool,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .expect("the scale subresource takes the new replicas");
        assert_eq!(scale.spec.and_then(|s| s.replicas), Some(replicas));
    }

    async fn pool_status_is(&self, pool: &str, what: &str, check: impl Fn(&SpotPool) -> bool) {
        self.h
            .wait_for::<SpotPool>(self.h.ns(), pool, what, check)
            .await;
    }
}

impl Drop for PoolRig {
    fn drop(&mut self) {
        self.stop.cancel();
        self.pools.abort();
    }
}

fn condition(pool: &SpotPool, type_: &str) -> Option<(ConditionStatus, String)> {
    let status = pool.status.as_ref()?;
    find_condition(&status.conditions, type_).map(|c| (c.status, c.reason.clone()))
}

fn synced_at(pool: &SpotPool, replicas: i32) -> bool {
    pool.status.as_ref().is_some_and(|s| {
        s.replicas == replicas && s.observed_generation == pool.metadata.generation
    }) && condition(pool, SYNCED).is_some_and(|(status, _)| status == ConditionStatus::True)
}

fn h100_pool(replicas: i32, block_size: i32) -> serde_json::Value {
    json!({
        "replicas": replicas,
        "blockSize": block_size,
        "template": {
            "project": "demo", "region": "us-central1-a",
            "instanceType": "h100-80gb.sxm.8x", "limitPrice": "$12.50",
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_scales_patches_replaces_and_deletes_its_bids() {
    let rig = PoolRig::start().await;
    let h = &rig.h;

    // 6 in blocks of 2: three SpotBids, three bids.
    let created = rig.create_pool("train", h100_pool(6, 2)).await;
    let children = rig.converged("train", &[2, 2, 2]).await;
    for child in children.values() {
        let owner = &child.owner_references()[0];
        assert_eq!(owner.uid, created.uid().unwrap());
        assert_eq!(owner.controller, Some(true));
        assert!(child.name_any().starts_with("train-"));
    }
    rig.pool_status_is("train", "synced at 6", |p| synced_at(p, 6))
        .await;

    // Scaled to 10 through the scale subresource: two more.
    rig.scale("train", 10).await;
    rig.converged("train", &[2, 2, 2, 2, 2]).await;
    rig.pool_status_is("train", "synced at 10", |p| synced_at(p, 10))
        .await;

    // Scaled to 2: one SpotBid left, the others' bids cancelled.
    rig.scale("train", 2).await;
    let children = rig.converged("train", &[2]).await;
    let kept = children.values().next().unwrap().clone();
    let kept_fid = kept.status.clone().unwrap().bid_fid.unwrap();
    let placed_so_far = rig.all_bids().await.len();
    assert_eq!(placed_so_far, 5, "no bid was ever placed twice");

    // A new limit price is patched into the live bid: no new bid.
    rig.patch_pool("train", json!({"template": {"limitPrice": "$14.00"}}))
        .await;
    rig.pool_status_is("train", "repriced", |p| {
        synced_at(p, 2) && p.status.as_ref().unwrap().observed_generation == p.metadata.generation
    })
    .await;
    h.wait_for::<SpotBid>(h.ns(), &kept.name_any(), "repriced", |child| {
        child.spec.limit_price == "$14.00"
            && child.status.as_ref().and_then(|s| s.limit_price.as_deref()) == Some("$14.00")
    })
    .await;
    let children = rig.converged("train", &[2]).await;
    assert!(children.contains_key(&kept.name_any()), "the same SpotBid");
    let live = rig.live_bids().await;
    assert_eq!(live[0].fid, kept_fid, "the same bid");
    assert_eq!(live[0].limit_price.to_string(), "$14.00");
    assert_eq!(rig.all_bids().await.len(), placed_so_far, "no new bid");

    // Back to 6, all running, then a new instance type: replaced a block at a time, never more
    // than maxUnavailable (2) of the 6 instances missing, never more than 6 asked for.
    rig.scale("train", 6).await;
    rig.converged("train", &[2, 2, 2]).await;
    h.advance_minutes(8).await;
    rig.pool_status_is("train", "running", |p| {
        condition(p, READY).is_some_and(|(status, _)| status == ConditionStatus::True)
    })
    .await;
    let before: Vec<String> = rig.children("train").await.into_keys().collect();
    rig.patch_pool(
        "train",
        json!({"maxSurge": 0, "maxUnavailable": 2, "template": {"instanceType": "a100-80gb.sxm.8x"}}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + CONVERGE * 2;
    loop {
        let children = rig.children("train").await;
        let staying: Vec<&SpotBid> = children
            .values()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .collect();
        let running: i32 = staying
            .iter()
            .map(|c| {
                c.status
                    .as_ref()
                    .map_or(0, |s| s.ready_instances.min(c.spec.instance_quantity))
            })
            .sum();
        assert!(running >= 4, "{running} of 6 running: more than 2 missing");
        let live = rig.live_bids().await;
        let asked: i64 = live.iter().map(|b| b.instance_quantity).sum();
        assert!(
            asked <= 6,
            "{asked} instances asked for on Mithril, surge is 0"
        );
        let replaced = children.len() == 3
            && children.values().all(|c| {
                c.spec.instance_type == "a100-80gb.sxm.8x" && !before.contains(&c.name_any())
            })
            && running == 6;
        if replaced {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never replaced: {:?}",
            children.keys().collect::<Vec<_>>()
        );
        // Instances of the new bids start as simulated time passes.
        h.advance_minutes(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.converged("train", &[2, 2, 2]).await;
    let live = rig.live_bids().await;
    assert!(
        live.iter()
            .all(|b| b.instance_type == live[0].instance_type)
    );
    rig.pool_status_is("train", "ready after the replacement", |p| {
        condition(p, READY).is_some_and(|(status, _)| status == ConditionStatus::True)
            && p.status.as_ref().unwrap().updated_replicas == 6
    })
    .await;

    // Deleting the pool deletes its SpotBids, which cancel their bids.
    rig.pools()
        .delete("train", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotPool>(h.ns(), "train").await;
    assert!(rig.children("train").await.is_empty());
    assert!(rig.live_bids().await.is_empty(), "every bid cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_cancels_open_bids_first_and_never_goes_below_replicas() {
    let rig = PoolRig::start().await;
    let h = &rig.h;
    rig.create_pool("mixed", h100_pool(4, 2)).await;
    let first = rig.converged("mixed", &[2, 2]).await;
    h.advance_minutes(8).await;
    rig.pool_status_is("mixed", "running", |p| {
        p.status.as_ref().is_some_and(|s| s.ready_replicas == 4)
    })
    .await;
    // Two more blocks, open (simulated time stands still): these go first when scaling down.
    rig.scale("mixed", 8).await;
    rig.converged("mixed", &[2, 2, 2, 2]).await;
    rig.scale("mixed", 4).await;
    let left = rig.converged("mixed", &[2, 2]).await;
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "the running SpotBids stay"
    );
    // 4 to 3 in blocks of 2: a bid of one first, then a block goes; never fewer than 3 asked for.
    rig.scale("mixed", 3).await;
    rig.converged("mixed", &[1, 2]).await;
    rig.pool_status_is("mixed", "synced at 3", |p| synced_at(p, 3))
        .await;
    let status = rig.pools().get("mixed").await.unwrap().status.unwrap();
    assert_eq!(status.selector.as_deref(), Some("mithril.ai/pool=mixed"));
    assert_eq!(status.bids, 2);
    assert!(status.hourly_cost.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_orphan_pool_leaves_its_bids_on_mithril() {
    let rig = PoolRig::start().await;
    let h = &rig.h;
    let mut spec = h100_pool(2, 1);
    spec["template"]["deletionPolicy"] = json!("Orphan");
    rig.create_pool("keeper", spec).await;
    rig.converged("keeper", &[1, 1]).await;
    rig.pools()
        .delete("keeper", &DeleteParams::default())
        .await
        .unwrap();
    h.wait_gone::<SpotPool>(h.ns(), "keeper").await;
    assert!(rig.children("keeper").await.is_empty());
    assert_eq!(rig.live_bids().await.len(), 2, "Orphan leaves the bids");
}

/// The CRD's own rules, as the API server applies them: a name short enough to be a label value,
/// a replacement that can start, and a template that changes where a live bid could not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_refuses_what_a_pool_cannot_be_and_lets_the_template_change() {
    let rig = PoolRig::start().await;
    let pools = rig.pools();
    let refused = |name: &str, spec: serde_json::Value| {
        let pools = pools.clone();
        let ns = rig.h.ns().to_owned();
        let name = name.to_owned();
        async move {
            let pool: SpotPool = serde_json::from_value(json!({
                "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
                "metadata": {"name": name, "namespace": ns}, "spec": spec,
            }))
            .unwrap();
            match pools.create(&PostParams::default(), &pool).await {
                Err(kube::Error::Api(status)) => status.message,
                other => panic!("accepted: {other:?}"),
            }
        }
    };
    // A valid object name (a DNS subdomain) of 71 characters: too long for a label value.
    let long = format!("{}.{}", "p".repeat(40), "q".repeat(30));
    let message = refused(&long, h100_pool(2, 1)).await;
    assert!(message.contains("at most 63 characters"), "{message}");
    let mut stuck = h100_pool(2, 1);
    stuck["maxSurge"] = json!(0);
    let message = refused("stuck", stuck).await;
    assert!(message.contains("cannot both be 0"), "{message}");

    // The SpotBid's immutable fields are not immutable in a template.
    rig.create_pool("flexible", h100_pool(0, 1)).await;
    rig.patch_pool(
        "flexible",
        json!({"template": {"region": "us-central1-b", "instanceType": "a100-80gb.sxm.8x",
            "launchSpecification": {"startupScript": "echo hi"}}}),
    )
    .await;
    let pool = pools.get("flexible").await.unwrap();
    assert_eq!(pool.spec.template.region, "us-central1-b");
    assert!(
        rig.children("flexible").await.is_empty(),
        "0 replicas: no SpotBid"
    );
}

/// What a pool's bids cost: each SpotBid's `spend` is what Mithril's pricing history of its
/// bid's instances adds up to, its `history` the bid's latest events, the pool's `spend` the sum
/// of its SpotBids', and the spend counter (kind `spotpool`) what was paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_spend_is_the_sum_of_what_its_bids_paid() {
    use mithril_api::{HistoryQuery, InstancePricingEvent, Price};
    use mithril_operator::observe::cost_of;

    let rig = PoolRig::start().await;
    let h = &rig.h;
    rig.create_pool("paid", h100_pool(2, 1)).await;
    rig.converged("paid", &[1, 1]).await;
    h.advance_minutes(8).await;
    h.sim.advance(Duration::from_secs(3600));
    h.poll().await;
    h.read_spend().await;

    let now = h.sim.now();
    let project = h.mithril.resolve_project("demo").await.unwrap();
    let mut expected = BTreeMap::new();
    for bid in rig.live_bids().await {
        let page = h
            .mithril
            .instance_pricing_history(&HistoryQuery::for_project(&project).bid(&bid.fid))
            .await
            .unwrap();
        let periods: Vec<InstancePricingEvent> =
            page.items.into_iter().flat_map(|i| i.events).collect();
        expected.insert(bid.fid.clone(), cost_of(&periods, now).price());
    }
    let total: u64 = expected.values().map(|p| p.cents()).sum();
    assert!(
        total > 0,
        "an hour of two running instances costs something"
    );
    let total = Price::from_cents(total).to_string();
    rig.pool_status_is("paid", "spend summed", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.spend.as_ref())
            .is_some_and(|spend| spend.cost_so_far == total)
    })
    .await;
    for child in rig.children("paid").await.values() {
        let status = child.status.clone().unwrap();
        let fid = status.bid_fid.clone().unwrap();
        let spend = status.spend.clone().expect("spend");
        assert_eq!(spend.cost_so_far, expected[&fid].to_string(), "{fid}");
        let paying: Price = status.current_price.as_deref().unwrap().parse().unwrap();
        assert_eq!(
            spend.hourly_cost,
            paying.to_string(),
            "one running instance"
        );
        let events: Vec<&str> = status.history.iter().map(|t| t.event.as_str()).collect();
        assert_eq!(events, ["Placed", "Allocated"], "{fid}");
    }
    let counted = h.ctx.metrics.spend(h.ns(), "spotpool");
    let total_dollars = total.trim_start_matches('$').parse::<f64>().unwrap();
    assert!(
        (counted - total_dollars).abs() < 1e-6,
        "{counted} counted, {total} paid"
    );
    assert_eq!(h.ctx.metrics.spend(h.ns(), "spotbid"), 0.0);
}
