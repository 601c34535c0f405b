//! Typed request and response models, one file per API area, matching Mithril's OpenAPI schemas.
//!
//! Conventions: nullable fields are `Option` (a missing field decodes as `None` too); unknown
//! fields are ignored so the server can add fields; string enums fall back to `Unknown(String)`;
//! money is [`Price`](super::Price); datetimes are [`jiff::Timestamp`].

pub mod availability;
pub mod bids;
pub mod common;
pub mod errors;
pub mod history;
pub mod instance_types;
pub mod instances;
pub mod projects;

pub use availability::Auction;
pub use bids::{
    Bid, BidDetailedStatus, BidSortBy, BidStatus, BidStatusResponse, CreateBidRequest,
    LaunchSpecification, ListBidsQuery, UpdateBidRequest,
};
pub use common::SortDirection;
pub use errors::{ErrorDetail, LocSegment, ValidationIssue};
pub use history::{
    BidEventType, BidHistory, BidHistoryEvent, HistoryQuery, InstancePricingEvent,
    InstancePricingHistory, InstanceStatusEvent, InstanceStatusHistory, PersistentDiskChange,
};
pub use instance_types::InstanceType;
pub use instances::{
    Instance, InstanceSortBy, InstanceStatus, InstanceStatusResponse, InstanceTargetStatus,
    ListInstancesQuery, OrderType, PatchInstancesRequest, PatchInstancesResponse,
};
pub use projects::Project;
