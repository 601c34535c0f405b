//! Spot bids: `/v2/spot/bids` and `/v2/spot/bids/{bid_fid}[/status]`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::common::{QueryPairs, SortDirection, check_limit, push_opt};
use crate::price::Price;
use crate::wire_enum::wire_enum;

wire_enum! {
    /// `BidModel.status`, also the `status` filter of Get Bids.
    pub enum BidStatus {
        Open => "Open",
        Allocated => "Allocated",
        Preempting => "Preempting",
        Terminated => "Terminated",
        Paused => "Paused",
    }
}

wire_enum! {
    /// `BidStatusResponse.status`: the bid status plus `Relocating` (part of the order is being
    /// moved).
    pub enum BidDetailedStatus {
        Open => "Open",
        Allocated => "Allocated",
        Preempting => "Preempting",
        Terminated => "Terminated",
        Paused => "Paused",
        Relocating => "Relocating",
    }
}

wire_enum! {
    /// `sort_by` of Get Bids.
    pub enum BidSortBy {
        CreatedAt => "created_at",
        Status => "status",
    }
}

/// `LaunchSpecificationModel`: what each instance of a bid boots with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LaunchSpecification {
    /// Volume FIDs.
    pub volumes: Vec<String>,
    /// SSH key FIDs.
    pub ssh_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<i64>,
}

/// `BidModel`: a spot bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// `bid_...`.
    pub fid: String,
    pub name: String,
    /// Project FID (`proj_...`).
    pub project: String,
    pub created_by: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: Timestamp,
    #[serde(default, with = "crate::timestamp::option")]
    pub deactivated_at: Option<Timestamp>,
    /// Maximum price per instance-hour.
    pub limit_price: Price,
    pub instance_quantity: i64,
    /// Instance type FID (`it_...`).
    pub instance_type: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Instance FIDs (`inst_...`).
    pub instances: Vec<String>,
    pub launch_specification: LaunchSpecification,
    pub status: BidStatus,
}

/// `CreateBidRequest`: body of Create Bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBidRequest {
    /// Project FID.
    pub project: String,
    pub region: String,
    /// Instance type FID.
    pub instance_type: String,
    pub limit_price: Price,
    pub instance_quantity: i64,
    /// Unique per project; the operator uses it to find a bid again after an ambiguous create.
    pub name: String,
    pub launch_specification: LaunchSpecification,
    /// Optional address for bid notifications (documented in the full API schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_email: Option<String>,
}

/// `UpdateBidRequest`: body of Update Bid. Only the fields set are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateBidRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<i64>,
}

impl UpdateBidRequest {
    /// Changes the limit price.
    pub fn limit_price(mut self, price: Price) -> Self {
        self.limit_price = Some(price);
        self
    }

    /// Pauses (`true`) or resumes (`false`) the bid.
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = Some(paused);
        self
    }

    /// Replaces the attached volumes.
    pub fn volumes(mut self, volumes: Vec<String>) -> Self {
        self.volumes = Some(volumes);
        self
    }

    /// Adjusts memory.
    pub fn memory_gb(mut self, memory_gb: i64) -> Self {
        self.memory_gb = Some(memory_gb);
        self
    }
}

/// `BidStatusResponse`: body of Get Bid Status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidStatusResponse {
    pub bid_fid: String,
    pub status: BidDetailedStatus,
}

/// Query of Get Bids. All filters optional; `limit` is 1..=100.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListBidsQuery {
    pub next_cursor: Option<String>,
    pub sort_by: Option<BidSortBy>,
    pub sort_dir: Option<SortDirection>,
    /// Project FID; all the user's projects when absent.
    pub project: Option<String>,
    pub instance_type: Option<String>,
    pub region: Option<String>,
    pub status: Option<BidStatus>,
    /// Exact bid name.
    pub name: Option<String>,
    pub limit: Option<u32>,
}

