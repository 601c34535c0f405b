//! The simulator's own wire types: serde structs that match Mithril's OpenAPI schemas field for field.
//! Nullable fields are written as `null`, never left out, as Mithril's FastAPI server does.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// `InstanceModel.status` and every other instance status field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InstanceStatus {
    #[serde(rename = "STATUS_NEW")]
    New,
    #[serde(rename = "STATUS_CONFIRMED")]
    Confirmed,
    #[serde(rename = "STATUS_INITIALIZING")]
    Initializing,
    #[serde(rename = "STATUS_STARTING")]
    Starting,
    #[serde(rename = "STATUS_RUNNING")]
    Running,
    #[serde(rename = "STATUS_STOPPING")]
    Stopping,
    #[serde(rename = "STATUS_TERMINATED")]
    Terminated,
    #[serde(rename = "STATUS_RELOCATING")]
    Relocating,
    #[serde(rename = "STATUS_PREEMPTING")]
    Preempting,
    #[serde(rename = "STATUS_PREEMPTED")]
    Preempted,
    #[serde(rename = "STATUS_REPLACED")]
    Replaced,
    #[serde(rename = "STATUS_PAUSED")]
    Paused,
    #[serde(rename = "STATUS_ERROR")]
    Error,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 13] = [
        InstanceStatus::New,
        InstanceStatus::Confirmed,
        InstanceStatus::Initializing,
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Stopping,
        InstanceStatus::Terminated,
        InstanceStatus::Relocating,
        InstanceStatus::Preempting,
        InstanceStatus::Preempted,
        InstanceStatus::Replaced,
        InstanceStatus::Paused,
        InstanceStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::New => "STATUS_NEW",
            InstanceStatus::Confirmed => "STATUS_CONFIRMED",
            InstanceStatus::Initializing => "STATUS_INITIALIZING",
            InstanceStatus::Starting => "STATUS_STARTING",
            InstanceStatus::Running => "STATUS_RUNNING",
            InstanceStatus::Stopping => "STATUS_STOPPING",
            InstanceStatus::Terminated => "STATUS_TERMINATED",
            InstanceStatus::Relocating => "STATUS_RELOCATING",
            InstanceStatus::Preempting => "STATUS_PREEMPTING",
            InstanceStatus::Preempted => "STATUS_PREEMPTED",
            InstanceStatus::Replaced => "STATUS_REPLACED",
            InstanceStatus::Paused => "STATUS_PAUSED",
            InstanceStatus::Error => "STATUS_ERROR",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// `BidModel.status` (the status endpoint may also say `Relocating`, which the simulator never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BidStatus {
    Open,
    Allocated,
    Preempting,
    Terminated,
    Paused,
}

impl BidStatus {
    pub const ALL: [BidStatus; 5] = [
        BidStatus::Open,
        BidStatus::Allocated,
        BidStatus::Preempting,
        BidStatus::Terminated,
        BidStatus::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BidStatus::Open => "Open",
            BidStatus::Allocated => "Allocated",
            BidStatus::Preempting => "Preempting",
            BidStatus::Terminated => "Terminated",
            BidStatus::Paused => "Paused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// `BidHistoryEventModel.event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BidEventType {
    Placed,
    Paused,
    Resumed,
    Terminated,
    Allocated,
    Preempted,
    #[serde(rename = "Limit Price Changed")]
    LimitPriceChanged,
    #[serde(rename = "Memory Adjusted")]
    MemoryAdjusted,
    #[serde(rename = "Volumes Attached")]
    VolumesAttached,
    #[serde(rename = "Volumes Removed")]
    VolumesRemoved,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LaunchSpecificationModel {
    pub volumes: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub startup_script: Option<String>,
    pub kubernetes_cluster: Option<String>,
    pub image_version: Option<String>,
    pub memory_gb: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidModel {
    pub fid: String,
    pub name: String,
    pub project: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
    pub limit_price: String,
    pub instance_quantity: u32,
    pub instance_type: String,
    pub region: Option<String>,
    pub instances: Vec<String>,
    pub launch_specification: LaunchSpecificationModel,
    pub status: BidStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetBidsResponse {
    pub data: Vec<BidModel>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidStatusResponse {
    pub bid_fid: String,
    pub status: BidStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentDiskChange {
    pub attached: Option<String>,
    pub removed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidHistoryEventModel {
    pub timestamp: Timestamp,
    pub event_type: BidEventType,
    pub limit_price: Option<String>,
    pub user_id: Option<String>,
    pub memory_gb: Option<i64>,
    pub persistent_disk_change: Option<PersistentDiskChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidHistoryResponse {
    pub bid_fid: String,
    pub events: Vec<BidHistoryEventModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuctionModel {
    pub fid: String,
    pub instance_type: String,
    pub region: String,
    pub capacity: u32,
    pub last_instance_price: String,
    pub lowest_allocated_price: Option<String>,
    pub adjustable_memory: bool,
    pub default_image_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceModel {
    pub fid: String,
    pub name: String,
    pub project: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub instance_type: String,
    pub region: Option<String>,
    pub bid: Option<String>,
    pub reservation: Option<String>,
    pub ssh_destination: Option<String>,
    pub private_ip: Option<String>,
    pub status: InstanceStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetInstancesResponse {
    pub data: Vec<InstanceModel>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchInstanceStatusResponse {
    pub instances: std::collections::BTreeMap<String, InstanceStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatusResponse {
    pub fid: String,
    pub name: String,
    pub status: InstanceStatus,
    pub bid: Option<String>,
    pub reservation: Option<String>,
    pub end_time: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatusEvent {
    pub timestamp: Timestamp,
    pub status: InstanceStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatusHistory {
    pub instance_fid: String,
    pub events: Vec<InstanceStatusEvent>,
    pub bid_fid: Option<String>,
    pub reservation_fid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatusHistoryResponse {
    pub instances: Vec<InstanceStatusHistory>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePricingEvent {
    pub price_cents: u64,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePricingHistory {
    pub instance_fid: String,
    pub events: Vec<InstancePricingEvent>,
    pub bid_fid: Option<String>,
    pub reservation_fid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePricingHistoryResponse {
    pub instances: Vec<InstancePricingHistory>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectModel {
    pub fid: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceTypeModel {
    pub fid: String,
    pub name: String,
    pub num_cpus: u32,
    pub cpu_type: String,
    pub ram_gb: u32,
    pub num_gpus: u32,
    pub gpu_type: String,
    pub gpu_memory_gb: u32,
    pub gpu_socket: String,
    pub local_storage_gb: u32,
    pub network_type: Option<String>,
    pub ib_count: u32,
    pub bridge_count: u32,
    pub hourly_price: f64,
}

/// One entry of a FastAPI 422 body (pydantic v2 shape: `input` and `ctx` ride along).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationErrorItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub loc: Vec<LocPart>,
    pub msg: String,
    pub input: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ctx: Option<serde_json::Value>,
}

/// A segment of a validation error location: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocPart {
    Field(String),
    Index(usize),
}

impl From<&str> for LocPart {
    fn from(value: &str) -> Self {
        LocPart::Field(value.to_owned())
    }
}

impl From<usize> for LocPart {
    fn from(value: usize) -> Self {
        LocPart::Index(value)
    }
}
