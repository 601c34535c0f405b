//! Region choice: where a bid is placed, and when a placed bid moves to another of its regions.
//!
//! Pure: no IO, no clock (the caller passes `now`). The memory that makes moves deliberate, the
//! region that has been cheaper and since when, lives in the status (`status.regionCandidate`),
//! so it survives operator restarts.
//!
//! - A bid not yet placed goes to the cheapest listed region whose auction has room for the whole
//!   quantity (ties: the earlier region in the list, `spec.region` first); with none, to
//!   `spec.region`, where it waits.
//! - A placed bid moves (cancel, then place anew) only when it holds no instances, is neither
//!   paused nor adopted, and one other region has been cheaper by the margin, without a break, for
//!   the whole `sustainedFor`. A region without room counts as dearer than any with room.
//! - After a move the period starts again from nothing, so a bid moves at most once per period,
//!   and never away from instances it holds: it cannot flap.

use crate::controller::instance_schedule::windows::duration::{DurationError, parse_duration};
use crate::crd::spot_bid::RegionCandidate;
use crate::crd::{SpotBidSpec, Time};
use jiff::{SignedDuration, Timestamp};
use mithril_api::{Auction, Price};
use std::fmt;

/// Percent cheaper another region must be when the spec gives no `minSavingPercent`.
pub const DEFAULT_MIN_SAVING_PERCENT: u32 = 10;
/// How long it must stay so when the spec gives no `sustainedFor`.
pub const DEFAULT_SUSTAINED_FOR: SignedDuration = SignedDuration::from_mins(30);

/// The spec's regions and move rules, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionPolicy {
    /// Every region the bid may run in, preferred first, each once.
    pub regions: Vec<String>,
    pub min_saving_percent: u32,
    pub sustained_for: SignedDuration,
}

/// Why the spec's region rules cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("spec.regionChange.sustainedFor: {0}")]
    SustainedFor(#[from] DurationError),
}

impl RegionPolicy {
    pub fn from_spec(spec: &SpotBidSpec) -> Result<Self, RegionError> {
        let change = spec.region_change.clone().unwrap_or_default();
        let sustained_for = match change.sustained_for.as_deref() {
            Some(text) => parse_duration(text)?,
            None => DEFAULT_SUSTAINED_FOR,
        };
        Ok(Self {
            regions: spec.candidate_regions(),
            min_saving_percent: change
                .min_saving_percent
                .unwrap_or(DEFAULT_MIN_SAVING_PERCENT),
            sustained_for,
        })
    }

    /// One region: never moves, exactly as a bid without `regions`.
    pub fn single(region: impl Into<String>) -> Self {
        Self {
            regions: vec![region.into()],
            min_saving_percent: DEFAULT_MIN_SAVING_PERCENT,
            sustained_for: DEFAULT_SUSTAINED_FOR,
        }
    }

    /// Whether there is a choice to make.
    pub fn has_choice(&self) -> bool {
        self.regions.len() > 1
    }

    pub fn preferred(&self) -> &str {
        self.regions.first().map_or("", String::as_str)
    }

    fn rank(&self, region: &str) -> usize {
        self.regions
            .iter()
            .position(|r| r == region)
            .unwrap_or(usize::MAX)
    }
}

/// One listed region's auction for the bid's instance type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMarket {
    pub region: String,
    /// Instances the auction can still allocate.
    pub free_capacity: i64,
    /// The last clearing price.
    pub clearing: Price,
    /// The lowest limit among the current winners.
    pub lowest_allocated: Option<Price>,
}

impl From<&Auction> for RegionMarket {
    fn from(auction: &Auction) -> Self {
        Self {
            region: auction.region.clone(),
            free_capacity: auction.capacity,
            clearing: auction.last_instance_price,
            lowest_allocated: auction.lowest_allocated_price,
        }
    }
}

/// The bid as placed on Mithril.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedBid<'a> {
    pub region: &'a str,
    /// Allocated, preempting, paused with instances: anything but an open bid.
    pub holds_instances: bool,
    /// Neither adopted nor paused: the operator may cancel and place it elsewhere.
    pub movable: bool,
}

/// Everything [`choose`] reads.
#[derive(Debug, Clone, Copy)]
pub struct RegionInput<'a> {
    pub policy: &'a RegionPolicy,
    /// Whether the auctions have been read at all (not yet, just after a restart).
    pub observed: bool,
    /// The auctions of the listed regions that have one (in any order).
    pub markets: &'a [RegionMarket],
    pub quantity: i64,
    /// The live bid, if there is one.
    pub placed: Option<PlacedBid<'a>>,
    /// The status's memory of a cheaper region.
    pub candidate: Option<&'a RegionCandidate>,
    pub now: Timestamp,
}

