//! A pool's SpotBids: made from the template, told apart by what Mithril can change on a live bid
//! and what it cannot, and read back into what the planner needs. Pure.

use super::plan::Child;
use crate::crd::{POOL_LABEL, SpotBid, SpotBidPhase, SpotBidSpec, SpotPool};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};
use mithril_api::Price;
use serde_json::{Map, Value, json};

/// The label naming the template a SpotBid was made from (its [`template_hash`]).
pub const TEMPLATE_LABEL: &str = "mithril.ai/pool-template";

/// Template fields Mithril changes on a live bid: patched into the SpotBids in place.
const IN_PLACE: [&str; 7] = [
    "limitPrice",
    "pricing",
    "paused",
    "regions",
    "regionChange",
    "deletionPolicy",
    "apiKeySecretRef",
];
/// Launch specification fields Mithril changes on a live bid.
const IN_PLACE_LAUNCH: [&str; 2] = ["volumes", "memoryGb"];
/// Fields Mithril cannot change on a live bid: a change replaces the SpotBids.
const REPLACING: [&str; 3] = ["project", "region", "instanceType"];
const REPLACING_LAUNCH: [&str; 4] = [
    "sshKeys",
    "startupScript",
    "kubernetesCluster",
    "imageVersion",
];

fn fields(spec: &SpotBidSpec, top: &[&str], launch: &[&str]) -> Value {
    let value = serde_json::to_value(spec).unwrap_or_default();
    let pick = |from: &Value, keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .map(|key| {
                (
                    (*key).to_owned(),
                    from.get(*key).cloned().unwrap_or(Value::Null),
                )
            })
            .collect()
    };
    let mut picked = pick(&value, top);
    picked.insert(
        "launchSpecification".into(),
        Value::Object(pick(&value["launchSpecification"], launch)),
    );
    Value::Object(picked)
}

/// What a replacement is about: the fields Mithril cannot change on a live bid.
fn replacing_fields(spec: &SpotBidSpec) -> Value {
    fields(spec, &REPLACING, &REPLACING_LAUNCH)
}

/// The fields patched in place, `null` where unset (a merge patch removes them).
fn in_place_fields(spec: &SpotBidSpec) -> Value {
    fields(spec, &IN_PLACE, &IN_PLACE_LAUNCH)
}

/// Eight hex characters naming the template's replacing fields: stable across restarts and
/// versions (FNV-1a over their JSON), so a SpotBid's name tells which template made it.
pub fn template_hash(template: &SpotBidSpec) -> String {
    let text = replacing_fields(template).to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:08x}", hash & 0xffff_ffff)
}

/// Whether `child` was made from `template` as it is now (a replacement is not due).
pub fn is_current(child: &SpotBidSpec, template: &SpotBidSpec) -> bool {
    replacing_fields(child) == replacing_fields(template)
}

/// The merge patch bringing `child`'s in-place fields to the template's; `None` when they match.
pub fn in_place_patch(child: &SpotBidSpec, template: &SpotBidSpec) -> Option<Value> {
    let wanted = in_place_fields(template);
    (in_place_fields(child) != wanted).then(|| json!({ "spec": wanted }))
}

/// The SpotBid `name` of `pool`, asking for `quantity` instances of the current template.
pub fn new_child(pool: &SpotPool, name: &str, quantity: i32) -> SpotBid {
    let mut spec = pool.spec.template.clone();
    spec.instance_quantity = quantity;
    spec.bid_fid = None;
    let labels = [
        (POOL_LABEL.to_owned(), pool.name_any()),
        (
            TEMPLATE_LABEL.to_owned(),
            template_hash(&pool.spec.template),
        ),
    ];
    let mut child = SpotBid::new(name, spec);
    child.metadata = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: pool.namespace(),
        labels: Some(labels.into_iter().collect()),
        owner_references: Some(vec![owner_reference(pool)]),
        ..ObjectMeta::default()
    };
    child
}

