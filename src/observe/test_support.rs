//! Fixtures shared by the observers' unit tests.

use mithril_api::{Bid, BidStatus, LaunchSpecification, Price};

/// A spot bid `fid` named `name-<fid>` in project `proj_1` (limit $20.00, `us-central1-a`,
/// `it_1`), holding `instances`.
pub(crate) fn bid(fid: &str, status: BidStatus, instances: &[&str]) -> Bid {
    Bid {
        fid: fid.into(),
        name: format!("name-{fid}"),
        project: "proj_1".into(),
        created_by: "user_1".into(),
        created_at: "2025-01-01T00:00:00Z".parse().expect("a timestamp"),
        deactivated_at: None,
        limit_price: Price::from_cents(2000),
        instance_quantity: i64::try_from(instances.len()).unwrap_or(i64::MAX),
        instance_type: "it_1".into(),
        region: Some("us-central1-a".into()),
        instances: instances.iter().map(|fid| (*fid).to_owned()).collect(),
        launch_specification: LaunchSpecification::default(),
        status,
    }
}
