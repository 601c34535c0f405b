//! Pricing: the limit price to keep on Mithril, from the spec's policy, the auction of the bid's
//! region and what the status remembers of earlier preemptions.
//!
//! Pure: no IO, no clock. [`PricingPolicy::from_spec`] reads and checks the spec once;
//! [`decide`] is called by the planner at every reconcile (every resync at the latest).
//!
//! Guarantees, whatever the market does:
//! - with a `maxPrice`, no limit above it is ever chosen, so the bid never pays more than
//!   `maxPrice` per instance-hour;
//! - a strategy's limit changes on Mithril only when its target moves by more than the reprice
//!   step (a ceiling, a raise after a preemption or dropping the raises applies at once), so a jittery market does not
//!   turn into a PATCH per resync;
//! - a market price that is the bid's own limit (an open bid setting the clearing price, or the
//!   bid being the lowest winner) is not followed: following it would raise the bid against itself;
//! - raises after preemptions add up on top of the fixed or strategy price for as long as the
//!   user's price stands: restating it (`limitPrice`, `strategy`, `marginPercent` or
//!   `preemptionRaise`) drops them, while moving `maxPrice` or `repriceStep` keeps them.

use crate::crd::SpotBidSpec;
use crate::crd::spot_bid::PricingStrategy;
use mithril_api::{Auction, Price, PriceParseError};
use std::fmt;

/// Percent added to the market price when the spec gives no `marginPercent`.
pub const DEFAULT_MARGIN_PERCENT: u32 = 10;
/// Smallest target move that changes the limit when the spec gives no `repriceStep`.
pub const DEFAULT_REPRICE_STEP: Price = Price::from_cents(25);

/// Where the limit comes from before raises and the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceBase {
    /// `spec.limitPrice`.
    Fixed(Price),
    /// An auction price plus a margin.
    Market {
        strategy: PricingStrategy,
        margin_percent: u32,
    },
}

/// The spec's pricing, parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingPolicy {
    pub base: PriceBase,
    /// Ceiling of every limit (required with a strategy or a raise).
    pub max_price: Option<Price>,
    /// A strategy's target must move by more than this to change the limit.
    pub reprice_step: Price,
    /// Added after each preemption, up to `max_price`.
    pub preemption_raise: Option<Price>,
}

/// Why the spec's pricing cannot be used (the schema rejects these too, where the API server
/// evaluates its CEL rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("set exactly one of spec.limitPrice and spec.pricing.strategy; neither is set")]
    NoPrice,
    #[error("set exactly one of spec.limitPrice and spec.pricing.strategy; both are set")]
    BothPrices,
    #[error("spec.pricing.maxPrice is required with a strategy or a preemptionRaise")]
    MaxPriceRequired,
    #[error("{field}: {source}")]
    InvalidPrice {
        field: &'static str,
        source: PriceParseError,
    },
    #[error("spec.limitPrice {limit} is above spec.pricing.maxPrice {max}")]
    LimitAboveMax { limit: Price, max: Price },
}

