//! Histories: bid events (`/v2/spot/bids/{bid_fid}/history`) and per-instance status and pricing
//! history (`/v2/instances/{status,pricing}/history`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::common::{QueryPairs, check_limit, push_opt};
use super::instances::InstanceStatus;
use crate::price::Price;
use crate::wire_enum::wire_enum;

wire_enum! {
    /// `BidHistoryEventModel.event_type`.
    pub enum BidEventType {
        Placed => "Placed",
        Paused => "Paused",
        Resumed => "Resumed",
        Terminated => "Terminated",
        Allocated => "Allocated",
        Preempted => "Preempted",
        LimitPriceChanged => "Limit Price Changed",
        MemoryAdjusted => "Memory Adjusted",
        VolumesAttached => "Volumes Attached",
        VolumesRemoved => "Volumes Removed",
    }
}

/// `PersistentDiskChange`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersistentDiskChange {
    #[serde(default)]
    pub attached: Option<String>,
    #[serde(default)]
    pub removed: Option<String>,
}

/// `BidHistoryEventModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidHistoryEvent {
    #[serde(with = "crate::timestamp")]
    pub timestamp: Timestamp,
    pub event_type: BidEventType,
    /// The limit price in effect after the event (for placement and price changes).
    #[serde(default)]
    pub limit_price: Option<Price>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub memory_gb: Option<i64>,
    #[serde(default)]
    pub persistent_disk_change: Option<PersistentDiskChange>,
}

/// `BidHistoryResponse`: events ordered by timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidHistory {
    pub bid_fid: String,
    pub events: Vec<BidHistoryEvent>,
}

/// `InstanceStatusEvent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatusEvent {
    #[serde(with = "crate::timestamp")]
    pub timestamp: Timestamp,
    pub status: InstanceStatus,
}

/// `InstanceStatusHistory`: one instance's status changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatusHistory {
    pub instance_fid: String,
    pub events: Vec<InstanceStatusEvent>,
    #[serde(default)]
    pub bid_fid: Option<String>,
    #[serde(default)]
    pub reservation_fid: Option<String>,
}

/// `InstancePricingEvent`: a period billed at one price. `end_time` is null while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePricingEvent {
    /// The wire's integer `price_cents`, as an exact [`Price`].
    #[serde(rename = "price_cents", with = "crate::price::cents")]
    pub price: Price,
    #[serde(with = "crate::timestamp")]
    pub start_time: Timestamp,
    #[serde(default, with = "crate::timestamp::option")]
    pub end_time: Option<Timestamp>,
}

/// `InstancePricingHistory`: one instance's price periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePricingHistory {
    pub instance_fid: String,
    pub events: Vec<InstancePricingEvent>,
    #[serde(default)]
    pub bid_fid: Option<String>,
    #[serde(default)]
    pub reservation_fid: Option<String>,
}

/// Query of the instance status and pricing history endpoints: a project (required) and one of
/// an instance, a bid or a reservation, optionally bounded in time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryQuery {
    /// Project FID (required).
    pub project: String,
    pub instance_fid: Option<String>,
    pub bid_fid: Option<String>,
    pub reservation_fid: Option<String>,
    pub limit: Option<u32>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub next_cursor: Option<String>,
}

impl HistoryQuery {
    /// History within a project.
    pub fn for_project(project: impl Into<String>) -> Self {
        HistoryQuery {
            project: project.into(),
            ..Default::default()
        }
    }
    /// History of one instance.
    pub fn instance(mut self, fid: impl Into<String>) -> Self {
        self.instance_fid = Some(fid.into());
        self
    }
    /// History of all instances of a bid.
    pub fn bid(mut self, fid: impl Into<String>) -> Self {
        self.bid_fid = Some(fid.into());
        self
    }
    /// History of all instances of a reservation.
    pub fn reservation(mut self, fid: impl Into<String>) -> Self {
        self.reservation_fid = Some(fid.into());
        self
    }
    /// Bounds the history to `[start, end]`.
    pub fn between(mut self, start: Option<Timestamp>, end: Option<Timestamp>) -> Self {
        self.start_time = start;
        self.end_time = end;
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
        if let (Some(start), Some(end)) = (self.start_time, self.end_time)
            && start > end
        {
            return Err(format!("start_time {start} is after end_time {end}"));
        }
        check_limit(self.limit)
    }

