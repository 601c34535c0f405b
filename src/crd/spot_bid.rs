//! `SpotBid`: one Mithril spot bid, declared as a Kubernetes resource.

use super::condition::Condition;
use super::instance_schedule::DURATION_PATTERN;
use super::schema::item_description;
use super::secret_ref::ApiKeySecretRef;
use super::time::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shape of a price in US dollars and cents, e.g. `$12.50`.
pub const PRICE_PATTERN: &str = r"^\$(0|[1-9][0-9]{0,5})\.[0-9]{2}$";

/// A Mithril spot bid: the operator places it, keeps its limit price, pause state and volumes in
/// line with this spec, and reports the bid and its instances in the status.
// kube's derive takes one `printcolumn(...)` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mithril.ai",
    version = "v1alpha1",
    kind = "SpotBid",
    namespaced,
    status = "SpotBidStatus",
    derive = "PartialEq",
    shortname = "sb",
    category = "mithril",
    selectable = ".spec.project",
    selectable = ".spec.region",
    doc = "A Mithril spot bid for a number of GPU instances at a limit price.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Bid phase on Mithril"
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".status.region",
        description = "Region the bid is placed in (or about to be)"
    ),
    printcolumn(
        name = "Limit",
        type_ = "string",
        json_path = ".status.limitPrice",
        description = "Limit price per instance-hour in force on Mithril (fixed, or set by the pricing strategy)"
    ),
    printcolumn(
        name = "Paying",
        type_ = "string",
        json_path = ".status.currentPrice",
        description = "Price paid per instance-hour now"
    ),
    printcolumn(
        name = "Instances",
        type_ = "string",
        json_path = ".status.ready",
        description = "Running instances / wanted instances"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Synced")].status"#,
        description = "Whether Mithril matches the spec (the Synced condition)"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the bid is allocated and every instance runs (the Ready condition)"
    ),
    // The FID is long and mostly for copying: `kubectl get -o wide` shows it.
    printcolumn(
        name = "Bid",
        type_ = "string",
        json_path = ".status.bidFid",
        description = "Mithril bid FID",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "has(self.bidFid) == has(oldSelf.bidFid) && (!has(self.bidFid) || self.bidFid == oldSelf.bidFid)"
).message("bidFid can only be set when a SpotBid is created, and cannot be changed or removed: to adopt another bid, create a new SpotBid"))]
#[x_kube(validation = Rule::new(
    "has(self.limitPrice) != (has(self.pricing) && has(self.pricing.strategy))"
).message("set exactly one of limitPrice and pricing.strategy"))]
#[x_kube(validation = Rule::new("!has(self.bidFid) || !has(self.regions)")
    .message("an adopted bid (bidFid) stays in its region: regions cannot be set with bidFid"))]
#[serde(rename_all = "camelCase")]
pub struct SpotBidSpec {
    /// Mithril project that owns the bid: its name or its `proj_` FID. Immutable.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("project is immutable: a bid cannot move between projects"))]
    pub project: String,

    /// Region to run in, e.g. `us-central1-a`. Always required. Immutable: Mithril cannot move a
    /// live bid. With `regions`, the preferred one of the candidates: the bid starts here when
    /// they cost the same; the region it is in is `status.region`.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable: Mithril cannot move a live bid; create a new SpotBid"))]
    pub region: String,

