//! Shared fixtures of the SpotBid unit tests.

use crate::crd::{DeletionPolicy, LaunchSpecification as SpecLaunch, SpotBidSpec};
use jiff::Timestamp;
use mithril_api::{Bid, BidStatus, LaunchSpecification, Price};

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