fn owner_reference(pool: &SpotPool) -> OwnerReference {
    OwnerReference {
        api_version: SpotPool::api_version(&()).into_owned(),
        kind: SpotPool::kind(&()).into_owned(),
        name: pool.name_any(),
        uid: pool.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `pool` controls `child` (its controller owner reference names the pool's uid).
pub fn is_owned_by(child: &SpotBid, pool: &SpotPool) -> bool {
    let uid = pool.uid();
    child
        .owner_references()
        .iter()
        .any(|owner| owner.controller == Some(true) && Some(&owner.uid) == uid.as_ref())
}

/// `child` as the planner sees it, against the pool's template.
pub fn child_view(child: &SpotBid, template: &SpotBidSpec) -> Child {
    let status = child.status.as_ref();
    let phase = status.and_then(|s| s.phase);
    Child {
        name: child.name_any(),
        quantity: child.spec.instance_quantity,
        current: is_current(&child.spec, template),
        outdated: in_place_patch(&child.spec, template).is_some(),
        deleting: child.meta().deletion_timestamp.is_some(),
        holds_instances: matches!(
            phase,
            Some(SpotBidPhase::Allocated | SpotBidPhase::Preempting | SpotBidPhase::Relocating)
        ),
        ready: status.map_or(0, |s| s.ready_instances),
        paying_cents: status
            .and_then(|s| s.current_price.as_deref())
            .and_then(|price| price.parse::<Price>().ok())
            .map(Price::cents),
        created: child.meta().creation_timestamp.as_ref().map(|time| time.0),
        spend: status.and_then(|s| s.spend.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(extra: Value) -> SpotBidSpec {
        let mut spec = json!({
            "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "instanceQuantity": 1, "limitPrice": "$12.50",
        });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn pool() -> SpotPool {
        let mut pool = SpotPool::new(
            "train",
            serde_json::from_value(json!({
                "replicas": 4, "blockSize": 2,
                "template": {"project": "demo", "region": "us-central1-a",
                    "instanceType": "h100-80gb.sxm.8x", "limitPrice": "$12.50"},
            }))
            .unwrap(),
        );
        pool.metadata.namespace = Some("ml".into());
        pool.metadata.uid = Some("uid-pool".into());
        pool
    }

    #[test]
    fn price_pause_and_volumes_are_patched_in_place() {
        let child = template(json!({}));
        assert_eq!(in_place_patch(&child, &template(json!({}))), None);
        let patch = in_place_patch(
            &child,
            &template(json!({"limitPrice": "$14.00", "paused": true,
                "launchSpecification": {"volumes": ["vol_1"]}})),
        )
        .unwrap();
        assert_eq!(patch["spec"]["limitPrice"], "$14.00");
        assert_eq!(patch["spec"]["paused"], true);
        assert_eq!(
            patch["spec"]["launchSpecification"]["volumes"],
            json!(["vol_1"])
        );
        // Unset in the template: removed from the SpotBid by the merge patch.
        assert_eq!(patch["spec"]["pricing"], Value::Null);
        assert!(is_current(
            &child,
            &template(json!({"limitPrice": "$14.00"}))
        ));
    }

    #[test]
    fn type_region_and_launch_script_need_new_bids() {
        let child = template(json!({}));
        for changed in [
            json!({"instanceType": "a100-80gb.sxm.8x"}),
            json!({"region": "us-central1-b"}),
            json!({"launchSpecification": {"startupScript": "echo hi"}}),
        ] {
            let changed = template(changed);
            assert!(!is_current(&child, &changed), "{changed:?}");
            assert_ne!(template_hash(&child), template_hash(&changed));
        }
        // The quantity is the block's, never the template's.
        assert!(is_current(
            &template(json!({"instanceQuantity": 3})),
            &child
        ));
        assert_eq!(
            template_hash(&child),
            template_hash(&template(json!({"paused": true})))
        );
    }

    #[test]
    fn a_new_child_is_labelled_owned_and_sized() {
        let pool = pool();
        let child = new_child(&pool, "train-abc-0", 2);
        assert_eq!(child.spec.instance_quantity, 2);
        assert_eq!(child.labels()[POOL_LABEL], "train");
        assert_eq!(
            child.labels()[TEMPLATE_LABEL],
            template_hash(&pool.spec.template)
        );
        assert_eq!(child.namespace().as_deref(), Some("ml"));
        assert!(is_owned_by(&child, &pool));
        let view = child_view(&child, &pool.spec.template);
        assert!(view.current && !view.outdated && !view.deleting);
        assert_eq!((view.quantity, view.ready), (2, 0));
    }
}
