//! The SpotPool planner: from the pool's spec and its SpotBids, which SpotBids to create, patch
//! and delete. Pure: no IO, no clock.
//!
//! - Scaling up adds SpotBids of `blockSize` instances (the last one smaller) until the SpotBids
//!   of the current template ask for `replicas` instances.
//! - Scaling down deletes a set of SpotBids whose instances add up to exactly the excess, chosen
//!   in the scale-down order: bids holding no instances first, then those paying the most, then
//!   the newest. When no set adds up (blocks of 2, one instance too many), a smaller SpotBid is
//!   added first so that one does: the pool never asks for fewer than `replicas` instances.
//! - A template change Mithril applies to a live bid is patched into every SpotBid; any other
//!   replaces SpotBids like a rolling update: new ones only while the instances asked for stay
//!   within `replicas + maxSurge`, old ones deleted only while the running instances stay at or
//!   above `replicas - maxUnavailable`.

use crate::crd::spot_bid::Spend;
use jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::BTreeSet;

/// What the planner knows of one of the pool's SpotBids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    /// Instances it asks for.
    pub quantity: i32,
    /// Made from the current template (same project, region, type and launch specification).
    pub current: bool,
    /// The fields Mithril changes on a live bid differ from the template's.
    pub outdated: bool,
    /// Being deleted (its bid being cancelled).
    pub deleting: bool,
    /// Its bid holds instances (allocated, being preempted or relocated).
    pub holds_instances: bool,
    /// Instances running.
    pub ready: i32,
    /// Price per instance-hour paid now, in cents.
    pub paying_cents: Option<u64>,
    pub created: Option<Timestamp>,
    /// What it has cost (its `status.spend`), once read.
    pub spend: Option<Spend>,
}

impl Child {
    fn available(&self) -> i32 {
        self.ready.clamp(0, self.quantity)
    }
}

/// The pool as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInput<'a> {
    /// The pool's name: new SpotBids are named `<pool>-<template>-<n>`.
    pub pool: &'a str,
    /// The current template's short hash (see [`super::children::template_hash`]).
    pub template_hash: &'a str,
    pub replicas: i32,
    pub block_size: i32,
    pub max_surge: i32,
    pub max_unavailable: i32,
    pub children: &'a [Child],
}

/// Why a SpotBid is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The pool asks for fewer instances.
    ScaleDown,
    /// Made from an earlier template that Mithril cannot apply to a live bid.
    Replaced,
}

/// One write to the pool's SpotBids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a SpotBid of the current template asking for `quantity` instances.
    Create { name: String, quantity: i32 },
    /// Patch the template's in-place fields into the SpotBid.
    Update { name: String },
    /// Delete the SpotBid (its finalizer cancels the bid, or orphans it).
    Delete { name: String, removal: Removal },
}

/// Why a replacement makes no progress now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Old SpotBids are kept until new ones run (`maxUnavailable`), or new ones wait for old ones
    /// to go (`maxSurge`).
    WaitingForInstances,
    /// Nothing will change by waiting: every SpotBid runs, yet `maxSurge` leaves no room for a
    /// new block and `maxUnavailable` none for deleting an old one.
    Blocked { message: String },
}

/// The planner's answer: every step due now, in order (the reconcile takes the first; the next
/// reconcile sees its effect and plans again), and what holds a replacement back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolPlan {
    pub steps: Vec<Step>,
    pub hold: Option<Hold>,
}

/// Plans the pool's next writes.
pub fn plan(input: &PoolInput) -> PoolPlan {
    let block = input.block_size.max(1);
    let replicas = input.replicas.max(0);
    let live: Vec<&Child> = input.children.iter().filter(|c| !c.deleting).collect();
    let current: Vec<&Child> = live.iter().copied().filter(|c| c.current).collect();
    let old: Vec<&Child> = live.iter().copied().filter(|c| !c.current).collect();
    let sum = |children: &[&Child]| children.iter().map(|c| c.quantity).sum::<i32>();
    let (wanted_current, wanted_old) = (sum(&current), sum(&old));
    let deleting: i32 = input
        .children
        .iter()
        .filter(|c| c.deleting)
        .map(|c| c.quantity)
        .sum();

    let mut steps: Vec<Step> = live
        .iter()
        .filter(|c| c.outdated)
        .map(|c| Step::Update {
            name: c.name.clone(),
        })
        .collect();
    let mut names = ChildNames::new(input);

    // Scaling: only SpotBids of the current template count toward `replicas`.
    let mut created = 0;
    if wanted_current > replicas {
        let excess = wanted_current - replicas;
        let ordered = scale_down_order(&current);
        let quantities: Vec<i32> = ordered.iter().map(|c| c.quantity).collect();
        match exact_subset(&quantities, excess) {
            Some(chosen) => steps.extend(chosen.into_iter().map(|i| Step::Delete {
                name: ordered[i].name.clone(),
                removal: Removal::ScaleDown,
            })),
            None => {
                // No set of SpotBids adds up to the excess: a smaller one first makes one that does.
                let above = smallest_sum_above(&quantities, excess).unwrap_or(excess + 1);
                let quantity = (above - excess).clamp(1, block);
                steps.push(Step::Create {
                    name: names.next(),
                    quantity,
                });
            }
        }
    } else {
        let mut missing = replicas - wanted_current;
        let mut asked = wanted_current + wanted_old + deleting;
        while missing > 0 {
            let quantity = missing.min(block);
            // During a replacement, new SpotBids stay within the surge.
            if !old.is_empty() && asked + quantity > replicas + input.max_surge.max(0) {
                break;
            }
            steps.push(Step::Create {
                name: names.next(),
                quantity,
            });
            missing -= quantity;
            asked += quantity;
            created += 1;
        }
    }

    // Replacement: old SpotBids go while enough instances keep running.
    let floor = replicas - input.max_unavailable.max(0);
    let mut available: i32 = live.iter().map(|c| c.available()).sum();
    let mut deleted_old = 0;
    for child in scale_down_order(&old) {
        if available - child.available() >= floor || child.available() == 0 {
            available -= child.available();
            steps.push(Step::Delete {
                name: child.name.clone(),
                removal: Removal::Replaced,
            });
            deleted_old += 1;
        }
    }

    let hold = (!old.is_empty() && created == 0 && deleted_old == 0 && wanted_current < replicas)
        .then(|| {
            let settled = live.iter().all(|c| c.available() == c.quantity);
            if settled {
                Hold::Blocked {
                    message: format!(
                        "every SpotBid runs, but maxSurge ({}) leaves no room for a block of {} and \
                         maxUnavailable ({}) none for deleting an old SpotBid: raise one of them",
                        input.max_surge,
                        (replicas - wanted_current).min(block),
                        input.max_unavailable
                    ),
                }
            } else {
                Hold::WaitingForInstances
            }
        });
    PoolPlan { steps, hold }
}

