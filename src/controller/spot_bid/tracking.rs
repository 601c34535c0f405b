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

/// What may be the resource's own bid, for [`late_adoption`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnBid<'a> {
    /// A live bid under the resource's own names other than the one `spec.bidFid` names.
    pub live_named: Option<&'a str>,
    /// This replica sent a create for the resource (its answer may have been lost).
    pub create_sent: bool,
}

/// `spec.bidFid` set on a SpotBid that had already placed its own bid, or sent a create that may
/// still land (an API server without CEL let the edit through): refused, so the own bid stays the
/// resource's and is cancelled on deletion.
pub fn late_adoption(resource: &SpotBid, own: OwnBid<'_>) -> Option<Problem> {
    let adopt = resource.spec.bid_fid.as_deref()?;
    let status = resource.status.as_ref();
    let placed_here = status
        .and_then(|status| status.bid_name.as_deref())
        .is_some_and(|name| super::names::parse_bid_name(name).is_some());
    let own_fid = status
        .and_then(|status| status.bid_fid.as_deref())
        .filter(|own| placed_here && *own != adopt)
        .or(own.live_named);
    let message = match own_fid {
        Some(own) => format!(
            "spec.bidFid {adopt} was set after this SpotBid placed bid {own}, which it keeps managing: \
             remove spec.bidFid, and create a new SpotBid to adopt {adopt}"
        ),
        None if own.create_sent => format!(
            "spec.bidFid {adopt} was set after this SpotBid sent a create whose bid may still show up, \
             and stays this SpotBid's: remove spec.bidFid, and create a new SpotBid to adopt {adopt}"
        ),
        None => return None,
    };
    Some(Problem::new(Reason::AdoptionRefused, message))
}

/// The bid of FID `fid` and, when its name is an operator's ([`super::names::parse_bid_name`]),
/// the uid tag of the resource that placed it.
#[derive(Debug, Clone, Copy)]
pub struct Claimed<'a> {
    pub fid: &'a str,
    pub placer: Option<&'a str>,
}

impl<'a> Claimed<'a> {
    /// `fid`, with its placer read from the bid's name when the bid is known.
    pub fn new(fid: &'a str, bid: Option<&'a Bid>) -> Self {
        let placer = bid
            .and_then(|bid| super::names::parse_bid_name(&bid.name))
            .map(|name| name.uid);
        Self { fid, placer }
    }
}

/// Which other SpotBid holds the claimed bid: among those claiming it, the one that placed it
/// (by the bid's name), then one showing it in status before one only naming it in
/// `spec.bidFid`, then the oldest (then the lowest uid), so two claiming at once agree on the
/// holder. `None` when `resource` ranks first or claims nothing. `claimants` may include
/// `resource` itself.
pub fn held_by_another<'a>(
    resource: &SpotBid,
    bid: Claimed<'_>,
    claimants: &'a [SpotBid],
) -> Option<&'a SpotBid> {
    let fid = bid.fid;
    let claim = |claimant: &SpotBid| {
        let shown = claimant.status.as_ref().and_then(|s| s.bid_fid.as_deref()) == Some(fid);
        let placed = bid.placer.is_some_and(|placer| {
            claimant
                .metadata
                .uid
                .as_deref()
                .is_some_and(|uid| super::names::uid_tag(uid) == placer)
        });
        (shown || claimant.spec.bid_fid.as_deref() == Some(fid)).then(|| {
            (
                !placed,
                !shown,
                claimant.metadata.creation_timestamp.clone().map(|t| t.0),
                claimant.metadata.uid.clone(),
            )
        })
    };
    let own = claim(resource)?;
    claimants
        .iter()
        .filter(|c| c.metadata.uid != resource.metadata.uid)
        .filter_map(|c| claim(c).map(|rank| (rank, c)))
        .min_by(|(a, _), (b, _)| a.cmp(b))
        .filter(|(rank, _)| *rank < own)
        .map(|(_, holder)| holder)
}

