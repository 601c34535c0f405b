//! `SpotPool`: a number of instances, made of SpotBids of a block size each, that scales.

use super::condition::Condition;
use super::spot_bid::{Spend, SpotBidSpec};
use kube::{CustomResource, KubeSchema};
use schemars::{Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The label every SpotBid of a pool carries: the pool's name (`status.selector` selects on it).
pub const POOL_LABEL: &str = "mithril.ai/pool";

/// SpotBid spec fields a pool sets on each of its SpotBids itself: absent from the template.
const SET_BY_THE_POOL: [&str; 2] = ["instanceQuantity", "bidFid"];

/// Instances on Mithril as a number that scales: the operator keeps SpotBids of `blockSize`
/// instances each (the last one smaller when `replicas` is not a multiple) so that together they
/// ask for `replicas` instances, like a Deployment keeps ReplicaSets. `kubectl scale` and
/// autoscalers drive it through the `scale` subresource.
// kube's derive takes one `printcolumn(...)` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mithril.ai",
    version = "v1alpha1",
    kind = "SpotPool",
    namespaced,
    status = "SpotPoolStatus",
    derive = "PartialEq",
    shortname = "spool",
    category = "mithril",
    doc = "A number of Mithril spot instances, placed as SpotBids of a block size each; scalable.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Wanted",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Instances wanted"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Instances running"
    ),
    printcolumn(
        name = "Bids",
        type_ = "integer",
        json_path = ".status.bids",
        description = "SpotBids of the pool"
    ),
    printcolumn(
        name = "$/H",
        type_ = "string",
        json_path = ".status.hourlyCost",
        description = "What the pool's allocated bids pay per hour now"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[kube(validation = Rule::new("self.metadata.name.size() <= 63")
    .message("a SpotPool's name is at most 63 characters: it is a label value on its SpotBids"))]
#[x_kube(validation = Rule::new(
    "!has(self.maxSurge) || self.maxSurge > 0 || (has(self.maxUnavailable) && self.maxUnavailable > 0)"
)
    .message("maxSurge and maxUnavailable cannot both be 0: a replacement could never start"))]
#[serde(rename_all = "camelCase")]
pub struct SpotPoolSpec {
    /// Instances wanted, 0 or more. Scaling down cancels SpotBids whose bid holds no instances
    /// first, then those paying the most, then the newest, never going below this number.
    #[schemars(range(min = 0, max = 100000), extend("format" = "int32"))]
    pub replicas: i32,

    /// Instances per SpotBid (one Mithril bid each), default 1. The last SpotBid is smaller when
    /// `replicas` is not a multiple. A change applies to SpotBids created from then on.
    #[serde(default = "default_block_size")]
    #[schemars(range(min = 1, max = 4096), extend("format" = "int32"))]
    pub block_size: i32,

    /// The SpotBid each block is made from, without `instanceQuantity` (the block's size) and
    /// `bidFid`. A change Mithril applies to a live bid (limit price, pricing, pause, volumes,
    /// memory, regions, deletion policy, key) is made on every SpotBid in place; any other
    /// (project, region, instance type, launch specification) replaces the SpotBids gradually,
    /// within `maxSurge` and `maxUnavailable`.
    #[serde(
        serialize_with = "template::serialize",
        deserialize_with = "template::deserialize"
    )]
    #[schemars(schema_with = "template_schema")]
    pub template: SpotBidSpec,

    /// During a replacement, how many instances may be wanted beyond `replicas` (new SpotBids
    /// placed before old ones are cancelled). Default: `blockSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000), extend("format" = "int32"))]
    pub max_surge: Option<i32>,

    /// During a replacement, how many of `replicas` instances may be missing from running
    /// SpotBids (old ones cancelled before new ones run). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000), extend("format" = "int32"))]
    pub max_unavailable: Option<i32>,
}

fn default_block_size() -> i32 {
    1
}

impl SpotPoolSpec {
    /// `maxSurge`, or its default (`blockSize`).
    pub fn surge(&self) -> i32 {
        self.max_surge.unwrap_or(self.block_size).max(0)
    }

    /// `maxUnavailable`, or its default (0).
    pub fn unavailable(&self) -> i32 {
        self.max_unavailable.unwrap_or(0).max(0)
    }
}

/// What the pool and its SpotBids are now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpotPoolStatus {
    /// Instances the pool's SpotBids ask for (those not being deleted).
    #[serde(default)]
    pub replicas: i32,

    /// Instances running.
    #[serde(default)]
    pub ready_replicas: i32,

    /// Instances asked for by SpotBids of the current template.
    #[serde(default)]
    pub updated_replicas: i32,

    /// The label selector of the pool's SpotBids, e.g. `mithril.ai/pool=train` (the scale
    /// subresource's selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// SpotBids of the pool (those not being deleted).
    #[serde(default)]
    pub bids: i32,

    /// SpotBids by phase, e.g. `Allocated: 2, Open: 1` (`Unknown` before a SpotBid reports one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bids_by_phase: BTreeMap<String, i32>,

    /// What the allocated bids pay per hour now (their price per instance-hour times their
    /// instances), e.g. `"$48.00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_cost: Option<String>,

    /// What the pool's SpotBids have cost so far and cost per hour now: the sum of their
    /// `status.spend` (SpotBids deleted earlier no longer count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,

    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (every wanted instance runs in a SpotBid of the current template) and `Synced`
    /// (the SpotBids are the ones the spec asks for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The template's schema: the SpotBid spec without the fields the pool sets, and without the
