//! Shared fixtures of the SpotBid unit tests.

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