    pub(crate) fn to_pairs(&self) -> QueryPairs {
        let mut pairs = QueryPairs::new();
        pairs.push(("project", self.project.clone()));
        push_opt(&mut pairs, "instance_fid", self.instance_fid.as_ref());
        push_opt(&mut pairs, "bid_fid", self.bid_fid.as_ref());
        push_opt(&mut pairs, "reservation_fid", self.reservation_fid.as_ref());
        push_opt(&mut pairs, "limit", self.limit);
        push_opt(&mut pairs, "start_time", self.start_time);
        push_opt(&mut pairs, "end_time", self.end_time);
        push_opt(&mut pairs, "next_cursor", self.next_cursor.as_ref());
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_use_the_exact_wire_strings() {
        assert_eq!(
            serde_json::to_string(&BidEventType::LimitPriceChanged).unwrap(),
            "\"Limit Price Changed\""
        );
        for event in BidEventType::KNOWN {
            let wire = serde_json::to_string(event).unwrap();
            assert_eq!(&serde_json::from_str::<BidEventType>(&wire).unwrap(), event);
        }
        assert_eq!(
            serde_json::from_str::<BidEventType>("\"Relocated\"").unwrap(),
            BidEventType::Unknown("Relocated".into())
        );
    }

    #[test]
    fn decodes_bid_history() {
        let json = r#"{"bid_fid":"bid_1","events":[
            {"timestamp":"2024-01-01T00:00:00Z","event_type":"Placed","limit_price":"$15.60","user_id":"user_1",
             "memory_gb":null,"persistent_disk_change":null},
            {"timestamp":"2024-01-01T01:00:00Z","event_type":"Volumes Attached",
             "persistent_disk_change":{"attached":"vol_1","removed":null}}]}"#;
        let history: BidHistory = serde_json::from_str(json).unwrap();
        assert_eq!(history.events[0].limit_price, Some(Price::from_cents(1560)));
        assert_eq!(history.events[1].event_type, BidEventType::VolumesAttached);
        assert_eq!(
            history.events[1]
                .persistent_disk_change
                .as_ref()
                .and_then(|c| c.attached.as_deref()),
            Some("vol_1")
        );
    }

    #[test]
    fn pricing_events_carry_cents() {
        let json = r#"{"instance_fid":"inst_1","events":[
            {"price_cents":1250,"start_time":"2024-01-01T00:00:00Z","end_time":"2024-01-01T02:00:00Z"},
            {"price_cents":980,"start_time":"2024-01-01T02:00:00Z","end_time":null}],"bid_fid":"bid_1","reservation_fid":null}"#;
        let history: InstancePricingHistory = serde_json::from_str(json).unwrap();
        assert_eq!(history.events[0].price, Price::from_cents(1250));
        assert_eq!(history.events[1].end_time, None);
        let back = serde_json::to_value(&history).unwrap();
        assert_eq!(back["events"][1]["price_cents"], 980);
        assert!(back["events"][1]["end_time"].is_null());
    }

    #[test]
    fn history_query_validates_and_encodes() {
        let start: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let end: Timestamp = "2024-01-02T00:00:00Z".parse().unwrap();
        let query = HistoryQuery::for_project("proj_1")
            .bid("bid_1")
            .between(Some(start), Some(end));
        assert_eq!(
            query.to_pairs(),
            vec![
                ("project", "proj_1".to_string()),
                ("bid_fid", "bid_1".to_string()),
                ("start_time", "2024-01-01T00:00:00Z".to_string()),
                ("end_time", "2024-01-02T00:00:00Z".to_string()),
            ]
        );
        assert!(query.validate().is_ok());
        assert!(
            HistoryQuery::for_project("p")
                .between(Some(end), Some(start))
                .validate()
                .is_err()
        );
        assert!(HistoryQuery::default().validate().is_err());
    }
}
