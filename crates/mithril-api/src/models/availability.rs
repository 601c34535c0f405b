//! Spot availability: `GET /v2/spot/availability`.

use serde::{Deserialize, Serialize};

use crate::price::Price;

/// `AuctionModel`: one spot market (instance type × region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    /// `auc_...`.
    pub fid: String,
    /// Instance type FID.
    pub instance_type: String,
    pub region: String,
    /// Instances available.
    pub capacity: i64,
    /// The current spot price per instance-hour.
    pub last_instance_price: Price,
    /// The lowest limit price currently holding an allocation, if any.
    #[serde(default)]
    pub lowest_allocated_price: Option<Price>,
    pub adjustable_memory: bool,
    #[serde(default)]
    pub default_image_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_auction() {
        let json = r#"[{"fid":"auc_abc123456","instance_type":"it_abc123456","region":"us-central1-a","capacity":512,
            "last_instance_price":"$10.00","lowest_allocated_price":"$15.00","adjustable_memory":false,
            "default_image_version":"imgver_abc123456"},
            {"fid":"auc_2","instance_type":"it_2","region":"eu-west1-a","capacity":0,
            "last_instance_price":"$0.00","lowest_allocated_price":null,"adjustable_memory":true,"default_image_version":null}]"#;
        let auctions: Vec<Auction> = serde_json::from_str(json).unwrap();
        assert_eq!(auctions[0].last_instance_price, Price::from_cents(1000));
        assert_eq!(
            auctions[0].lowest_allocated_price,
            Some(Price::from_cents(1500))
        );
        assert_eq!(auctions[1].lowest_allocated_price, None);
    }
}