/// Why the bid is (to be) in its region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionReason {
    /// The spec lists one region.
    OnlyRegion,
    /// The cheapest listed region with room for the whole quantity.
    Cheapest { price: Price },
    /// No listed region has room now: the bid waits in the preferred region.
    NoRoomAnywhere,
    /// The bid stays: no other region is cheaper by the margin.
    Staying,
    /// The bid is not in a listed region: it is reported, never moved.
    NotListed,
    /// The bid is adopted or paused: it stays where it is.
    Pinned,
    /// The market has not been read yet: the bid stays and the memory is kept as it was.
    MarketNotObserved,
    /// Another region is cheaper, but the bid holds instances.
    HoldsInstances,
    /// Another region is cheaper, not yet for the whole period.
    WaitingToMove { until: Timestamp },
    /// Another region has been cheaper for the whole period: the bid moves.
    Moving { from: String },
}

/// Where the bid is or goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDecision {
    /// The region the bid is in, or is to be placed in.
    pub region: String,
    pub reason: RegionReason,
    /// The cheaper region to remember, and since when.
    pub candidate: Option<RegionCandidate>,
}

impl RegionDecision {
    /// The region to cancel the live bid in, when the bid moves.
    pub fn moving_from(&self) -> Option<&str> {
        match &self.reason {
            RegionReason::Moving { from } => Some(from),
            _ => None,
        }
    }

    /// The reason in words, for the status.
    pub fn message(&self) -> String {
        let region = &self.region;
        let candidate = self
            .candidate
            .as_ref()
            .map(|c| c.region.as_str())
            .unwrap_or_default();
        match &self.reason {
            RegionReason::OnlyRegion => format!("{region} is the only region listed"),
            RegionReason::Cheapest { price } => format!(
                "{region} is the cheapest listed region with room for the bid (clearing price {price})"
            ),
            RegionReason::NoRoomAnywhere => format!(
                "no listed region has room for the whole quantity: the bid waits in {region}"
            ),
            RegionReason::Staying => {
                format!("no other listed region is cheaper than {region} by the margin")
            }
            RegionReason::NotListed => {
                format!("the bid is in {region}, which the spec does not list")
            }
            RegionReason::Pinned => format!("the bid is adopted or paused: it stays in {region}"),
            RegionReason::MarketNotObserved => {
                format!("the market has not been read yet: the bid stays in {region}")
            }
            RegionReason::HoldsInstances => {
                format!("{candidate} is cheaper, but the bid holds instances in {region}: it stays")
            }
            RegionReason::WaitingToMove { until } => format!(
                "{candidate} is cheaper than {region}; the bid moves there at {until} if it stays so"
            ),
            RegionReason::Moving { from } => format!(
                "{region} has stayed cheaper than {from}: the bid moves from {from} to {region}"
            ),
        }
    }
}

/// Where the bid is or goes, and what to remember.
pub fn choose(input: RegionInput<'_>) -> RegionDecision {
    let policy = input.policy;
    let stay = |region: &str, reason, candidate| RegionDecision {
        region: region.to_owned(),
        reason,
        candidate,
    };
    let Some(placed) = input.placed else {
        if !policy.has_choice() {
            return stay(policy.preferred(), RegionReason::OnlyRegion, None);
        }
        return match cheapest_with_room(&input, None) {
            Some(market) => stay(
                &market.region,
                RegionReason::Cheapest {
                    price: market.clearing,
                },
                None,
            ),
            None => stay(policy.preferred(), RegionReason::NoRoomAnywhere, None),
        };
    };
    if !policy.has_choice() {
        return stay(placed.region, RegionReason::OnlyRegion, None);
    }
    if !policy.regions.iter().any(|r| r == placed.region) {
        return stay(placed.region, RegionReason::NotListed, None);
    }
    if !placed.movable {
        return stay(placed.region, RegionReason::Pinned, None);
    }
    if !input.observed {
        // Just restarted: what the status remembers stays true until the market says otherwise.
        return stay(
            placed.region,
            RegionReason::MarketNotObserved,
            input.candidate.cloned(),
        );
    }
    let current = input.markets.iter().find(|m| m.region == placed.region);
    // What the bid would pay where it is; a region it cannot fit in is dearer than any.
    let current_price = current
        .filter(|m| placed.holds_instances || m.free_capacity >= input.quantity)
        .map(|m| m.clearing);
    let cheaper = cheapest_with_room(&input, Some(placed.region))
        .filter(|other| saves_enough(current_price, other.clearing, policy.min_saving_percent));
    let Some(other) = cheaper else {
        return stay(placed.region, RegionReason::Staying, None);
    };
    let since = input
        .candidate
        .filter(|c| c.region == other.region)
        .map_or(input.now, |c| c.since.timestamp());
    let candidate = RegionCandidate {
        region: other.region.clone(),
        since: Time::new(since),
    };
    if placed.holds_instances {
        return stay(placed.region, RegionReason::HoldsInstances, Some(candidate));
    }
    let until = since
        .checked_add(policy.sustained_for)
        .unwrap_or(Timestamp::MAX);
    if input.now >= until {
        return RegionDecision {
            region: other.region.clone(),
            reason: RegionReason::Moving {
                from: placed.region.to_owned(),
            },
            candidate: None,
        };
    }
    stay(
        placed.region,
        RegionReason::WaitingToMove { until },
        Some(candidate),
    )
}