/// The order SpotBids are deleted in when scaling down: those holding no instances first, then
/// those paying the most per instance-hour, then the newest.
pub fn scale_down_order<'a>(children: &[&'a Child]) -> Vec<&'a Child> {
    let mut ordered = children.to_vec();
    ordered.sort_by_key(|c| {
        (
            c.holds_instances,
            Reverse(c.paying_cents.unwrap_or(0)),
            Reverse(c.created),
            Reverse(c.name.clone()),
        )
    });
    ordered
}

/// Largest `items x target` the exact search takes on; beyond it, the greedy choice.
const SEARCH_LIMIT: usize = 4_000_000;

/// The indexes of a set of `quantities` adding up to exactly `target`, preferring earlier items
/// (the first item is in the set whenever some set with it adds up); `None` when no set does.
fn exact_subset(quantities: &[i32], target: i32) -> Option<Vec<usize>> {
    let target = usize::try_from(target).ok()?;
    if quantities.len().saturating_mul(target + 1) > SEARCH_LIMIT {
        return greedy_subset(quantities, target);
    }
    // reachable[i][s]: some set of the items from i on adds up to s.
    let mut reachable = vec![vec![false; target + 1]; quantities.len() + 1];
    reachable[quantities.len()][0] = true;
    for i in (0..quantities.len()).rev() {
        let q = usize::try_from(quantities[i]).unwrap_or(0);
        for s in 0..=target {
            reachable[i][s] = reachable[i + 1][s] || (s >= q && reachable[i + 1][s - q]);
        }
    }
    if !reachable[0][target] {
        return None;
    }
    let (mut chosen, mut left) = (Vec::new(), target);
    for (i, quantity) in quantities.iter().enumerate() {
        let q = usize::try_from(*quantity).unwrap_or(0);
        if left == 0 {
            break;
        }
        if q > 0 && q <= left && reachable[i + 1][left - q] {
            chosen.push(i);
            left -= q;
        }
    }
    Some(chosen)
}

fn greedy_subset(quantities: &[i32], target: usize) -> Option<Vec<usize>> {
    let (mut chosen, mut left) = (Vec::new(), target);
    for (i, quantity) in quantities.iter().enumerate() {
        let q = usize::try_from(*quantity).unwrap_or(0);
        if q > 0 && q <= left {
            chosen.push(i);
            left -= q;
        }
    }
    (left == 0).then_some(chosen)
}

/// The smallest sum of a set of `quantities` above `target`.
fn smallest_sum_above(quantities: &[i32], target: i32) -> Option<i32> {
    let largest = quantities.iter().copied().max()?;
    let limit = usize::try_from(target + largest).ok()?;
    if quantities.len().saturating_mul(limit + 1) > SEARCH_LIMIT {
        return quantities.iter().copied().filter(|q| *q > target).min();
    }
    let mut reachable = vec![false; limit + 1];
    reachable[0] = true;
    for quantity in quantities {
        let q = usize::try_from(*quantity).unwrap_or(0);
        for s in (q..=limit).rev() {
            reachable[s] |= reachable[s - q];
        }
    }
    let from = usize::try_from(target).ok()? + 1;
    (from..=limit)
        .find(|s| reachable[*s])
        .and_then(|s| i32::try_from(s).ok())
}

/// Names for new SpotBids: `<pool>-<template>-<n>`, the lowest `n` no SpotBid of the pool has
/// (one being deleted included), so a create repeated after a lost answer finds its SpotBid.
struct ChildNames {
    prefix: String,
    taken: BTreeSet<String>,
    next: usize,
}

impl ChildNames {
    fn new(input: &PoolInput) -> Self {
        Self {
            prefix: format!("{}-{}-", input.pool, input.template_hash),
            taken: input.children.iter().map(|c| c.name.clone()).collect(),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        loop {
            let name = format!("{}{}", self.prefix, self.next);
            self.next += 1;
            if !self.taken.contains(&name) {
                return name;
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