impl PricingPolicy {
    /// Reads the pricing of `spec`: the fixed `limitPrice` as today, or `pricing`.
    pub fn from_spec(spec: &SpotBidSpec) -> Result<Self, PricingError> {
        let pricing = spec.pricing.clone().unwrap_or_default();
        let parse = |field: &'static str, text: Option<&str>| {
            text.map(|text| {
                text.parse::<Price>()
                    .map_err(|source| PricingError::InvalidPrice { field, source })
            })
            .transpose()
        };
        let fixed = parse("spec.limitPrice", spec.fixed_limit_price())?;
        let max_price = parse("spec.pricing.maxPrice", pricing.max_price.as_deref())?;
        let reprice_step = parse("spec.pricing.repriceStep", pricing.reprice_step.as_deref())?
            .unwrap_or(DEFAULT_REPRICE_STEP);
        let preemption_raise = parse(
            "spec.pricing.preemptionRaise",
            pricing.preemption_raise.as_deref(),
        )?;
        let base = match (fixed, pricing.strategy) {
            (Some(_), Some(_)) => return Err(PricingError::BothPrices),
            (None, None) => return Err(PricingError::NoPrice),
            (Some(limit), None) => PriceBase::Fixed(limit),
            (None, Some(strategy)) => PriceBase::Market {
                strategy,
                margin_percent: pricing.margin_percent.unwrap_or(DEFAULT_MARGIN_PERCENT),
            },
        };
        let needs_ceiling = matches!(base, PriceBase::Market { .. }) || preemption_raise.is_some();
        if needs_ceiling && max_price.is_none() {
            return Err(PricingError::MaxPriceRequired);
        }
        if let (PriceBase::Fixed(limit), Some(max)) = (base, max_price)
            && limit > max
        {
            return Err(PricingError::LimitAboveMax { limit, max });
        }
        Ok(Self {
            base,
            max_price,
            reprice_step,
            preemption_raise,
        })
    }

    /// A fixed limit: exactly `limit`, nothing else (what a spec without `pricing` means).
    pub fn fixed(limit: Price) -> Self {
        Self {
            base: PriceBase::Fixed(limit),
            max_price: None,
            reprice_step: DEFAULT_REPRICE_STEP,
            preemption_raise: None,
        }
    }

    /// Whether the limit depends on the market (a bid cannot be priced before it is observed).
    pub fn follows_market(&self) -> bool {
        matches!(self.base, PriceBase::Market { .. })
    }

    /// `Fixed` or the strategy's name, as the status shows it.
    pub fn basis(&self) -> String {
        match self.base {
            PriceBase::Fixed(_) => "Fixed".to_owned(),
            PriceBase::Market { strategy, .. } => format!("{strategy:?}"),
        }
    }

    /// The price raises are added to, and the raise, in short, e.g. `Fixed $9.00, raise $0.75`
    /// or `ClearingPrice +10%`. The status keeps it beside the raise total: a different one means
    /// the user restated the price, and raises made for the old one no longer apply. `maxPrice`
    /// and `repriceStep` are left out on purpose: raising the ceiling gives the raises room, it
    /// does not restate the price.
    pub fn raise_basis(&self) -> String {
        let base = match self.base {
            PriceBase::Fixed(limit) => format!("Fixed {limit}"),
            PriceBase::Market {
                strategy,
                margin_percent,
            } => format!("{strategy:?} +{margin_percent}%"),
        };
        match self.preemption_raise {
            Some(raise) => format!("{base}, raise {raise}"),
            None => base,
        }
    }

    /// The most raises can add: what the ceiling leaves above a fixed price, the ceiling itself
    /// above a market price (the market may fall to nothing), unbounded without a ceiling.
    fn raise_room(&self) -> Option<Price> {
        match (self.base, self.max_price) {
            (PriceBase::Fixed(limit), Some(max)) => max.checked_sub(limit),
            (_, max) => max,
        }
    }

    /// `price` cut down to the ceiling, and whether it is at the ceiling.
    fn cap(&self, price: Price) -> (Price, bool) {
        match self.max_price {
            Some(max) if price >= max => (max, true),
            _ => (price, false),
        }
    }
}

/// What an auction shows, as pricing reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketPrices {
    /// The last clearing price: what every winner pays per instance-hour.
    pub clearing: Price,
    /// The lowest limit among the current winners, if anyone holds capacity.
    pub lowest_allocated: Option<Price>,
}

impl From<&Auction> for MarketPrices {
    fn from(auction: &Auction) -> Self {
        Self {
            clearing: auction.last_instance_price,
            lowest_allocated: auction.lowest_allocated_price,
        }
    }
}

/// What the status remembers of raises after preemptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaiseMemory {
    /// Everything added so far (at most the ceiling).
    pub total: Price,
    /// The preemption count the raises answer: a higher count means new preemptions.
    pub raised_preemptions: i64,
}

/// Everything [`decide`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingInput<'a> {
    pub policy: PricingPolicy,
    /// The auction of the bid's region; `None` when it is not known.
    pub market: Option<MarketPrices>,
    /// The live bid's limit on Mithril, if there is a live bid.
    pub in_force: Option<Price>,
    /// Preemptions of the bid so far, including one that started now.
    pub preemptions: i64,
    pub memory: RaiseMemory,
    /// The [`PricingPolicy::raise_basis`] the remembered raises were made for; `None` (a status
    /// written before it was recorded) keeps them.
    pub raised_on: Option<&'a str>,
}

