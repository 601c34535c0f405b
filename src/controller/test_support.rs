//! Fixtures shared by the controllers' unit tests.

use crate::crd::{DeletionPolicy, LaunchSpecification as SpecLaunch, SpotBidSpec};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;
use mithril_api::{Bid, BidStatus, LaunchSpecification, Price};
use mithril_api::{Instance, InstanceStatus};

/// A ConfigMap named `name` in namespace `team`: any namespaced resource will do for the
/// generic wiring (filters, gates, resyncs), which only reads its metadata.
pub fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("team".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

/// A reserved instance `fid` of reservation `res_1` in project `proj_1`, named `<fid>-name`.
pub fn reserved_instance(fid: &str, status: InstanceStatus) -> Instance {
    Instance {
        fid: fid.into(),
        name: format!("{fid}-name"),
        project: "proj_1".into(),
        created_at: "2026-11-23T10:00:00Z".parse().expect("a timestamp"),
        created_by: "user_1".into(),
        instance_type: "it_h100".into(),
        region: Some("us-central1-a".into()),
        bid: None,
        reservation: Some("res_1".into()),
        ssh_destination: None,
        private_ip: None,
        status,
    }
}

/// The same instance won by spot bid `bid_1` instead of reserved.
pub fn spot_instance(fid: &str, status: InstanceStatus) -> Instance {
    Instance {
        bid: Some("bid_1".into()),
        reservation: None,
        ..reserved_instance(fid, status)
    }
}

// SpotBid fixtures.

/// `minute` minutes into the tests' history.
pub fn minute(minute: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + minute * 60).expect("a valid test time")
}

/// A bid of the tests' resource, placed at `created` minutes.
pub fn bid_at(fid: &str, status: BidStatus, created: i64) -> Bid {
    Bid {
        fid: fid.into(),
        name: "k8s-c1.team-a.train.3f2b8c1e".into(),
        project: "proj_0123456789abcdef".into(),
        created_by: "user_1".into(),
        created_at: minute(created),
        deactivated_at: None,
        limit_price: Price::from_cents(1250),
        instance_quantity: 2,
        instance_type: "it_0123456789abcdef".into(),
        region: Some("us-central1-a".into()),
        instances: Vec::new(),
        launch_specification: LaunchSpecification::default(),
        status,
    }
}

/// The tests' resource spec: `quantity` instances at a fixed limit of $12.50 in one region.
pub fn spec(quantity: i32) -> SpotBidSpec {
    SpotBidSpec {
        project: "demo".into(),
        region: "us-central1-a".into(),
        regions: Vec::new(),
        region_change: None,
        instance_type: "h100-80gb.sxm.8x".into(),
        instance_quantity: quantity,
        limit_price: "$12.50".into(),
        pricing: None,
        paused: false,
        launch_specification: SpecLaunch::default(),
        deletion_policy: DeletionPolicy::Delete,
        bid_fid: None,
        api_key_secret_ref: None,
    }
}
