//! Instances: `/v2/instances` (list, batch start/pause) and `/v2/instances/{instance_fid}/status`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::common::{QueryPairs, SortDirection, check_limit, push_opt};
use crate::wire_enum::wire_enum;

wire_enum! {
    /// An instance's lifecycle status.
    pub enum InstanceStatus {
        New => "STATUS_NEW",
        Confirmed => "STATUS_CONFIRMED",
        Initializing => "STATUS_INITIALIZING",
        Starting => "STATUS_STARTING",
        Running => "STATUS_RUNNING",
        Stopping => "STATUS_STOPPING",
        Terminated => "STATUS_TERMINATED",
        Relocating => "STATUS_RELOCATING",
        Preempting => "STATUS_PREEMPTING",
        Preempted => "STATUS_PREEMPTED",
        Replaced => "STATUS_REPLACED",
        Paused => "STATUS_PAUSED",
        Error => "STATUS_ERROR",
    }
}

wire_enum! {
    /// The target of Put Instance Status: start or pause.
    pub enum InstanceTargetStatus {
        Running => "STATUS_RUNNING",
        Paused => "STATUS_PAUSED",
    }
}

wire_enum! {
    /// What kind of order an instance belongs to (`order_type_in` filter).
    pub enum OrderType {
        Bid => "Bid",
        Reservation => "Reservation",
    }
}

wire_enum! {
    /// `sort_by` of Get Instances.
    pub enum InstanceSortBy {
        CreatedAt => "created_at",
        InstanceStatus => "instance_status",
        InstanceTypeFid => "instance_type_fid",
    }
}

/// `InstanceModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `inst_...`.
    pub fid: String,
    pub name: String,
    pub project: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: Timestamp,
    pub created_by: String,
    pub instance_type: String,
    #[serde(default)]
    pub region: Option<String>,
    /// The spot bid FID, for spot instances.
    #[serde(default)]
    pub bid: Option<String>,
    /// The reservation FID, for reserved instances.
    #[serde(default)]
    pub reservation: Option<String>,
    #[serde(default)]
    pub ssh_destination: Option<String>,
    #[serde(default)]
    pub private_ip: Option<String>,
    pub status: InstanceStatus,
}

/// `InstanceStatusResponse`: body of Get Instance Status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatusResponse {
    pub fid: String,
    pub name: String,
    pub status: InstanceStatus,
    #[serde(default)]
    pub bid: Option<String>,
    #[serde(default)]
    pub reservation: Option<String>,
    #[serde(default, with = "crate::timestamp::option")]
    pub end_time: Option<Timestamp>,
}

/// `PatchInstanceStatusRequest`: start or pause a set of (reserved) instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchInstancesRequest {
    /// Instance FIDs; a set because the API requires unique items.
    pub instances: BTreeSet<String>,
    pub status: InstanceTargetStatus,
}

impl PatchInstancesRequest {
    /// A request to move `instances` to `status`.
    pub fn new(
        instances: impl IntoIterator<Item = impl Into<String>>,
        status: InstanceTargetStatus,
    ) -> Self {
        PatchInstancesRequest {
            instances: instances.into_iter().map(Into::into).collect(),
            status,
        }
    }
}

/// `PatchInstanceStatusResponse`: every requested instance's status after processing
/// (`STATUS_CONFIRMED` when starting, `STATUS_STOPPING` when stopping, unchanged if it could not
/// be changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchInstancesResponse {
    pub instances: BTreeMap<String, InstanceStatus>,
}

/// Query of Get Instances. `project` is required.
///
/// The `*_in` filters are arrays. The OpenAPI document sets no `style`/`explode`, so the defaults
/// for query parameters apply (`form`, `explode: true`): one `key=value` pair per item, which is
/// also what FastAPI's list query parameters read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListInstancesQuery {
    /// Project FID (required).
    pub project: String,
    pub next_cursor: Option<String>,
    pub sort_by: Option<InstanceSortBy>,
    pub sort_dir: Option<SortDirection>,
    pub instance_type: Option<String>,
    pub region: Option<String>,
    pub status_in: Vec<InstanceStatus>,
    pub order_type_in: Vec<OrderType>,
    pub bid_fid_in: Vec<String>,
    pub reservation_fid_in: Vec<String>,
    pub limit: Option<u32>,
}