/// Why the chosen limit is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceReason {
    /// `spec.limitPrice` (plus raises).
    Fixed,
    /// The strategy's target, which moved by more than the step.
    FollowingMarket,
    /// The target moved by no more than the step: the limit in force stays.
    WithinStep,
    /// The market price read is the bid's own limit: the limit in force stays.
    OwnPrice,
    /// The target was above `maxPrice`: the limit is the ceiling.
    CappedAtMaxPrice,
    /// A new preemption raised the limit.
    RaisedAfterPreemption,
    /// The auction of the region is not known: the limit in force stays (or, for a bid not yet
    /// placed, there is nothing to price it with).
    NoMarketData,
}

impl fmt::Display for PriceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The limit to keep on Mithril and how it came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceDecision {
    /// The limit to keep on Mithril.
    pub limit: Price,
    /// What the policy aims for now (the limit may differ from it by no more than the step).
    pub target: Price,
    /// The auction price the strategy read.
    pub market_price: Option<Price>,
    /// The raise memory to store in the status.
    pub memory: RaiseMemory,
    /// What this decision added for new preemptions (before the ceiling), for an event.
    pub raised_by: Option<Price>,
    pub reason: PriceReason,
    /// Whether the target is at `maxPrice` (cut down to it, or exactly there).
    pub capped: bool,
    /// The policy's basis (`Fixed` or the strategy).
    pub basis: String,
    /// The [`PricingPolicy::raise_basis`] the raise memory belongs to, for the status.
    pub raised_on: String,
    /// The raise total dropped because the user restated the price, for an event.
    pub dropped_raise: Option<Price>,
}

impl PriceDecision {
    /// The reason in words, for the status.
    pub fn message(&self) -> String {
        let reason = self.reason_message();
        match self.dropped_raise {
            Some(dropped) => format!(
                "{reason}; the {dropped} raised after earlier preemptions was dropped: the price was restated"
            ),
            None => reason,
        }
    }

    fn reason_message(&self) -> String {
        let market = self
            .market_price
            .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let raise = if self.memory.total > Price::ZERO {
            format!(
                " (including {} raised after preemptions)",
                self.memory.total
            )
        } else {
            String::new()
        };
        match self.reason {
            PriceReason::Fixed => format!("the limit is the fixed spec.limitPrice{raise}"),
            PriceReason::FollowingMarket => {
                format!("{} follows the market price {market}{raise}", self.limit)
            }
            PriceReason::WithinStep => format!(
                "the target {} is within the reprice step of the limit {}: left alone",
                self.target, self.limit
            ),
            PriceReason::OwnPrice => format!(
                "the market price {market} is the bid's own limit: not followed, the limit stays {}",
                self.limit
            ),
            PriceReason::CappedAtMaxPrice => {
                format!(
                    "the target is above maxPrice: the limit is maxPrice {}",
                    self.limit
                )
            }
            PriceReason::RaisedAfterPreemption => format!(
                "raised to {} after preemption {}{raise}",
                self.limit, self.memory.raised_preemptions
            ),
            PriceReason::NoMarketData => {
                "the auction of the bid's region is not known yet: the limit stays".to_owned()
            }
        }
    }
}

/// The limit price to keep on Mithril.
pub fn decide(input: PricingInput<'_>) -> PriceDecision {
    let policy = input.policy;
    let (carried, dropped_raise) = carry_over(&policy, input.memory, input.raised_on);
    let (memory, raised_by) = remember_raises(&policy, carried, input.preemptions);
    let raised_now = raised_by.unwrap_or(Price::ZERO);
    let decision = |limit, target, market_price, reason, capped| PriceDecision {
        limit,
        target,
        market_price,
        memory,
        raised_by,
        reason,
        capped,
        basis: policy.basis(),
        raised_on: policy.raise_basis(),
        dropped_raise,
    };

    let (market_price, base_target, followed_own_price) = match policy.base {
        PriceBase::Fixed(limit) => (None, add(limit, memory.total), false),
        PriceBase::Market {
            strategy,
            margin_percent,
        } => {
            let Some(market) = input.market else {
                let held = input.in_force.map(|p| policy.cap(add(p, raised_now)).0);
                let limit = held.or(policy.max_price).unwrap_or(Price::ZERO);
                return decision(limit, limit, None, PriceReason::NoMarketData, false);
            };
            let read = match strategy {
                PricingStrategy::ClearingPrice => market.clearing,
                PricingStrategy::LowestAllocatedPrice => {
                    market.lowest_allocated.unwrap_or(market.clearing)
                }
            };
            match input.in_force {
                // Our own limit sets the price we read: keep it, plus whatever was raised now.
                Some(own) if own == read => (Some(read), add(own, raised_now), true),
                _ => (
                    Some(read),
                    add(with_margin(read, margin_percent), memory.total),
                    false,
                ),
            }
        }
    };
    let (target, capped) = policy.cap(base_target);

    let Some(in_force) = input.in_force else {
        let reason = if capped {
            PriceReason::CappedAtMaxPrice
        } else if policy.follows_market() {
            PriceReason::FollowingMarket
        } else {
            PriceReason::Fixed
        };
        return decision(target, target, market_price, reason, capped);
    };
    let above_ceiling = policy.max_price.is_some_and(|max| in_force > max);
    let moved_enough = distance(target, in_force) > policy.reprice_step;
    // A raise, a dropped raise (the user restated the price) and the ceiling are decisions, not
    // market jitter: they apply whatever the step.
    let apply_now =
        !policy.follows_market() || raised_by.is_some() || dropped_raise.is_some() || above_ceiling;
    let limit = if apply_now || moved_enough {
        target
    } else {
        in_force
    };
    let reason = if raised_by.is_some() && limit > in_force {
        PriceReason::RaisedAfterPreemption
    } else if capped && limit == target {
        PriceReason::CappedAtMaxPrice
    } else if !policy.follows_market() {
        PriceReason::Fixed
    } else if followed_own_price {
        PriceReason::OwnPrice
    } else if limit == target {
        PriceReason::FollowingMarket
    } else {
        PriceReason::WithinStep
    };
    decision(limit, target, market_price, reason, capped)
}