    /// More regions the bid may run in besides `region` (listing `region` again is allowed). The
    /// operator places the bid in the cheapest of them whose auction has room for the whole
    /// quantity, and moves a bid that holds no instances when another region stays cheaper (see
    /// `regionChange`). The region in use is `status.region`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 16),
        inner(length(min = 1, max = 64)),
        transform = item_description("A region the bid may run in, e.g. `us-central1-b`.")
    )]
    pub regions: Vec<String>,

    /// When a bid moves to another of its `regions`. Used only with `regions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_change: Option<RegionChange>,

    /// Instance type: its name (e.g. `h100-80gb.sxm.8x`) or its `it_` FID. Immutable.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceType is immutable: Mithril cannot change it on a live bid; create a new SpotBid"))]
    pub instance_type: String,

    /// Number of instances to run, at least 1. Immutable: Mithril cannot resize a live bid.
    #[schemars(range(min = 1, max = 4096))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceQuantity is immutable: Mithril cannot resize a live bid; create a new SpotBid"))]
    pub instance_quantity: i32,

    /// Fixed limit price: the highest price per instance-hour the bid may pay, in US dollars and
    /// cents, e.g. `"$12.50"`. Changing it updates the live bid. Exactly one of `limitPrice` and
    /// `pricing.strategy` is set.
    // A plain string, empty when absent, so that manifests and code written against the fixed
    // price keep reading it as before; [`SpotBidSpec::fixed_limit_price`] gives the option.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = PRICE_PATTERN))]
    pub limit_price: String,

    /// Market-aware pricing: a strategy that derives the limit price from the auction, and/or a
    /// raise after each preemption. Every limit the operator sets stays at or below `maxPrice`.
    // Boxed here and in the status: every SpotBid in the operator's cache carries room for both
    // inline, and most never set them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Box<Pricing>>,

    /// Pause the bid on Mithril; setting it back to false resumes it. Changing it updates the
    /// live bid.
    #[serde(default)]
    pub paused: bool,

    /// What to run on each instance.
    #[serde(default)]
    pub launch_specification: LaunchSpecification,

    /// What happens to the Mithril bid when this resource is deleted: `Delete` cancels the bid,
    /// `Orphan` leaves it running on Mithril.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// FID (`bid_...`) of an existing bid to adopt instead of placing a new one. Cannot be changed
    /// or removed once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^bid_[A-Za-z0-9_-]{1,64}$"))]
    pub bid_fid: Option<String>,

    /// Secret key holding the Mithril API key to act with. Defaults to the operator's own key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<ApiKeySecretRef>,
}

/// How the operator sets the bid's limit price from the market.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("(!has(self.strategy) && !has(self.preemptionRaise)) || has(self.maxPrice)")
    .message("maxPrice is required with a strategy or a preemptionRaise"))]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    /// Which auction price the limit follows; re-evaluated at every resync. Unset: the limit is
    /// `spec.limitPrice` (plus any preemption raise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<PricingStrategy>,

    /// Percent added to the auction price the strategy follows, 0 to 1000. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Kubernetes knows no `uint32` format (a real API server warns); the range keeps it positive.
    #[schemars(range(min = 0, max = 1000), extend("format" = "int32"))]
    pub margin_percent: Option<u32>,

    /// Ceiling of every limit price the operator sets, e.g. `"$14.00"`: the bid never pays more
    /// per instance-hour, so it never costs more than `maxPrice` x `instanceQuantity` per hour.
    /// Required with a strategy or a preemption raise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PRICE_PATTERN))]
    pub max_price: Option<String>,

    /// Smallest move of the strategy's price that changes the limit on Mithril, e.g. `"$0.25"`
    /// (the default): smaller moves leave the bid alone. A ceiling, a raise or dropping the
    /// raises applies at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PRICE_PATTERN))]
    pub reprice_step: Option<String>,

    /// Added to the limit after each preemption, up to `maxPrice`, e.g. `"$0.50"`, so the bid
    /// wins its capacity back. Raises add up on top of the fixed or strategy price (total in
    /// `status.pricing.preemptionRaise`) until the price is restated: editing `limitPrice`,
    /// `strategy`, `marginPercent` or `preemptionRaise` drops them. Each raise is an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PRICE_PATTERN))]
    pub preemption_raise: Option<String>,
}

/// Which auction price the limit follows, re-evaluated at every resync: `ClearingPrice` (the
/// last clearing price, what every winner pays) or `LowestAllocatedPrice` (the lowest limit among
/// the current winners; the clearing price when nobody holds capacity). The margin is added, the
/// result capped at `maxPrice`. Unset: the limit is `spec.limitPrice` (plus any preemption raise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PricingStrategy {
    /// The last clearing price (what every winner pays) plus the margin: the bid keeps a margin
    /// above the going rate and lets go of its capacity rather than follow a spike.
    ClearingPrice,
    /// The lowest limit price among the current winners plus the margin: the bid outbids the
    /// weakest winner, so it wins capacity when it fits (the clearing price when nobody holds
    /// any).
    LowestAllocatedPrice,
}

