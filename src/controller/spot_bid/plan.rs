//! The SpotBid planner: from what the resource asks and what Mithril shows, the one action to take.
//!
//! Pure: no IO, no clock. The reconcile resolves names to FIDs, finds the bid (by the FID in
//! status, the `bidFid` to adopt, or the deterministic name), calls [`plan`], performs the action,
//! and reports. Every decision about *what* to do to Mithril lives here and is unit-tested.

use crate::crd::DeletionPolicy;
use crate::mithril::{
    Bid, BidStatus, CreateBidRequest, LaunchSpecification, Price, UpdateBidRequest,
};
use std::collections::BTreeSet;

/// The bid the resource asks for, with names already resolved to Mithril FIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredBid {
    /// The deterministic bid name (see [`super::names::bid_name`]).
    pub name: String,
    pub project_fid: String,
    pub instance_type_fid: String,
    pub region: String,
    pub instance_quantity: i64,
    pub limit_price: Price,
    pub paused: bool,
    pub launch_specification: LaunchSpecification,
    /// A bid to adopt instead of creating one.
    pub adopt_fid: Option<String>,
}

/// What the resource wants now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// The bid should exist and match.
    Present(DesiredBid),
    /// The resource is being deleted.
    Deleting(DeletionPolicy),
}

/// One write to Mithril.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Place the bid (POST). The reconcile must have looked the name up first.
    Create(CreateBidRequest),
    /// Change only the fields that differ (PATCH).
    Update {
        fid: String,
        request: UpdateBidRequest,
    },
    /// Cancel the bid (DELETE).
    Cancel { fid: String },
}

/// A field Mithril cannot change on a live bid, which differs between spec and bid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableDrift {
    /// The spec field, as a user writes it (e.g. `spec.region`).
    pub field: &'static str,
    pub wanted: String,
    pub actual: String,
}

/// Why the planner will not act toward the spec, and waits for the spec (or Mithril) to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// `spec.bidFid` names a bid Mithril does not show this key.
    AdoptedBidNotFound { fid: String },
    /// The adopted bid has ended; a new one is not placed in its stead (the spec names that bid).
    AdoptedBidTerminated { fid: String },
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// At most one write per reconcile: the next reconcile sees its effect and plans again.
    pub action: Option<Action>,
    /// Immutable fields that differ: reported, never "fixed" by replacing a live bid.
    pub drift: Vec<ImmutableDrift>,
    pub blocker: Option<Blocker>,
}

impl Plan {
    fn act(action: Action) -> Self {
        Self {
            action: Some(action),
            ..Self::default()
        }
    }

    fn blocked(blocker: Blocker) -> Self {
        Self {
            blocker: Some(blocker),
            ..Self::default()
        }
    }

    /// Nothing to write and nothing wrong: Mithril matches the spec.
    pub fn is_in_sync(&self) -> bool {
        self.action.is_none() && self.drift.is_empty() && self.blocker.is_none()
    }
}

/// Plans the next write. `observed` is the bid this resource manages, if Mithril shows one.
pub fn plan(intent: &Intent, observed: Option<&Bid>) -> Plan {
    match intent {
        Intent::Deleting(policy) => plan_deletion(*policy, observed),
        Intent::Present(desired) => plan_presence(desired, observed),
    }
}

fn plan_deletion(policy: DeletionPolicy, observed: Option<&Bid>) -> Plan {
    match (policy, observed) {
        (DeletionPolicy::Delete, Some(bid)) if bid.status != BidStatus::Terminated => {
            Plan::act(Action::Cancel {
                fid: bid.fid.clone(),
            })
        }
        // Orphan leaves the bid; a bid already gone or ended counts as cancelled.
        _ => Plan::default(),
    }
}