/// Adds one raise per preemption not yet answered; the total never exceeds what the ceiling
/// leaves room for.
fn remember_raises(
    policy: &PricingPolicy,
    memory: RaiseMemory,
    preemptions: i64,
) -> (RaiseMemory, Option<Price>) {
    let new = preemptions.saturating_sub(memory.raised_preemptions);
    let raised_preemptions = memory.raised_preemptions.max(preemptions);
    match policy.preemption_raise {
        Some(step) if new > 0 => {
            let raised = Price::from_cents(
                step.cents()
                    .saturating_mul(u64::try_from(new).unwrap_or(u64::MAX)),
            );
            // More than the ceiling allows on top of the base could never be used.
            let total = within_room(policy, add(memory.total, raised));
            (
                RaiseMemory {
                    total,
                    raised_preemptions,
                },
                Some(raised),
            )
        }
        _ => (
            RaiseMemory {
                total: memory.total,
                raised_preemptions,
            },
            None,
        ),
    }
}

/// The remembered raises that still apply under `policy`, and the total dropped, if any.
///
/// Raises answer preemptions at the price the user set. When the user restates that price (a new
/// `limitPrice`, strategy, margin or raise step) the raises no longer answer anything: the total
/// starts again from nothing. Preemptions already answered stay answered, so the edit itself
/// never brings a raise.
fn carry_over(
    policy: &PricingPolicy,
    memory: RaiseMemory,
    raised_on: Option<&str>,
) -> (RaiseMemory, Option<Price>) {
    let restated = raised_on.is_some_and(|basis| basis != policy.raise_basis());
    if restated {
        let dropped = (memory.total > Price::ZERO).then_some(memory.total);
        let reset = RaiseMemory {
            total: Price::ZERO,
            ..memory
        };
        return (reset, dropped);
    }
    // A lowered ceiling leaves less room: more could never be used.
    let total = within_room(policy, memory.total);
    (RaiseMemory { total, ..memory }, None)
}

fn within_room(policy: &PricingPolicy, total: Price) -> Price {
    policy.raise_room().map_or(total, |room| total.min(room))
}

/// `price` plus `percent` percent, rounded up to the cent so a margin never rounds away.
pub fn with_margin(price: Price, percent: u32) -> Price {
    let scaled = u128::from(price.cents()) * (100 + u128::from(percent));
    let cents = scaled.div_ceil(100);
    Price::from_cents(u64::try_from(cents).unwrap_or(u64::MAX))
}

fn add(a: Price, b: Price) -> Price {
    Price::from_cents(a.cents().saturating_add(b.cents()))
}