/// When a bid moves between its regions: only while it holds no instances, and only to a region
/// that has been cheaper by the margin for the whole period.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionChange {
    /// How much cheaper, in percent of the current region's clearing price, another region must be.
    /// Default 10. A region with no room for the whole quantity counts as more expensive than any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100), extend("format" = "int32"))]
    pub min_saving_percent: Option<u32>,

    /// How long the other region must stay that much cheaper, e.g. `30m` (the default), `1h`,
    /// `0s` (move at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 24), regex(pattern = DURATION_PATTERN))]
    pub sustained_for: Option<String>,
}

/// What each instance of the bid boots with (Mithril's launch specification).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("self.sshKeys == oldSelf.sshKeys").message("launchSpecification.sshKeys is immutable: Mithril cannot change it on a live bid"))]
#[x_kube(validation = Rule::new(
    "has(self.startupScript) == has(oldSelf.startupScript) && (!has(self.startupScript) || self.startupScript == oldSelf.startupScript)"
).message("launchSpecification.startupScript is immutable: Mithril cannot change it on a live bid"))]
#[x_kube(validation = Rule::new(
    "has(self.kubernetesCluster) == has(oldSelf.kubernetesCluster) && (!has(self.kubernetesCluster) || self.kubernetesCluster == oldSelf.kubernetesCluster)"
).message("launchSpecification.kubernetesCluster is immutable: Mithril cannot change it on a live bid"))]
#[x_kube(validation = Rule::new(
    "has(self.imageVersion) == has(oldSelf.imageVersion) && (!has(self.imageVersion) || self.imageVersion == oldSelf.imageVersion)"
).message("launchSpecification.imageVersion is immutable: Mithril cannot change it on a live bid"))]
#[serde(rename_all = "camelCase")]
pub struct LaunchSpecification {
    /// FIDs of the SSH keys installed on each instance. Immutable.
    #[serde(default)]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 128)),
        transform = item_description("FID of an SSH key (`sshkey_...`).")
    )]
    pub ssh_keys: Vec<String>,

    /// FIDs of the volumes attached to each instance. Changing them updates the live bid.
    #[serde(default)]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 128)),
        transform = item_description("FID of a volume (`vol_...`).")
    )]
    pub volumes: Vec<String>,

    /// Script run when each instance starts. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub startup_script: Option<String>,

    /// Mithril Kubernetes cluster (FID) the instances join. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub kubernetes_cluster: Option<String>,

    /// Machine image version to boot; Mithril's default for the instance type when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub image_version: Option<String>,

    /// Memory per instance in GB, where the instance type allows adjusting it. Changing it updates
    /// the live bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory_gb: Option<i64>,
}

/// What happens to the Mithril bid when the SpotBid is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Cancel the bid on Mithril, then let the resource go.
    #[default]
    Delete,
    /// Leave the bid running on Mithril; only the resource goes.
    Orphan,
}

/// Where the bid is in its life, as the operator last observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SpotBidPhase {
    /// The bid does not exist on Mithril yet (being placed, or waiting for a valid spec or key).
    Pending,
    /// The bid is placed and waits for capacity at its limit price.
    Open,
    /// The bid won capacity; its instances are being provisioned or run.
    Allocated,
    /// Mithril is taking the instances back (outbid or capacity reclaimed).
    Preempting,
    /// Mithril is moving the instances elsewhere.
    Relocating,
    /// The bid is paused: it holds no instances.
    Paused,
    /// The bid has ended on Mithril (cancelled or expired).
    Terminated,
    /// The operator cannot act on this resource until its spec or Secret changes.
    Failed,
}

