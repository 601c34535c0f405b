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
//!   step (a ceiling or a raise after a preemption applies at once), so a jittery market does not
//!   turn into a PATCH per resync;
//! - a market price that is the bid's own limit (an open bid setting the clearing price, or the
//!   bid being the lowest winner) is not followed: following it would raise the bid against itself.

use crate::crd::SpotBidSpec;
use crate::crd::spot_bid::PricingStrategy;
use crate::mithril::{Auction, Price, PriceParseError};
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

    fn cap(&self, price: Price) -> (Price, bool) {
        match self.max_price {
            Some(max) if price > max => (max, true),
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
pub struct PricingInput {
    pub policy: PricingPolicy,
    /// The auction of the bid's region; `None` when it is not known.
    pub market: Option<MarketPrices>,
    /// The live bid's limit on Mithril, if there is a live bid.
    pub in_force: Option<Price>,
    /// Preemptions of the bid so far, including one that started now.
    pub preemptions: i64,
    pub memory: RaiseMemory,
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
    /// Whether the target was cut down to `maxPrice`.
    pub capped: bool,
    /// The policy's basis (`Fixed` or the strategy).
    pub basis: String,
}

impl PriceDecision {
    /// The reason in words, for the status.
    pub fn message(&self) -> String {
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
pub fn decide(input: PricingInput) -> PriceDecision {
    let policy = input.policy;
    let (memory, raised_by) = remember_raises(&policy, input.memory, input.preemptions);
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
    let apply_now = !policy.follows_market() || raised_by.is_some() || above_ceiling;
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

/// Adds one raise per preemption not yet answered; the total never exceeds the ceiling.
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
            let total = policy.cap(add(memory.total, raised)).0;
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
