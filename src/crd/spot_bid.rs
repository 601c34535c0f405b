//! `SpotBid`: one Mithril spot bid, declared as a Kubernetes resource.

use super::condition::Condition;
use super::secret_ref::ApiKeySecretRef;
use super::time::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Mithril spot bid: the operator places it, keeps its limit price, pause state and volumes in
/// line with this spec, and reports the bid and its instances in the status.
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
        name = "Limit",
        type_ = "string",
        json_path = ".spec.limitPrice",
        description = "Limit price per instance-hour"
    ),
    printcolumn(
        name = "Paying",
        type_ = "string",
        json_path = ".status.currentPrice",
        description = "Price paid per instance-hour now"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Running instances / wanted instances"
    ),
    printcolumn(
        name = "Bid",
        type_ = "string",
        json_path = ".status.bidFid",
        description = "Mithril bid FID"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.bidFid) || (has(self.bidFid) && self.bidFid == oldSelf.bidFid)"
).message("bidFid cannot be changed or removed once set"))]
#[serde(rename_all = "camelCase")]
pub struct SpotBidSpec {
    /// Mithril project that owns the bid: its name or its `proj_` FID. Immutable.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("project is immutable: a bid cannot move between projects"))]
    pub project: String,

    /// Region to run in, e.g. `us-central1-a`. Immutable: Mithril cannot move a live bid.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable: Mithril cannot move a live bid; create a new SpotBid"))]
    pub region: String,

    /// Instance type: its name (e.g. `h100-80gb.sxm.8x`) or its `it_` FID. Immutable.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceType is immutable: Mithril cannot change it on a live bid; create a new SpotBid"))]
    pub instance_type: String,

    /// Number of instances to run, at least 1. Immutable: Mithril cannot resize a live bid.
    #[schemars(range(min = 1, max = 4096))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceQuantity is immutable: Mithril cannot resize a live bid; create a new SpotBid"))]
    pub instance_quantity: i32,

    /// Highest price per instance-hour the bid may pay, in US dollars and cents, e.g. `"$12.50"`.
    /// Changing it updates the live bid.
    #[schemars(regex(pattern = r"^\$(0|[1-9][0-9]{0,5})\.[0-9]{2}$"))]
    pub limit_price: String,

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
    #[schemars(length(max = 32), inner(length(min = 1, max = 128)))]
    pub ssh_keys: Vec<String>,

    /// FIDs of the volumes attached to each instance. Changing them updates the live bid.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 1, max = 128)))]
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

    /// Limit price in force on Mithril, e.g. `"$12.50"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<String>,

    /// Price per instance-hour being paid now, e.g. `"$9.75"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_price: Option<String>,

    /// How many times Mithril has preempted this bid's instances.
    #[serde(default)]
    pub preemption_count: i64,

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

    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (bid allocated and every instance running) and `Synced` (Mithril matches the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One instance of the bid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

impl SpotBidStatus {
    /// The `ready` column text for the given counts, e.g. `2/2`.
    pub fn ready_text(ready: i32, wanted: i32) -> String {
        format!("{ready}/{wanted}")
    }
}