/// The cheapest listed region (other than `except`) with room for the whole quantity; ties go to
/// the earlier region in the list.
fn cheapest_with_room<'a>(
    input: &RegionInput<'a>,
    except: Option<&str>,
) -> Option<&'a RegionMarket> {
    input
        .markets
        .iter()
        .filter(|m| Some(m.region.as_str()) != except)
        .filter(|m| input.policy.rank(&m.region) != usize::MAX)
        .filter(|m| m.free_capacity >= input.quantity)
        .min_by_key(|m| (m.clearing, input.policy.rank(&m.region)))
}

/// Whether `other` is cheaper than `current` by at least `percent` percent of `current` (and
/// strictly cheaper, so equal regions never trade places). No current price: any price is.
fn saves_enough(current: Option<Price>, other: Price, percent: u32) -> bool {
    let Some(current) = current else {
        return true;
    };
    let Some(saving) = current.checked_sub(other) else {
        return false;
    };
    saving > Price::ZERO
        && u128::from(saving.cents()) * 100 >= u128::from(current.cents()) * u128::from(percent)
}

impl fmt::Display for RegionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RegionReason::OnlyRegion => "OnlyRegion",
            RegionReason::Cheapest { .. } => "Cheapest",
            RegionReason::NoRoomAnywhere => "NoRoomAnywhere",
            RegionReason::Staying => "Staying",
            RegionReason::NotListed => "NotListed",
            RegionReason::Pinned => "Pinned",
            RegionReason::MarketNotObserved => "MarketNotObserved",
            RegionReason::HoldsInstances => "HoldsInstances",
            RegionReason::WaitingToMove { .. } => "WaitingToMove",
            RegionReason::Moving { .. } => "Moving",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "us-central1-a";
    const B: &str = "us-central1-b";
    const C: &str = "us-central2-a";

    fn price(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + minute * 60).unwrap()
    }

    fn policy() -> RegionPolicy {
        RegionPolicy {
            regions: vec![A.into(), B.into(), C.into()],
            min_saving_percent: 10,
            sustained_for: SignedDuration::from_mins(30),
        }
    }

    fn market(region: &str, free_capacity: i64, clearing: &str) -> RegionMarket {
        RegionMarket {
            region: region.into(),
            free_capacity,
            clearing: price(clearing),
            lowest_allocated: None,
        }
    }

    fn open_in(region: &str) -> PlacedBid<'_> {
        PlacedBid {
            region,
            holds_instances: false,
            movable: true,
        }
    }

    fn choose_at(
        policy: &RegionPolicy,
        markets: &[RegionMarket],
        placed: Option<PlacedBid<'_>>,
        candidate: Option<&RegionCandidate>,
        now: Timestamp,
    ) -> RegionDecision {
        choose(RegionInput {
            policy,
            observed: true,
            markets,
            quantity: 2,
            placed,
            candidate,
            now,
        })
    }

    #[test]
    fn the_spec_reads_into_a_policy_with_defaults() {
        let mut spec: SpotBidSpec = serde_json::from_value(serde_json::json!({
            "project": "demo", "region": A, "regions": [B, A, C],
            "instanceType": "h100-80gb.sxm.8x", "instanceQuantity": 2, "limitPrice": "$9.00",
        }))
        .unwrap();
        let policy = RegionPolicy::from_spec(&spec).unwrap();
        assert_eq!(policy.regions, [A, B, C], "spec.region first, each once");
        assert_eq!(policy.min_saving_percent, DEFAULT_MIN_SAVING_PERCENT);
        assert_eq!(policy.sustained_for, DEFAULT_SUSTAINED_FOR);

        spec.region_change = Some(crate::crd::spot_bid::RegionChange {
            min_saving_percent: Some(5),
            sustained_for: Some("1h30m".into()),
        });
        let policy = RegionPolicy::from_spec(&spec).unwrap();
        assert_eq!(policy.min_saving_percent, 5);
        assert_eq!(policy.sustained_for, SignedDuration::from_mins(90));

        spec.region_change = Some(crate::crd::spot_bid::RegionChange {
            min_saving_percent: None,
            sustained_for: Some("soon".into()),
        });
        assert!(RegionPolicy::from_spec(&spec).is_err());
    }

    #[test]
    fn a_new_bid_goes_to_the_cheapest_region_with_room() {
        let markets = [
            market(A, 16, "$9.00"),
            market(B, 1, "$7.00"),
            market(C, 4, "$8.00"),
        ];
        let decision = choose_at(&policy(), &markets, None, None, at(0));
        assert_eq!(decision.region, C, "B is cheaper but cannot fit 2");
        assert_eq!(
            decision.reason,
            RegionReason::Cheapest {
                price: price("$8.00")
            }
        );
        assert_eq!(decision.candidate, None);
    }

    #[test]
    fn ties_go_to_the_earlier_region_and_no_room_waits_in_the_preferred_one() {
        let tied = [market(C, 4, "$8.00"), market(B, 4, "$8.00")];
        assert_eq!(choose_at(&policy(), &tied, None, None, at(0)).region, B);

        let sold_out = [market(A, 0, "$8.00"), market(B, 1, "$7.00")];
        let decision = choose_at(&policy(), &sold_out, None, None, at(0));
        assert_eq!(decision.region, A);
        assert_eq!(decision.reason, RegionReason::NoRoomAnywhere);
    }

    #[test]
    fn one_region_never_moves() {
        let single = RegionPolicy::single(A);
        let markets = [market(A, 0, "$20.00"), market(B, 16, "$1.00")];
        let new = choose_at(&single, &markets, None, None, at(0));
        assert_eq!(
            (new.region.as_str(), &new.reason),
            (A, &RegionReason::OnlyRegion)
        );
        let placed = choose_at(&single, &markets, Some(open_in(A)), None, at(600));
        assert_eq!(placed.region, A);
        assert_eq!(placed.moving_from(), None);
    }

    /// A market history, minute by minute: the candidate memory is carried from one decision to
    /// the next as the status carries it.
    fn replay(
        history: &[(i64, Vec<RegionMarket>)],
        placed: PlacedBid<'_>,
    ) -> Vec<(i64, RegionDecision)> {
        let policy = policy();
        let mut candidate: Option<RegionCandidate> = None;
        history
            .iter()
            .map(|(minute, markets)| {
                let decision = choose_at(
                    &policy,
                    markets,
                    Some(placed),
                    candidate.as_ref(),
                    at(*minute),
                );
                candidate = decision.candidate.clone();
                (*minute, decision)
            })
            .collect()
    }

    #[test]
    fn an_open_bid_moves_only_after_another_region_stayed_cheaper_for_the_period() {
        let cheaper_b = || vec![market(A, 4, "$10.00"), market(B, 4, "$8.50")];
        let history = [
            (0, cheaper_b()),
            (10, cheaper_b()),
            (29, cheaper_b()),
            (30, cheaper_b()),
        ];
        let decisions = replay(&history, open_in(A));
        for (minute, decision) in &decisions[..3] {
            assert_eq!(decision.region, A, "minute {minute}");
            assert_eq!(
                decision.reason,
                RegionReason::WaitingToMove { until: at(30) },
                "minute {minute}"
            );
            assert_eq!(
                decision.candidate,
                Some(RegionCandidate {
                    region: B.into(),
                    since: Time::new(at(0))
                })
            );
        }
        let (_, moving) = &decisions[3];
        assert_eq!(moving.region, B);
        assert_eq!(moving.moving_from(), Some(A));
        assert_eq!(
            moving.candidate, None,
            "the period starts again after a move"
        );
    }

    #[test]
    fn a_break_in_the_saving_starts_the_period_again() {
        let history = [
            (0, vec![market(A, 4, "$10.00"), market(B, 4, "$8.50")]),
            // $9.10 saves 9%: less than the 10% margin.
            (20, vec![market(A, 4, "$10.00"), market(B, 4, "$9.10")]),
            (25, vec![market(A, 4, "$10.00"), market(B, 4, "$8.50")]),
            (40, vec![market(A, 4, "$10.00"), market(B, 4, "$8.50")]),
            (55, vec![market(A, 4, "$10.00"), market(B, 4, "$8.50")]),
        ];
        let decisions = replay(&history, open_in(A));
        assert_eq!(decisions[1].1.reason, RegionReason::Staying);
        assert_eq!(decisions[1].1.candidate, None);
        assert_eq!(
            decisions[3].1.reason,
            RegionReason::WaitingToMove { until: at(55) }
        );
        assert_eq!(decisions[4].1.moving_from(), Some(A));
    }

    #[test]
    fn a_different_cheaper_region_restarts_the_period() {
        let history = [
            (
                0,
                vec![
                    market(A, 4, "$10.00"),
                    market(B, 4, "$8.50"),
                    market(C, 4, "$9.50"),
                ],
            ),
            (
                20,
                vec![
                    market(A, 4, "$10.00"),
                    market(B, 4, "$9.80"),
                    market(C, 4, "$8.00"),
                ],
            ),
            (
                30,
                vec![
                    market(A, 4, "$10.00"),
                    market(B, 4, "$9.80"),
                    market(C, 4, "$8.00"),
                ],
            ),
        ];
        let decisions = replay(&history, open_in(A));
        assert_eq!(
            decisions[2].1.candidate,
            Some(RegionCandidate {
                region: C.into(),
                since: Time::new(at(20))
            })
        );
        assert_eq!(decisions[2].1.moving_from(), None);
    }

    #[test]
    fn a_sold_out_region_loses_to_any_region_with_room() {
        // A has no room for the open bid: B is "cheaper" though its price is higher.
        let history = [
            (0, vec![market(A, 0, "$8.00"), market(B, 4, "$12.00")]),
            (30, vec![market(A, 0, "$8.00"), market(B, 4, "$12.00")]),
        ];
        let decisions = replay(&history, open_in(A));
        assert_eq!(decisions[0].1.candidate.as_ref().unwrap().region, B);
        assert_eq!(decisions[1].1.moving_from(), Some(A));
        assert_eq!(decisions[1].1.region, B);
    }

    #[test]
    fn a_bid_holding_instances_adopted_or_paused_never_moves() {
        let markets = || vec![market(A, 0, "$10.00"), market(B, 16, "$1.00")];
        let holding = PlacedBid {
            holds_instances: true,
            ..open_in(A)
        };
        let decisions = replay(&[(0, markets()), (600, markets())], holding);
        for (_, decision) in &decisions {
            assert_eq!(decision.region, A);
            assert_eq!(decision.reason, RegionReason::HoldsInstances);
        }
        assert_eq!(
            decisions[1].1.candidate.as_ref().unwrap().since,
            Time::new(at(0)),
            "the saving is still timed while the bid holds instances"
        );

        let pinned = PlacedBid {
            movable: false,
            ..open_in(A)
        };
        let decision = choose_at(&policy(), &markets(), Some(pinned), None, at(600));
        assert_eq!(decision.reason, RegionReason::Pinned);
        assert_eq!(decision.candidate, None);
    }

    #[test]
    fn equal_prices_never_trade_places() {
        let zero_margin = RegionPolicy {
            min_saving_percent: 0,
            sustained_for: SignedDuration::ZERO,
            ..policy()
        };
        let markets = [market(A, 4, "$8.00"), market(B, 4, "$8.00")];
        let decision = choose_at(&zero_margin, &markets, Some(open_in(A)), None, at(0));
        assert_eq!(decision.reason, RegionReason::Staying);
        let cheaper = [market(A, 4, "$8.00"), market(B, 4, "$7.99")];
        let decision = choose_at(&zero_margin, &cheaper, Some(open_in(A)), None, at(0));
        assert_eq!(decision.moving_from(), Some(A));
    }

    #[test]
    fn before_the_market_is_read_again_the_memory_is_kept() {
        let remembered = RegionCandidate {
            region: B.into(),
            since: Time::new(at(0)),
        };
        let decision = choose(RegionInput {
            policy: &policy(),
            observed: false,
            markets: &[],
            quantity: 2,
            placed: Some(open_in(A)),
            candidate: Some(&remembered),
            now: at(600),
        });
        assert_eq!(decision.region, A);
        assert_eq!(decision.reason, RegionReason::MarketNotObserved);
        assert_eq!(decision.candidate, Some(remembered));
    }

    #[test]
    fn a_bid_in_an_unlisted_region_stays_and_is_not_timed() {
        let markets = [market("eu-central1-a", 4, "$20.00"), market(B, 4, "$1.00")];
        let decision = choose_at(
            &policy(),
            &markets,
            Some(open_in("eu-central1-a")),
            None,
            at(600),
        );
        assert_eq!(decision.region, "eu-central1-a");
        assert_eq!(decision.reason, RegionReason::NotListed);
    }
}