/// What the operator last observed of the bid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpotBidStatus {
    /// Where the bid is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SpotBidPhase>,

    /// FID of the Mithril bid this resource manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_fid: Option<String>,

    /// Name of the Mithril bid (derived from namespace, name and uid; used to find it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_name: Option<String>,

    /// The bid's instances as Mithril reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["fid"]))]
    pub instances: Vec<SpotBidInstance>,

    /// Limit price in force on Mithril, e.g. `"$12.50"`: the fixed `limitPrice` or the
    /// strategy's price, plus any raise after preemptions, never above `maxPrice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,

    /// How the operator priced the bid: the market it read, its target and why the limit in
    /// force is what it is. Set for every bid the operator prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Box<PricingStatus>>,

    /// Region the bid is placed in (or about to be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// Why the bid is in `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_reason: Option<String>,

    /// Another region that has been cheaper than `region` by the margin, and since when: the bid
    /// moves there once it has been for `spec.regionChange.sustainedFor` and the bid holds no
    /// instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_candidate: Option<RegionCandidate>,

    /// Price per instance-hour being paid now, e.g. `"$9.75"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_price: Option<String>,

    /// How many times Mithril has preempted this resource's bids' instances.
    #[serde(default)]
    pub preemption_count: i64,

    /// Of those, the preemptions of the current bid (`bidFid`), as its history counts them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bid_preemptions: i64,

    /// When the bid's instances were last preempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_preemption_time: Option<Time>,

    /// Number of instances running.
    #[serde(default)]
    pub ready_instances: i32,

    /// Number of instances wanted (the spec's quantity).
    #[serde(default)]
    pub wanted_instances: i32,

    /// Running / wanted instances, e.g. `2/2` (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,

    /// What the bid has cost so far and costs per hour now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,

    /// The bid's latest events on Mithril (placed, allocated, preempted, price changes...),
    /// oldest first, at most five.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub history: Vec<BidTransition>,

    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (bid allocated and every instance running) and `Synced` (Mithril matches the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// What a bid (or a pool's bids) cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spend {
    /// Paid so far for the current bid (`bidFid`), from Mithril's pricing history of its
    /// instances (periods still running counted up to the last reconcile), e.g. `"$41.20"`.
    pub cost_so_far: String,
    /// Paid per hour now: the clearing price times the running instances, e.g. `"$24.00"`.
    pub hourly_cost: String,
}

/// One event of the bid on Mithril.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidTransition {
    /// When it happened.
    pub time: Time,
    /// Mithril's event type, e.g. `Placed`, `Allocated`, `Preempted`, `Limit Price Changed`.
    pub event: String,
    /// The limit price after the event, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,
}

/// The operator's last pricing decision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingStatus {
    /// `Fixed`, or the strategy followed (`ClearingPrice`, `LowestAllocatedPrice`).
    pub basis: String,
    /// The auction price the strategy read, e.g. `"$8.00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_price: Option<String>,
    /// The limit the operator aims for now (the limit in force may differ by less than a step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_price: Option<String>,
    /// Total added after preemptions, on top of the fixed or strategy price (the sum stays at
    /// or below `maxPrice`), e.g. `"$1.00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_raise: Option<String>,
    /// Preemptions already answered with a raise (compared with `preemptionCount`).
    #[serde(default)]
    pub raised_preemptions: i64,
    /// The price the raises are added to and the raise step, e.g. `Fixed $9.00, raise $0.75` or
    /// `ClearingPrice +10%, raise $0.50`. Raises last while it stays the same: editing
    /// `spec.limitPrice`, `pricing.strategy`, `pricing.marginPercent` or `pricing.preemptionRaise`
    /// drops them; editing `maxPrice` or `repriceStep` keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_on: Option<String>,
    /// UpperCamelCase reason for the limit in force, e.g. `FollowingMarket`, `CappedAtMaxPrice`.
    pub reason: String,
    /// The same in words.
    pub message: String,
}

/// A region cheaper than the current one, remembered across reconciles (and restarts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionCandidate {
    /// The cheaper region.
    pub region: String,
    /// When it was first seen cheaper by the margin (without a break since).
    pub since: Time,
}

/// One instance of the bid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpotBidInstance {
    /// Mithril instance FID (`inst_...`).
    pub fid: String,
    /// Instance name.
    pub name: String,
    /// Mithril instance status, e.g. `STATUS_RUNNING`.
    pub status: String,
    /// Private IP address, once assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    /// SSH destination (`user@host`), once reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_destination: Option<String>,
}

impl SpotBidSpec {
    /// The fixed `limitPrice`, if the spec gives one.
    pub fn fixed_limit_price(&self) -> Option<&str> {
        Some(self.limit_price.as_str()).filter(|price| !price.is_empty())
    }

    /// Every region the bid may run in, preferred first, each once.
    pub fn candidate_regions(&self) -> Vec<String> {
        let mut regions = vec![self.region.clone()];
        for region in &self.regions {
            if !regions.contains(region) {
                regions.push(region.clone());
            }
        }
        regions
    }
}

impl SpotBidStatus {
    /// The `ready` column text for the given counts, e.g. `2/2`.
    pub fn ready_text(ready: i32, wanted: i32) -> String {
        format!("{ready}/{wanted}")
    }
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}
