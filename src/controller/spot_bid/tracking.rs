//! Which bid a SpotBid manages, from what Mithril shows under its FID and its names. Pure.
//!
//! Mithril promises neither unique bid names nor lists that show a write at once: the FID in the
//! status wins over names, several live bids under one resource's names are duplicates to cancel
//! (the one in status, else the oldest, is kept), and a create whose outcome is unknown holds any
//! further placement until its bid shows up or its grace has passed.

use crate::controller::Problem;
use crate::crd::{ConditionStatus, Reason, SYNCED, SpotBid, find_condition};
use mithril_api::{Bid, BidStatus};
use std::time::Duration;

/// What the reconcile learned of the resource's bids.
#[derive(Debug, Clone, Default)]
pub struct Sightings {
    /// The FID the resource knows (status, or `spec.bidFid` when adopting) and what Mithril says
    /// of it: `None` when a GET answered 404.
    pub known: Option<(String, Option<Bid>)>,
    /// `spec.bidFid` is set: the resource manages that bid only, whatever its names show.
    pub adopting: bool,
    /// Bids under the resource's names (any status), as listed.
    pub named: Vec<Bid>,
    /// An earlier create may have reached Mithril unseen and may still show up.
    pub create_uncertain: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tracking {
    /// The bid to manage: the live one if any, else the latest ended one (to report).
    pub bid: Option<Bid>,
    /// Live bids beyond the managed one, oldest first: to cancel, one per reconcile.
    pub duplicates: Vec<String>,
    /// No bid may be placed now: an uncertain create may still show up.
    pub hold: bool,
}

fn is_live(bid: &Bid) -> bool {
    bid.status != BidStatus::Terminated
}

/// Decides which bid the resource manages.
pub fn track(sightings: Sightings) -> Tracking {
    let Sightings {
        known,
        adopting,
        named,
        create_uncertain,
    } = sightings;
    let known_bid = known.and_then(|(_, bid)| bid);
    if adopting {
        return Tracking {
            bid: known_bid,
            ..Tracking::default()
        };
    }
    // One entry per FID; the known bid's answer (a GET) is the freshest.
    let mut bids: Vec<Bid> = known_bid.iter().cloned().collect();
    for bid in named {
        if !bids.iter().any(|b| b.fid == bid.fid) {
            bids.push(bid);
        }
    }
    let oldest = |a: &Bid, b: &Bid| (a.created_at, &a.fid).cmp(&(b.created_at, &b.fid));
    let (mut live, mut ended): (Vec<Bid>, Vec<Bid>) = bids.into_iter().partition(is_live);
    live.sort_by(oldest);
    let kept = match known_bid.as_ref().filter(|bid| is_live(bid)) {
        Some(known) => live.iter().position(|b| b.fid == known.fid),
        None => (!live.is_empty()).then_some(0),
    };
    match kept {
        Some(index) => {
            let bid = live.remove(index);
            Tracking {
                bid: Some(bid),
                duplicates: live.into_iter().map(|b| b.fid).collect(),
                hold: false,
            }
        }
        None => {
            // The known bid if it ended, else the newest ended one.
            ended.sort_by(oldest);
            let known = known_bid.and_then(|bid| {
                let index = ended.iter().position(|b| b.fid == bid.fid)?;
                Some(ended.remove(index))
            });
            Tracking {
                bid: known.or_else(|| ended.pop()),
                duplicates: Vec::new(),
                hold: create_uncertain,
            }
        }
    }
}

/// How long to wait before placing a bid again after Mithril ended `endings` bids of this
/// resource in a row: nothing for the first, then doubling from `base` up to `max`.
pub fn replacement_wait(endings: u32, base: Duration, max: Duration) -> Duration {
    match endings {
        0 | 1 => Duration::ZERO,
        n => base
            .checked_mul(1u32 << (n - 2).min(16))
            .map_or(max, |wait| wait.min(max)),
    }
}

/// `spec.bidFid` set on a SpotBid that had already placed its own bid (an API server without CEL
/// let the edit through): refused, so the own bid stays managed and is cancelled on deletion.
pub fn late_adoption(resource: &SpotBid) -> Option<Problem> {
    let adopt = resource.spec.bid_fid.as_deref()?;
    let status = resource.status.as_ref()?;
    let own = status.bid_fid.as_deref()?;
    let placed_here = status
        .bid_name
        .as_deref()
        .is_some_and(|name| super::names::parse_bid_name(name).is_some());
    (placed_here && own != adopt).then(|| {
        Problem::new(
            Reason::AdoptionRefused,
            format!(
                "spec.bidFid {adopt} was set after this SpotBid placed bid {own}, which it keeps managing: \
                 remove spec.bidFid, and create a new SpotBid to adopt {adopt}"
            ),
        )
    })
}

/// Which SpotBid holds the bid `resource` adopts, when it is another one: among those claiming
/// the FID, one showing it in status before one only naming it in `spec.bidFid`, then the
/// oldest (then the lowest uid), so two adopting at once agree on the winner. `claimants` may
/// include `resource` itself.
pub fn adoption_conflict(resource: &SpotBid, claimants: &[SpotBid]) -> Option<Problem> {
    let fid = resource.spec.bid_fid.as_deref()?;
    let claim = |claimant: &SpotBid| {
        let shown = claimant.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(fid);
        (shown || claimant.spec.bid_fid.as_deref() == Some(fid)).then(|| {
            (
                !shown,
                claimant.metadata.creation_timestamp.clone().map(|t| t.0),
                claimant.metadata.uid.clone(),
            )
        })
    };
    let own = claim(resource)?;
    let holder = claimants
        .iter()
        .filter(|c| c.metadata.uid != resource.metadata.uid)
        .filter_map(|c| claim(c).map(|rank| (rank, c)))
        .min_by(|(a, _), (b, _)| a.cmp(b))
        .filter(|(rank, _)| *rank < own)?
        .1;
    let holder = format!(
        "{}/{}",
        holder.metadata.namespace.as_deref().unwrap_or_default(),
        holder.metadata.name.as_deref().unwrap_or_default()
    );
    Some(Problem::new(
        Reason::AdoptionConflict,
        format!(
            "bid {fid} is held by SpotBid {holder}: a bid is managed by one SpotBid; delete this \
             one (the bid is left alone), or let {holder} go first"
        ),
    ))
}

/// Why a create Mithril refused is reported (the condition reason).
pub const CREATE_REFUSED: Reason = Reason::BidRejected;

/// A create Mithril refused as such (400, 422) is final for the spec it was made from: the same
/// request would be refused again, so nothing is sent until the spec changes. The refusal is
/// read back from the status (Synced=False for this generation), so it also holds across
/// restarts and leader changes. Only for a first placement: a resource that had a bid (moved, or
/// ended by Mithril) keeps trying to get one back, with backoff.
pub fn create_refused_for_this_spec(resource: &SpotBid) -> Option<Problem> {
    let status = resource.status.as_ref().filter(|s| s.bid_fid.is_none())?;
    let synced = find_condition(&status.conditions, SYNCED)?;
    let generation = synced.observed_generation.or(status.observed_generation);
    (synced.status == ConditionStatus::False
        && synced.reason == CREATE_REFUSED
        && generation == resource.metadata.generation)
        .then(|| Problem::new(CREATE_REFUSED, synced.message.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::bid_at;

    fn fids(tracking: &Tracking) -> (Option<&str>, Vec<&str>) {
        (
            tracking.bid.as_ref().map(|b| b.fid.as_str()),
            tracking.duplicates.iter().map(String::as_str).collect(),
        )
    }

    #[test]
    fn the_known_bid_wins_over_older_twins() {
        let older = bid_at("bid_old", BidStatus::Open, 1);
        let known = bid_at("bid_known", BidStatus::Allocated, 2);
        let newer = bid_at("bid_new", BidStatus::Open, 3);
        let tracking = track(Sightings {
            known: Some(("bid_known".into(), Some(known.clone()))),
            named: vec![newer, known, older],
            ..Sightings::default()
        });
        assert_eq!(
            fids(&tracking),
            (Some("bid_known"), vec!["bid_old", "bid_new"])
        );
        assert!(!tracking.hold);
    }

    #[test]
    fn without_a_known_live_bid_the_oldest_live_twin_is_kept() {
        let ended = bid_at("bid_known", BidStatus::Terminated, 0);
        let tracking = track(Sightings {
            known: Some(("bid_known".into(), Some(ended))),
            named: vec![
                bid_at("bid_b", BidStatus::Open, 2),
                bid_at("bid_a", BidStatus::Open, 1),
            ],
            create_uncertain: true,
            ..Sightings::default()
        });
        assert_eq!(fids(&tracking), (Some("bid_a"), vec!["bid_b"]));
        assert!(!tracking.hold, "a live bid resolves the uncertain create");
    }

    #[test]
    fn the_known_bids_fresh_answer_wins_over_a_stale_listing() {
        // Listed as live a moment ago, confirmed ended by the GET.
        let tracking = track(Sightings {
            known: Some((
                "bid_a".into(),
                Some(bid_at("bid_a", BidStatus::Terminated, 1)),
            )),
            named: vec![bid_at("bid_a", BidStatus::Allocated, 1)],
            ..Sightings::default()
        });
        assert_eq!(tracking.bid.map(|b| b.status), Some(BidStatus::Terminated));
        assert!(tracking.duplicates.is_empty());
    }

    #[test]
    fn nothing_live_reports_the_latest_ended_and_holds_while_uncertain() {
        let sightings = Sightings {
            known: Some(("bid_gone".into(), None)),
            named: vec![
                bid_at("bid_1", BidStatus::Terminated, 1),
                bid_at("bid_2", BidStatus::Terminated, 2),
            ],
            ..Sightings::default()
        };
        let settled = track(sightings.clone());
        assert_eq!(fids(&settled), (Some("bid_2"), vec![]));
        assert!(!settled.hold);
        let uncertain = track(Sightings {
            create_uncertain: true,
            ..sightings
        });
        assert!(uncertain.hold);
    }

    #[test]
    fn with_nothing_live_the_known_ended_bid_is_reported_even_if_older() {
        let tracking = track(Sightings {
            known: Some((
                "bid_b".into(),
                Some(bid_at("bid_b", BidStatus::Terminated, 1)),
            )),
            named: vec![
                bid_at("bid_a", BidStatus::Terminated, 1),
                bid_at("bid_b", BidStatus::Terminated, 1),
                bid_at("bid_0", BidStatus::Terminated, 0),
            ],
            ..Sightings::default()
        });
        assert_eq!(fids(&tracking), (Some("bid_b"), vec![]));
    }

    #[test]
    fn an_adopted_bid_is_managed_alone() {
        let tracking = track(Sightings {
            known: Some((
                "bid_theirs".into(),
                Some(bid_at("bid_theirs", BidStatus::Open, 5)),
            )),
            adopting: true,
            named: vec![bid_at("bid_mine", BidStatus::Open, 1)],
            create_uncertain: true,
        });
        assert_eq!(fids(&tracking), (Some("bid_theirs"), vec![]));
        assert!(!tracking.hold);
        let missing = track(Sightings {
            known: Some(("bid_theirs".into(), None)),
            adopting: true,
            ..Sightings::default()
        });
        assert_eq!(missing, Tracking::default());
    }

    #[test]
    fn a_refused_first_create_waits_for_the_spec_a_refused_replacement_does_not() {
        use crate::crd::{Condition, SpotBidStatus, Time};
        let spec = serde_json::from_value(serde_json::json!({
            "project": "demo", "region": "us-central1-a", "instanceType": "h100",
            "instanceQuantity": 1, "limitPrice": "$1.00",
        }))
        .unwrap();
        let mut resource = SpotBid::new("train", spec);
        resource.metadata.generation = Some(3);
        let refused = Condition::new(
            SYNCED,
            ConditionStatus::False,
            CREATE_REFUSED,
            "Mithril refused the bid",
            Some(3),
            Time::new(crate::controller::test_support::minute(0)),
        );
        resource.status = Some(SpotBidStatus {
            conditions: vec![refused],
            ..SpotBidStatus::default()
        });
        assert!(create_refused_for_this_spec(&resource).is_some());
        resource.metadata.generation = Some(4);
        assert!(
            create_refused_for_this_spec(&resource).is_none(),
            "a new spec"
        );
        resource.metadata.generation = Some(3);
        // The resource had a bid (it was moved, or Mithril ended it): it keeps trying.
        if let Some(status) = resource.status.as_mut() {
            status.bid_fid = Some("bid_old".into());
        }
        assert!(create_refused_for_this_spec(&resource).is_none());
    }

    #[test]
    fn a_bid_fid_set_after_placing_is_refused_an_adoption_is_not() {
        use crate::crd::SpotBidStatus;
        let spec = serde_json::from_value(serde_json::json!({
            "project": "demo", "region": "us-central1-a", "instanceType": "h100",
            "instanceQuantity": 1, "limitPrice": "$1.00", "bidFid": "bid_theirs",
        }))
        .unwrap();
        let mut resource = SpotBid::new("train", spec);
        assert!(late_adoption(&resource).is_none(), "no status yet");
        resource.status = Some(SpotBidStatus {
            bid_fid: Some("bid_mine".into()),
            bid_name: Some("k8s-c1.team-a.train.3f2b8c1e".into()),
            ..SpotBidStatus::default()
        });
        let refused = late_adoption(&resource).expect("refused");
        assert_eq!(refused.reason, "AdoptionRefused");
        assert!(refused.message.contains("bid_mine"), "{}", refused.message);
        // Managing the adopted bid itself, whatever its name.
        resource.status = Some(SpotBidStatus {
            bid_fid: Some("bid_theirs".into()),
            bid_name: Some("their-training".into()),
            ..SpotBidStatus::default()
        });
        assert!(late_adoption(&resource).is_none());
    }

    fn claimant(
        name: &str,
        created: i64,
        spec_fid: Option<&str>,
        status_fid: Option<&str>,
    ) -> SpotBid {
        use crate::crd::SpotBidStatus;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let spec = serde_json::from_value(serde_json::json!({
            "project": "demo", "region": "us-central1-a", "instanceType": "h100",
            "instanceQuantity": 1, "limitPrice": "$1.00", "bidFid": spec_fid,
        }))
        .unwrap();
        let mut resource = SpotBid::new(name, spec);
        resource.metadata.namespace = Some("team-a".into());
        resource.metadata.uid = Some(format!("uid-{name}"));
        resource.metadata.creation_timestamp =
            Some(Time(crate::controller::test_support::minute(created)));
        resource.status = status_fid.map(|fid| SpotBidStatus {
            bid_fid: Some(fid.into()),
            ..SpotBidStatus::default()
        });
        resource
    }

    #[test]
    fn a_bid_shown_in_another_status_is_not_adopted() {
        let placer = claimant("placer", 5, None, Some("bid_1"));
        let adopter = claimant("adopter", 1, Some("bid_1"), None);
        let refused = adoption_conflict(&adopter, &[placer.clone(), adopter.clone()]).unwrap();
        assert_eq!(refused.reason, "AdoptionConflict");
        assert!(
            refused.message.contains("team-a/placer"),
            "{}",
            refused.message
        );
        // Older, but only naming it: the status holder wins.
        assert!(
            adoption_conflict(&adopter, &[claimant("other", 9, None, Some("bid_2"))]).is_none()
        );
    }

    #[test]
    fn of_two_adopting_at_once_the_older_holds() {
        let older = claimant("older", 1, Some("bid_1"), None);
        let newer = claimant("newer", 2, Some("bid_1"), None);
        let all = [older.clone(), newer.clone()];
        assert!(adoption_conflict(&older, &all).is_none());
        assert!(adoption_conflict(&newer, &all).is_some());
        // Once the newer shows the bid in its status (it adopted first), it holds it.
        let holding = claimant("newer", 2, Some("bid_1"), Some("bid_1"));
        assert!(adoption_conflict(&older, &[holding.clone(), older.clone()]).is_some());
        assert!(adoption_conflict(&holding, &[holding.clone(), older]).is_none());
    }

    #[test]
    fn replacements_back_off_after_the_first() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(600));
        let waits: Vec<u64> = (0..10)
            .map(|n| replacement_wait(n, base, max).as_secs())
            .collect();
        assert_eq!(waits, [0, 0, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(replacement_wait(u32::MAX, base, max), max);
    }
}