/// SpotBid's transition rules (`oldSelf`), since a template may change where a live bid cannot.
fn template_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<SpotBidSpec>();
    if let Some(object) = schema.as_object_mut() {
        if let Some(properties) = object.get_mut("properties").and_then(|p| p.as_object_mut()) {
            for field in SET_BY_THE_POOL {
                properties.remove(field);
            }
        }
        if let Some(required) = object.get_mut("required").and_then(|r| r.as_array_mut()) {
            required.retain(|field| !SET_BY_THE_POOL.iter().any(|f| field == f));
        }
        object.insert(
            "description".into(),
            "The SpotBid spec each block is made from (without instanceQuantity and bidFid)."
                .into(),
        );
    }
    drop_transition_rules(&mut schema);
    schema
}

/// Removes, at every depth, the CEL rules that compare with `oldSelf` or read a field the template
/// does not have.
fn drop_transition_rules(schema: &mut Schema) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Array(rules)) =
                    map.get_mut("x-kubernetes-validations")
                {
                    rules.retain(|rule| {
                        let text = rule["rule"].as_str().unwrap_or_default();
                        !text.contains("oldSelf")
                            && !SET_BY_THE_POOL.iter().any(|f| text.contains(f))
                    });
                    if rules.is_empty() {
                        map.remove("x-kubernetes-validations");
                    }
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = std::mem::take(schema).to_value();
    walk(&mut value);
    *schema = Schema::try_from(value).unwrap_or_default();
}

/// The template on the wire: a SpotBid spec without the fields the pool sets (read as a single
/// instance, never adopting a bid).
mod template {
    use super::{SET_BY_THE_POOL, SpotBidSpec};
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(spec: &SpotBidSpec, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(spec).map_err(S::Error::custom)?;
        if let Some(object) = value.as_object_mut() {
            for field in SET_BY_THE_POOL {
                object.remove(field);
            }
        }
        value.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SpotBidSpec, D::Error> {
        let mut value = serde_json::Value::deserialize(deserializer)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("bidFid");
            object.insert("instanceQuantity".into(), 1.into());
        }
        serde_json::from_value(value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    fn pool() -> SpotPool {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotPool",
            "metadata": {"name": "train", "namespace": "ml"},
            "spec": {
                "replicas": 6, "blockSize": 2,
                "template": {
                    "project": "demo", "region": "us-central1-a",
                    "instanceType": "h100-80gb.sxm.8x", "limitPrice": "$12.50",
                },
            },
        }))
        .expect("a valid pool")
    }

    #[test]
    fn the_template_reads_and_writes_without_the_fields_the_pool_sets() {
        let pool = pool();
        assert_eq!(pool.spec.template.instance_quantity, 1);
        assert_eq!(pool.spec.template.bid_fid, None);
        let written = serde_json::to_value(&pool).unwrap();
        let template = written["spec"]["template"].as_object().unwrap();
        assert!(!template.contains_key("instanceQuantity"));
        assert!(!template.contains_key("bidFid"));
        assert_eq!(template["limitPrice"], "$12.50");
    }

    #[test]
    fn the_template_schema_keeps_the_spot_bid_rules_but_no_transition_rule() {
        let crd = serde_json::to_value(SpotPool::crd()).unwrap();
        let version = &crd["spec"]["versions"][0];
        let template =
            &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["template"];
        let text = template.to_string();
        assert!(!text.contains("oldSelf"), "{text}");
        assert!(template["properties"]["instanceQuantity"].is_null());
        assert!(template["properties"]["bidFid"].is_null());
        assert!(template["properties"]["instanceType"].is_object());
        assert!(text.contains("set exactly one of limitPrice and pricing.strategy"));
        let required: Vec<&str> = template["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(required.contains(&"instanceType"));
        assert!(!required.contains(&"instanceQuantity"));
        let scale = &version["subresources"]["scale"];
        assert_eq!(scale["specReplicasPath"], ".spec.replicas");
        assert_eq!(scale["statusReplicasPath"], ".status.replicas");
        assert_eq!(scale["labelSelectorPath"], ".status.selector");
        assert_eq!(crd["spec"]["names"]["shortNames"][0], "spool");
    }

    #[test]
    fn surge_and_unavailable_default_to_a_block_and_none() {
        let mut spec = pool().spec;
        assert_eq!((spec.surge(), spec.unavailable()), (2, 0));
        spec.max_surge = Some(0);
        spec.max_unavailable = Some(4);
        assert_eq!((spec.surge(), spec.unavailable()), (0, 4));
    }
}