impl ListBidsQuery {
    /// Sets `project`.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }
    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets `status`.
    pub fn status(mut self, status: BidStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Sets `instance_type`.
    pub fn instance_type(mut self, instance_type: impl Into<String>) -> Self {
        self.instance_type = Some(instance_type.into());
        self
    }
    /// Sets `region`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// Sets `sort_by` and `sort_dir`.
    pub fn sort(mut self, by: BidSortBy, dir: SortDirection) -> Self {
        self.sort_by = Some(by);
        self.sort_dir = Some(dir);
        self
    }
    /// Sets `limit`.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Sets `next_cursor`.
    pub fn next_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.next_cursor = Some(cursor.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        check_limit(self.limit)
    }

    pub(crate) fn to_pairs(&self) -> QueryPairs {
        let mut pairs = QueryPairs::new();
        push_opt(&mut pairs, "next_cursor", self.next_cursor.as_ref());
        push_opt(&mut pairs, "sort_by", self.sort_by.as_ref());
        push_opt(&mut pairs, "sort_dir", self.sort_dir.as_ref());
        push_opt(&mut pairs, "project", self.project.as_ref());
        push_opt(&mut pairs, "instance_type", self.instance_type.as_ref());
        push_opt(&mut pairs, "region", self.region.as_ref());
        push_opt(&mut pairs, "status", self.status.as_ref());
        push_opt(&mut pairs, "name", self.name.as_ref());
        push_opt(&mut pairs, "limit", self.limit);
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BID: &str = r#"{
        "fid": "bid_abc123456", "name": "train-a", "project": "proj_abc123456",
        "created_by": "user_abc123456", "created_at": "2024-01-01T00:00:00Z", "deactivated_at": null,
        "limit_price": "$15.60", "instance_quantity": 4, "instance_type": "it_abc123456",
        "region": "us-central1-a", "instances": ["inst_abc123456"],
        "launch_specification": {"volumes": ["vol_1234567890"], "ssh_keys": ["sshkey_1234567890"],
            "startup_script": null, "kubernetes_cluster": null, "image_version": "imgver_abc123456", "memory_gb": null},
        "status": "Allocated"
    }"#;

    #[test]
    fn decodes_bid() {
        let bid: Bid = serde_json::from_str(BID).unwrap();
        assert_eq!(bid.limit_price, Price::from_cents(1560));
        assert_eq!(bid.status, BidStatus::Allocated);
        assert_eq!(bid.deactivated_at, None);
        assert_eq!(
            bid.launch_specification.image_version.as_deref(),
            Some("imgver_abc123456")
        );
    }

    #[test]
    fn unknown_status_survives_round_trip() {
        let bid: Bid =
            serde_json::from_str(&BID.replace("\"Allocated\"", "\"Hibernating\"")).unwrap();
        assert_eq!(bid.status, BidStatus::Unknown("Hibernating".into()));
        assert!(!bid.status.is_known());
        let json = serde_json::to_value(&bid).unwrap();
        assert_eq!(json["status"], "Hibernating");
    }

    #[test]
    fn every_known_status_round_trips() {
        for status in BidDetailedStatus::KNOWN {
            let wire = serde_json::to_string(status).unwrap();
            assert_eq!(
                &serde_json::from_str::<BidDetailedStatus>(&wire).unwrap(),
                status
            );
        }
        assert_eq!(
            BidDetailedStatus::from("Relocating"),
            BidDetailedStatus::Relocating
        );
    }

    #[test]
    fn update_sends_only_set_fields() {
        let request = UpdateBidRequest::default().limit_price(Price::from_cents(2000));
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"limit_price":"$20.00"}"#
        );
        assert_eq!(
            serde_json::to_string(&UpdateBidRequest::default().paused(true)).unwrap(),
            r#"{"paused":true}"#
        );
    }

    #[test]
    fn list_query_pairs_and_limit_check() {
        let query = ListBidsQuery::default()
            .project("proj_1")
            .status(BidStatus::Open)
            .sort(BidSortBy::CreatedAt, SortDirection::Desc)
            .limit(50);
        assert_eq!(
            query.to_pairs(),
            vec![
                ("sort_by", "created_at".to_string()),
                ("sort_dir", "desc".to_string()),
                ("project", "proj_1".to_string()),
                ("status", "Open".to_string()),
                ("limit", "50".to_string()),
            ]
        );
        assert!(query.validate().is_ok());
        assert!(ListBidsQuery::default().limit(500).validate().is_err());
    }
}