/// `namespace/name` of a SpotBid.
fn named(resource: &SpotBid) -> String {
    format!(
        "{}/{}",
        resource.metadata.namespace.as_deref().unwrap_or_default(),
        resource.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The bid `resource` adopts is held by another SpotBid ([`held_by_another`]): refused.
pub fn adoption_conflict(
    resource: &SpotBid,
    bid: Option<&Bid>,
    claimants: &[SpotBid],
) -> Option<Problem> {
    let fid = resource.spec.bid_fid.as_deref()?;
    let holder = named(held_by_another(
        resource,
        Claimed::new(fid, bid),
        claimants,
    )?);
    Some(Problem::new(
        Reason::AdoptionConflict,
        format!(
            "bid {fid} is held by SpotBid {holder}: a bid is managed by one SpotBid; delete this \
             one (the bid is left alone), or let {holder} go first"
        ),
    ))
}

/// A deleted SpotBid's status shows a bid another SpotBid holds (a status restored from a backup
/// or written by hand): the bid is left to its holder, not cancelled.
pub fn left_to_holder(resource: &SpotBid, bid: &Bid, claimants: &[SpotBid]) -> Option<Problem> {
    let fid = &bid.fid;
    let holder = named(held_by_another(
        resource,
        Claimed::new(fid, Some(bid)),
        claimants,
    )?);
    Some(Problem::new(
        Reason::AdoptionConflict,
        format!("bid {fid} is held by SpotBid {holder}: left alone, not cancelled with this one"),
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
        let nothing = OwnBid::default();
        assert!(late_adoption(&resource, nothing).is_none(), "no status yet");
        let sent = OwnBid {
            create_sent: true,
            ..nothing
        };
        let refused = late_adoption(&resource, sent).expect("a create in doubt");
        assert_eq!(refused.reason, "AdoptionRefused");
        let landed = OwnBid {
            live_named: Some("bid_landed"),
            ..nothing
        };
        let refused = late_adoption(&resource, landed).expect("a bid under its own name");
        assert!(
            refused.message.contains("bid_landed"),
            "{}",
            refused.message
        );
        resource.status = Some(SpotBidStatus {
            bid_fid: Some("bid_mine".into()),
            bid_name: Some("k8s-c1.team-a.train.3f2b8c1e".into()),
            ..SpotBidStatus::default()
        });
        let refused = late_adoption(&resource, nothing).expect("refused");
        assert_eq!(refused.reason, "AdoptionRefused");
        assert!(refused.message.contains("bid_mine"), "{}", refused.message);
        // Managing the adopted bid itself, whatever its name.
        resource.status = Some(SpotBidStatus {
            bid_fid: Some("bid_theirs".into()),
            bid_name: Some("their-training".into()),
            ..SpotBidStatus::default()
        });
        assert!(late_adoption(&resource, nothing).is_none());
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
        let refused =
            adoption_conflict(&adopter, None, &[placer.clone(), adopter.clone()]).unwrap();
        assert_eq!(refused.reason, "AdoptionConflict");
        assert!(
            refused.message.contains("team-a/placer"),
            "{}",
            refused.message
        );
        // Older, but only naming it: the status holder wins.
        assert!(
            adoption_conflict(&adopter, None, &[claimant("other", 9, None, Some("bid_2"))])
                .is_none()
        );
    }

    #[test]
    fn of_two_adopting_at_once_the_older_holds() {
        let older = claimant("older", 1, Some("bid_1"), None);
        let newer = claimant("newer", 2, Some("bid_1"), None);
        let all = [older.clone(), newer.clone()];
        assert!(adoption_conflict(&older, None, &all).is_none());
        assert!(adoption_conflict(&newer, None, &all).is_some());
        // Once the newer shows the bid in its status (it adopted first), it holds it.
        let holding = claimant("newer", 2, Some("bid_1"), Some("bid_1"));
        assert!(adoption_conflict(&older, None, &[holding.clone(), older.clone()]).is_some());
        assert!(adoption_conflict(&holding, None, &[holding.clone(), older]).is_none());
    }

    fn bid(fid: &str, name: &str) -> Bid {
        Bid {
            name: name.into(),
            ..crate::controller::test_support::bid_at(fid, BidStatus::Open, 0)
        }
    }

    #[test]
    fn a_bid_another_placed_is_left_to_it_on_deletion() {
        // Created in the same second as the holder, with a lower uid: the bid's name decides.
        let mut holder = claimant("holder", 1, None, Some("bid_1"));
        holder.metadata.uid = Some("b0b0b0b0-0000-4000-8000-000000000000".into());
        let mut restored = claimant("restored", 1, Some("bid_1"), Some("bid_1"));
        restored.metadata.uid = Some("a0a0a0a0-0000-4000-8000-000000000000".into());
        let placed_name = crate::controller::spot_bid::names::bid_name(
            "c1",
            "team-a",
            "holder",
            holder.metadata.uid.as_deref().unwrap(),
        );
        let placed = bid("bid_1", &placed_name);
        let all = [holder.clone(), restored.clone()];
        let left = left_to_holder(&restored, &placed, &all).expect("left to the placer");
        assert!(left.message.contains("team-a/holder"), "{}", left.message);
        assert!(left_to_holder(&holder, &placed, &all).is_none());
        // Placed by hand: no placer in the name, the same second, the lower uid holds it.
        let by_hand = bid("bid_1", "their-training");
        assert!(left_to_holder(&restored, &by_hand, &all).is_none());
        assert!(left_to_holder(&holder, &by_hand, &all).is_some());
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