fn distance(a: Price, b: Price) -> Price {
    Price::from_cents(a.cents().abs_diff(b.cents()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::spot_bid::Pricing;

    fn price(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn strategy(strategy: PricingStrategy, max: &str) -> PricingPolicy {
        PricingPolicy {
            base: PriceBase::Market {
                strategy,
                margin_percent: 10,
            },
            max_price: Some(price(max)),
            reprice_step: price("$0.25"),
            preemption_raise: None,
        }
    }

    fn market(clearing: &str, lowest: Option<&str>) -> Option<MarketPrices> {
        Some(MarketPrices {
            clearing: price(clearing),
            lowest_allocated: lowest.map(price),
        })
    }

    fn input(policy: PricingPolicy, market: Option<MarketPrices>) -> PricingInput<'static> {
        PricingInput {
            policy,
            market,
            in_force: None,
            preemptions: 0,
            memory: RaiseMemory::default(),
            raised_on: None,
        }
    }

    fn spec(limit: Option<&str>, pricing: Option<Pricing>) -> SpotBidSpec {
        let mut spec: SpotBidSpec = serde_json::from_value(serde_json::json!({
            "project": "demo", "region": "us-central1-a",
            "instanceType": "h100-80gb.sxm.8x", "instanceQuantity": 2,
        }))
        .unwrap();
        spec.limit_price = limit.unwrap_or_default().to_owned();
        spec.pricing = pricing.map(Box::new);
        spec
    }

    #[test]
    fn a_fixed_limit_price_reads_as_before() {
        let policy = PricingPolicy::from_spec(&spec(Some("$12.50"), None)).unwrap();
        assert_eq!(policy, PricingPolicy::fixed(price("$12.50")));
        let decision = decide(input(policy, market("$30.00", None)));
        assert_eq!(
            decision.limit,
            price("$12.50"),
            "the market is not followed"
        );
        assert_eq!(decision.reason, PriceReason::Fixed);
    }

    #[test]
    fn the_spec_must_name_exactly_one_price_and_a_ceiling_for_a_strategy() {
        let with_strategy = |max: Option<&str>| Pricing {
            strategy: Some(PricingStrategy::ClearingPrice),
            max_price: max.map(str::to_owned),
            ..Pricing::default()
        };
        assert_eq!(
            PricingPolicy::from_spec(&spec(None, None)),
            Err(PricingError::NoPrice)
        );
        assert_eq!(
            PricingPolicy::from_spec(&spec(Some("$9.00"), Some(with_strategy(Some("$10.00"))))),
            Err(PricingError::BothPrices)
        );
        assert_eq!(
            PricingPolicy::from_spec(&spec(None, Some(with_strategy(None)))),
            Err(PricingError::MaxPriceRequired)
        );
        let raise_without_max = Pricing {
            preemption_raise: Some("$0.50".into()),
            ..Pricing::default()
        };
        assert_eq!(
            PricingPolicy::from_spec(&spec(Some("$9.00"), Some(raise_without_max))),
            Err(PricingError::MaxPriceRequired)
        );
        let below_limit = Pricing {
            max_price: Some("$8.00".into()),
            ..Pricing::default()
        };
        assert_eq!(
            PricingPolicy::from_spec(&spec(Some("$9.00"), Some(below_limit))),
            Err(PricingError::LimitAboveMax {
                limit: price("$9.00"),
                max: price("$8.00")
            })
        );
        let bad_step = Pricing {
            reprice_step: Some("25c".into()),
            ..with_strategy(Some("$10.00"))
        };
        assert!(matches!(
            PricingPolicy::from_spec(&spec(None, Some(bad_step))),
            Err(PricingError::InvalidPrice {
                field: "spec.pricing.repriceStep",
                ..
            })
        ));
        let defaults =
            PricingPolicy::from_spec(&spec(None, Some(with_strategy(Some("$10.00"))))).unwrap();
        assert_eq!(
            defaults,
            PricingPolicy {
                base: PriceBase::Market {
                    strategy: PricingStrategy::ClearingPrice,
                    margin_percent: DEFAULT_MARGIN_PERCENT
                },
                max_price: Some(price("$10.00")),
                reprice_step: DEFAULT_REPRICE_STEP,
                preemption_raise: None,
            }
        );
    }

    #[test]
    fn the_margin_rounds_up_to_the_cent() {
        assert_eq!(with_margin(price("$8.00"), 10), price("$8.80"));
        assert_eq!(with_margin(price("$8.01"), 10), price("$8.82"));
        assert_eq!(with_margin(price("$0.01"), 1), price("$0.02"));
        assert_eq!(with_margin(price("$7.77"), 0), price("$7.77"));
    }

    #[test]
    fn a_new_bid_is_priced_at_the_strategy_price() {
        let clearing = decide(input(
            strategy(PricingStrategy::ClearingPrice, "$14.00"),
            market("$8.00", Some("$11.00")),
        ));
        assert_eq!(clearing.limit, price("$8.80"));
        assert_eq!(clearing.market_price, Some(price("$8.00")));
        assert_eq!(clearing.reason, PriceReason::FollowingMarket);

        let lowest = decide(input(
            strategy(PricingStrategy::LowestAllocatedPrice, "$14.00"),
            market("$8.00", Some("$11.00")),
        ));
        assert_eq!(lowest.limit, price("$12.10"));
        assert_eq!(lowest.market_price, Some(price("$11.00")));

        let nobody_allocated = decide(input(
            strategy(PricingStrategy::LowestAllocatedPrice, "$14.00"),
            market("$8.00", None),
        ));
        assert_eq!(nobody_allocated.limit, price("$8.80"));
    }

    #[test]
    fn no_limit_is_ever_above_the_ceiling() {
        for clearing in ["$12.00", "$13.00", "$50.00", "$999999.99"] {
            for in_force in [None, Some("$13.00"), Some("$15.00")] {
                let decision = decide(PricingInput {
                    in_force: in_force.map(price),
                    ..input(
                        strategy(PricingStrategy::ClearingPrice, "$14.00"),
                        market(clearing, None),
                    )
                });
                assert!(decision.limit <= price("$14.00"), "{clearing} {in_force:?}");
            }
        }
        let capped = decide(input(
            strategy(PricingStrategy::ClearingPrice, "$14.00"),
            market("$13.50", None),
        ));
        assert_eq!(capped.limit, price("$14.00"));
        assert_eq!(capped.reason, PriceReason::CappedAtMaxPrice);
        assert!(capped.capped);
    }

    #[test]
    fn small_moves_leave_the_limit_alone_and_large_ones_follow() {
        let policy = strategy(PricingStrategy::ClearingPrice, "$14.00");
        let at = |clearing: &str, in_force: &str| {
            decide(PricingInput {
                in_force: Some(price(in_force)),
                ..input(policy, market(clearing, None))
            })
        };
        // $8.10 + 10% = $8.91, $0.11 from $8.80: within the $0.25 step.
        let small = at("$8.10", "$8.80");
        assert_eq!(small.limit, price("$8.80"));
        assert_eq!(small.target, price("$8.91"));
        assert_eq!(small.reason, PriceReason::WithinStep);
        // Exactly the step is not more than the step.
        assert_eq!(at("$8.22", "$8.80").target, price("$9.05"));
        assert_eq!(at("$8.22", "$8.80").limit, price("$8.80"));
        assert_eq!(at("$8.23", "$8.80").limit, price("$9.06"));
        let large = at("$8.50", "$8.80");
        assert_eq!(large.limit, price("$9.35"));
        assert_eq!(large.reason, PriceReason::FollowingMarket);
        // Down as well as up.
        assert_eq!(at("$7.00", "$8.80").limit, price("$7.70"));
    }

    #[test]
    fn a_limit_above_a_lowered_ceiling_comes_down_at_once() {
        let decision = decide(PricingInput {
            in_force: Some(price("$14.10")),
            ..input(
                strategy(PricingStrategy::ClearingPrice, "$14.00"),
                market("$12.80", None),
            )
        });
        assert_eq!(decision.limit, price("$14.00"));
    }

    #[test]
    fn the_bids_own_price_is_not_followed() {
        // An open bid that is the highest loser sets the clearing price itself.
        let clearing = decide(PricingInput {
            in_force: Some(price("$9.35")),
            ..input(
                strategy(PricingStrategy::ClearingPrice, "$14.00"),
                market("$9.35", None),
            )
        });
        assert_eq!(clearing.limit, price("$9.35"));
        assert_eq!(clearing.reason, PriceReason::OwnPrice);
        // The lowest winner is the bid itself.
        let lowest = decide(PricingInput {
            in_force: Some(price("$12.10")),
            ..input(
                strategy(PricingStrategy::LowestAllocatedPrice, "$14.00"),
                market("$8.00", Some("$12.10")),
            )
        });
        assert_eq!(lowest.limit, price("$12.10"));
        assert_eq!(lowest.reason, PriceReason::OwnPrice);
    }

    #[test]
    fn without_market_data_the_limit_stays() {
        let policy = strategy(PricingStrategy::ClearingPrice, "$14.00");
        let held = decide(PricingInput {
            in_force: Some(price("$9.00")),
            ..input(policy, None)
        });
        assert_eq!(held.limit, price("$9.00"));
        assert_eq!(held.reason, PriceReason::NoMarketData);
        assert_eq!(
            decide(input(policy, None)).reason,
            PriceReason::NoMarketData
        );
    }

    #[test]
    fn each_preemption_raises_the_limit_once_up_to_the_ceiling() {
        let policy = PricingPolicy {
            max_price: Some(price("$10.00")),
            preemption_raise: Some(price("$0.75")),
            ..PricingPolicy::fixed(price("$9.00"))
        };
        let first = decide(PricingInput {
            in_force: Some(price("$9.00")),
            preemptions: 1,
            ..input(policy, None)
        });
        assert_eq!(first.limit, price("$9.75"));
        assert_eq!(first.raised_by, Some(price("$0.75")));
        assert_eq!(first.reason, PriceReason::RaisedAfterPreemption);
        assert_eq!(
            first.memory,
            RaiseMemory {
                total: price("$0.75"),
                raised_preemptions: 1
            }
        );

        // The next reconcile sees the same preemption: no second raise.
        let again = decide(PricingInput {
            in_force: Some(price("$9.75")),
            preemptions: 1,
            memory: first.memory,
            ..input(policy, None)
        });
        assert_eq!(again.limit, price("$9.75"));
        assert_eq!(again.raised_by, None);

        let second = decide(PricingInput {
            in_force: Some(price("$9.75")),
            preemptions: 2,
            memory: again.memory,
            ..input(policy, None)
        });
        assert_eq!(second.limit, price("$10.00"), "capped at maxPrice");
        assert!(second.capped);
        assert_eq!(second.memory.total, price("$1.00"));
    }

    #[test]
    fn a_raise_applies_at_once_on_top_of_the_strategy() {
        let policy = PricingPolicy {
            preemption_raise: Some(price("$0.10")),
            ..strategy(PricingStrategy::ClearingPrice, "$14.00")
        };
        // Preempted while its own $9.35 limit set the price: the raise still applies, though it
        // is smaller than the reprice step.
        let decision = decide(PricingInput {
            in_force: Some(price("$9.35")),
            preemptions: 1,
            ..input(policy, market("$9.35", None))
        });
        assert_eq!(decision.limit, price("$9.45"));
        assert_eq!(decision.reason, PriceReason::RaisedAfterPreemption);
        // Later, the raise stays on top of the market price.
        let later = decide(PricingInput {
            in_force: Some(price("$9.45")),
            preemptions: 1,
            memory: decision.memory,
            ..input(policy, market("$10.00", None))
        });
        assert_eq!(later.target, price("$11.10"));
        assert_eq!(later.limit, price("$11.10"));
    }

    #[test]
    fn preemptions_without_a_raise_policy_are_only_counted() {
        let decision = decide(PricingInput {
            in_force: Some(price("$9.00")),
            preemptions: 3,
            ..input(PricingPolicy::fixed(price("$9.00")), None)
        });
        assert_eq!(decision.limit, price("$9.00"));
        assert_eq!(decision.raised_by, None);
        assert_eq!(decision.memory.raised_preemptions, 3);
        assert_eq!(decision.memory.total, Price::ZERO);
    }

    fn raising(limit: &str, max: &str, raise: &str) -> PricingPolicy {
        PricingPolicy {
            max_price: Some(price(max)),
            preemption_raise: Some(price(raise)),
            ..PricingPolicy::fixed(price(limit))
        }
    }

    /// Two preemptions answered under `Fixed $9.00, raise $0.50`.
    fn two_raises() -> RaiseMemory {
        RaiseMemory {
            total: price("$1.00"),
            raised_preemptions: 2,
        }
    }

    #[test]
    fn the_raise_basis_names_the_restatable_price_only() {
        assert_eq!(
            raising("$9.00", "$12.00", "$0.50").raise_basis(),
            "Fixed $9.00, raise $0.50"
        );
        assert_eq!(
            strategy(PricingStrategy::LowestAllocatedPrice, "$14.00").raise_basis(),
            "LowestAllocatedPrice +10%"
        );
        let ceiling_and_step = PricingPolicy {
            max_price: Some(price("$20.00")),
            reprice_step: price("$1.00"),
            ..raising("$9.00", "$12.00", "$0.50")
        };
        assert_eq!(
            ceiling_and_step.raise_basis(),
            raising("$9.00", "$12.00", "$0.50").raise_basis()
        );
    }

    #[test]
    fn restating_the_price_drops_the_raises_without_raising_anew() {
        let remembered = "Fixed $9.00, raise $0.50";
        for restated in [
            raising("$9.50", "$12.00", "$0.50"),
            raising("$9.00", "$12.00", "$0.25"),
            PricingPolicy {
                max_price: Some(price("$12.00")),
                ..PricingPolicy::fixed(price("$9.00"))
            },
        ] {
            let decision = decide(PricingInput {
                in_force: Some(price("$10.00")),
                preemptions: 2,
                memory: two_raises(),
                raised_on: Some(remembered),
                ..input(restated, None)
            });
            let PriceBase::Fixed(base) = restated.base else {
                unreachable!()
            };
            assert_eq!(decision.limit, base, "{restated:?}");
            assert_eq!(decision.memory.total, Price::ZERO);
            assert_eq!(
                decision.memory.raised_preemptions, 2,
                "the edit is not a preemption"
            );
            assert_eq!(decision.raised_by, None);
            assert_eq!(decision.dropped_raise, Some(price("$1.00")));
            assert_eq!(decision.raised_on, restated.raise_basis());
            assert!(decision.message().contains("dropped"), "{decision:?}");
        }

        // A preemption after the edit is answered under the new price.
        let restated = raising("$9.50", "$12.00", "$0.50");
        let after = decide(PricingInput {
            in_force: Some(price("$9.50")),
            preemptions: 3,
            memory: RaiseMemory {
                total: Price::ZERO,
                raised_preemptions: 2,
            },
            raised_on: Some("Fixed $9.50, raise $0.50"),
            ..input(restated, None)
        });
        assert_eq!(after.limit, price("$10.00"));
        assert_eq!(after.dropped_raise, None);
    }

    #[test]
    fn a_restated_strategy_drops_the_raises_on_top_of_the_market() {
        let before = PricingPolicy {
            preemption_raise: Some(price("$0.50")),
            ..strategy(PricingStrategy::ClearingPrice, "$14.00")
        };
        let wider_margin = PricingPolicy {
            base: PriceBase::Market {
                strategy: PricingStrategy::ClearingPrice,
                margin_percent: 20,
            },
            ..before
        };
        let decision = decide(PricingInput {
            in_force: Some(price("$9.80")),
            preemptions: 2,
            memory: two_raises(),
            raised_on: Some(&before.raise_basis()),
            ..input(wider_margin, market("$8.00", None))
        });
        assert_eq!(decision.limit, price("$9.60"), "$8.00 + 20%, no raise");
        assert_eq!(decision.dropped_raise, Some(price("$1.00")));
    }

    #[test]
    fn moving_the_ceiling_keeps_the_raises_within_it() {
        let remembered = "Fixed $9.00, raise $0.50";
        let higher = decide(PricingInput {
            in_force: Some(price("$10.00")),
            preemptions: 2,
            memory: two_raises(),
            raised_on: Some(remembered),
            ..input(raising("$9.00", "$14.00", "$0.50"), None)
        });
        assert_eq!(higher.limit, price("$10.00"));
        assert_eq!(higher.memory, two_raises());
        assert_eq!(higher.dropped_raise, None);

        let lower = decide(PricingInput {
            in_force: Some(price("$10.00")),
            preemptions: 2,
            memory: two_raises(),
            raised_on: Some(remembered),
            ..input(raising("$9.00", "$9.75", "$0.50"), None)
        });
        assert_eq!(lower.limit, price("$9.75"));
        assert_eq!(
            lower.memory.total,
            price("$0.75"),
            "no more than the room left"
        );
    }

    #[test]
    fn raises_remembered_before_their_basis_was_recorded_are_kept() {
        let decision = decide(PricingInput {
            in_force: Some(price("$10.00")),
            preemptions: 2,
            memory: two_raises(),
            raised_on: None,
            ..input(raising("$9.50", "$12.00", "$0.50"), None)
        });
        assert_eq!(decision.limit, price("$10.50"));
        assert_eq!(decision.dropped_raise, None);
        assert_eq!(decision.raised_on, "Fixed $9.50, raise $0.50");
    }
}