impl ListInstancesQuery {
    /// All instances of a project.
    pub fn for_project(project: impl Into<String>) -> Self {
        ListInstancesQuery {
            project: project.into(),
            ..Default::default()
        }
    }
    /// Sets `status_in`.
    pub fn status_in(mut self, statuses: impl IntoIterator<Item = InstanceStatus>) -> Self {
        self.status_in = statuses.into_iter().collect();
        self
    }
    /// Sets `order_type_in`.
    pub fn order_type_in(mut self, types: impl IntoIterator<Item = OrderType>) -> Self {
        self.order_type_in = types.into_iter().collect();
        self
    }
    /// Sets `bid_fid_in`.
    pub fn bid_fid_in(mut self, fids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.bid_fid_in = fids.into_iter().map(Into::into).collect();
        self
    }
    /// Sets `reservation_fid_in`.
    pub fn reservation_fid_in(mut self, fids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.reservation_fid_in = fids.into_iter().map(Into::into).collect();
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
    pub fn sort(mut self, by: InstanceSortBy, dir: SortDirection) -> Self {
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
        if self.project.is_empty() {
            return Err("project is required".to_owned());
        }
        check_limit(self.limit)
    }

    pub(crate) fn to_pairs(&self) -> QueryPairs {
        let mut pairs = QueryPairs::new();
        push_opt(&mut pairs, "next_cursor", self.next_cursor.as_ref());
        push_opt(&mut pairs, "sort_by", self.sort_by.as_ref());
        push_opt(&mut pairs, "sort_dir", self.sort_dir.as_ref());
        pairs.push(("project", self.project.clone()));
        push_opt(&mut pairs, "instance_type", self.instance_type.as_ref());
        push_opt(&mut pairs, "region", self.region.as_ref());
        pairs.extend(self.status_in.iter().map(|s| ("status_in", s.to_string())));
        pairs.extend(
            self.order_type_in
                .iter()
                .map(|t| ("order_type_in", t.to_string())),
        );
        pairs.extend(self.bid_fid_in.iter().map(|f| ("bid_fid_in", f.clone())));
        pairs.extend(
            self.reservation_fid_in
                .iter()
                .map(|f| ("reservation_fid_in", f.clone())),
        );
        push_opt(&mut pairs, "limit", self.limit);
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_instance_with_nulls() {
        let json = r#"{"fid":"inst_abc123456","name":"train-a-0","project":"proj_abc123456",
            "created_at":"2024-01-01T00:00:00+00:00","created_by":"user_abc123456","instance_type":"it_abc123456",
            "region":null,"bid":null,"reservation":"res_abc123456","ssh_destination":null,"private_ip":"10.0.0.4",
            "status":"STATUS_PAUSED"}"#;
        let instance: Instance = serde_json::from_str(json).unwrap();
        assert_eq!(instance.status, InstanceStatus::Paused);
        assert_eq!(instance.reservation.as_deref(), Some("res_abc123456"));
        assert_eq!(instance.bid, None);
    }

    #[test]
    fn unknown_instance_status_falls_back() {
        let status: InstanceStatus = serde_json::from_str("\"STATUS_HIBERNATING\"").unwrap();
        assert_eq!(status, InstanceStatus::Unknown("STATUS_HIBERNATING".into()));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            "\"STATUS_HIBERNATING\""
        );
        assert_eq!(InstanceStatus::KNOWN.len(), 13);
    }

    #[test]
    fn list_filters_repeat_their_key() {
        let query = ListInstancesQuery::for_project("proj_1")
            .status_in([InstanceStatus::Running, InstanceStatus::Paused])
            .bid_fid_in(["bid_1", "bid_2"]);
        assert_eq!(
            query.to_pairs(),
            vec![
                ("project", "proj_1".to_string()),
                ("status_in", "STATUS_RUNNING".to_string()),
                ("status_in", "STATUS_PAUSED".to_string()),
                ("bid_fid_in", "bid_1".to_string()),
                ("bid_fid_in", "bid_2".to_string()),
            ]
        );
        assert!(
            ListInstancesQuery::default()
                .validate()
                .unwrap_err()
                .contains("project")
        );
    }

    #[test]
    fn patch_request_dedupes_instances() {
        let request = PatchInstancesRequest::new(
            ["inst_b", "inst_a", "inst_b"],
            InstanceTargetStatus::Paused,
        );
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"instances":["inst_a","inst_b"],"status":"STATUS_PAUSED"}"#
        );
    }
}