fn plan_presence(desired: &DesiredBid, observed: Option<&Bid>) -> Plan {
    let adopted = desired.adopt_fid.as_ref();
    match observed {
        None => match adopted {
            Some(fid) => Plan::blocked(Blocker::AdoptedBidNotFound { fid: fid.clone() }),
            None => Plan::act(Action::Create(create_request(desired))),
        },
        Some(bid) if bid.status == BidStatus::Terminated => match adopted {
            Some(fid) => Plan::blocked(Blocker::AdoptedBidTerminated { fid: fid.clone() }),
            // Our own bid was cancelled outside the operator: the spec still asks for one.
            None => Plan::act(Action::Create(create_request(desired))),
        },
        Some(bid) => {
            let update = update_request(desired, bid);
            Plan {
                action: (update != UpdateBidRequest::default()).then(|| Action::Update {
                    fid: bid.fid.clone(),
                    request: update,
                }),
                drift: immutable_drift(desired, bid),
                blocker: None,
            }
        }
    }
}

/// The POST body for the desired bid.
pub fn create_request(desired: &DesiredBid) -> CreateBidRequest {
    CreateBidRequest {
        project: desired.project_fid.clone(),
        region: desired.region.clone(),
        instance_type: desired.instance_type_fid.clone(),
        limit_price: desired.limit_price,
        instance_quantity: desired.instance_quantity,
        name: desired.name.clone(),
        launch_specification: desired.launch_specification.clone(),
        notification_email: None,
    }
}

/// Only the mutable fields that differ; all `None` when the bid matches.
fn update_request(desired: &DesiredBid, bid: &Bid) -> UpdateBidRequest {
    let wanted = &desired.launch_specification;
    let actual = &bid.launch_specification;
    let is_paused = bid.status == BidStatus::Paused;
    UpdateBidRequest {
        limit_price: (desired.limit_price != bid.limit_price).then_some(desired.limit_price),
        paused: (desired.paused != is_paused).then_some(desired.paused),
        // Volumes are a set: Mithril may list them in another order, which is not a change.
        volumes: (as_set(&wanted.volumes) != as_set(&actual.volumes))
            .then(|| wanted.volumes.clone()),
        // No memory in the spec means Mithril's default: nothing to enforce.
        memory_gb: wanted
            .memory_gb
            .filter(|memory| Some(*memory) != actual.memory_gb),
    }
}

fn immutable_drift(desired: &DesiredBid, bid: &Bid) -> Vec<ImmutableDrift> {
    let wanted = &desired.launch_specification;
    let actual = &bid.launch_specification;
    let mut drift = Vec::new();
    let mut check = |field: &'static str, wanted: String, actual: String| {
        if wanted != actual {
            drift.push(ImmutableDrift {
                field,
                wanted,
                actual,
            });
        }
    };
    check(
        "spec.project",
        desired.project_fid.clone(),
        bid.project.clone(),
    );
    check(
        "spec.region",
        desired.region.clone(),
        bid.region.clone().unwrap_or_default(),
    );
    check(
        "spec.instanceType",
        desired.instance_type_fid.clone(),
        bid.instance_type.clone(),
    );
    check(
        "spec.instanceQuantity",
        desired.instance_quantity.to_string(),
        bid.instance_quantity.to_string(),
    );
    check(
        "spec.launchSpecification.sshKeys",
        join(&as_set(&wanted.ssh_keys)),
        join(&as_set(&actual.ssh_keys)),
    );
    check(
        "spec.launchSpecification.startupScript",
        wanted.startup_script.clone().unwrap_or_default(),
        actual.startup_script.clone().unwrap_or_default(),
    );
    check(
        "spec.launchSpecification.kubernetesCluster",
        wanted.kubernetes_cluster.clone().unwrap_or_default(),
        actual.kubernetes_cluster.clone().unwrap_or_default(),
    );
    // Unset means "Mithril's default", which the bid then reports: only an explicit value can drift.
    if let Some(image) = &wanted.image_version {
        check(
            "spec.launchSpecification.imageVersion",
            image.clone(),
            actual.image_version.clone().unwrap_or_default(),
        );
    }
    drift
}

fn as_set(items: &[String]) -> BTreeSet<&str> {
    items.iter().map(String::as_str).collect()
}

fn join(items: &BTreeSet<&str>) -> String {
    items.iter().copied().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
