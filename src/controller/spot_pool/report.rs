//! The SpotPool status and events: pure `SpotBids + plan + outcome -> status, events`.

use super::plan::{Child, Hold, PoolPlan, Removal, Step};
use crate::controller::machinery::events::{Event, EventType};
use crate::crd::spot_bid::Spend;
use crate::crd::{
    Condition, ConditionStatus, POOL_LABEL, READY, Reason, SYNCED, SpotPoolStatus, Time,
    set_condition,
};
use mithril_api::Price;
use std::collections::BTreeMap;

/// What became of the step the reconcile took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No step was due.
    Idle,
    /// The step was written.
    Done(Step),
    /// The API server refused it.
    Failed { step: Step, error: String },
}

/// What the status is built from.
pub struct Report<'a> {
    pub pool: &'a str,
    pub replicas: i32,
    /// Every SpotBid of the pool, as read before the step.
    pub children: &'a [Child],
    /// Phase of each SpotBid by name (`None`: not reported yet).
    pub phases: &'a BTreeMap<String, Option<String>>,
    pub plan: &'a PoolPlan,
    pub outcome: &'a Outcome,
    pub generation: Option<i64>,
    pub now: Time,
}

/// The sum of the SpotBids' spend, those being deleted included; `None` while none has one.
fn spend(children: &[Child]) -> Option<Spend> {
    let spends: Vec<&Spend> = children.iter().filter_map(|c| c.spend.as_ref()).collect();
    if spends.is_empty() {
        return None;
    }
    let total = |field: fn(&Spend) -> &str| {
        let cents: u64 = spends
            .iter()
            .filter_map(|spend| field(spend).parse::<Price>().ok())
            .map(Price::cents)
            .sum();
        Price::from_cents(cents).to_string()
    };
    Some(Spend {
        cost_so_far: total(|s| &s.cost_so_far),
        hourly_cost: total(|s| &s.hourly_cost),
    })
}

/// The status for `report`, keeping the transition times of `previous`'s conditions.
pub fn status(previous: Option<&SpotPoolStatus>, report: &Report) -> SpotPoolStatus {
    let live: Vec<&Child> = report.children.iter().filter(|c| !c.deleting).collect();
    let replicas: i32 = live.iter().map(|c| c.quantity).sum();
    let ready: i32 = live.iter().map(|c| c.ready.clamp(0, c.quantity)).sum();
    let updated: i32 = live.iter().filter(|c| c.current).map(|c| c.quantity).sum();
    let mut by_phase = BTreeMap::new();
    for child in &live {
        let phase = report
            .phases
            .get(&child.name)
            .cloned()
            .flatten()
            .unwrap_or_else(|| "Unknown".to_owned());
        *by_phase.entry(phase).or_insert(0) += 1;
    }
    let cost: u64 = live
        .iter()
        .filter_map(|c| {
            let instances = u64::try_from(c.quantity).ok()?;
            c.paying_cents?.checked_mul(instances)
        })
        .sum();
    let mut status = SpotPoolStatus {
        replicas,
        ready_replicas: ready,
        updated_replicas: updated,
        selector: Some(format!("{POOL_LABEL}={}", report.pool)),
        bids: i32::try_from(live.len()).unwrap_or(i32::MAX),
        bids_by_phase: by_phase,
        hourly_cost: Some(Price::from_cents(cost).to_string()),
        spend: spend(report.children),
        observed_generation: report.generation,
        conditions: previous.map(|p| p.conditions.clone()).unwrap_or_default(),
    };
    let wanted = report.replicas.max(0);
    let old = live.iter().any(|c| !c.current);
    let (ready_status, ready_reason, ready_message) = if replicas != wanted || updated != wanted {
        let reason = if old {
            Reason::Replacing
        } else {
            Reason::Scaling
        };
        (
            ConditionStatus::False,
            reason,
            format!(
                "{replicas} of {wanted} instances asked for, {updated} from the current template"
            ),
        )
    } else if ready < wanted {
        (
            ConditionStatus::False,
            Reason::Starting,
            format!("{ready} of {wanted} instances running"),
        )
    } else {
        (
            ConditionStatus::True,
            Reason::Running,
            format!("all {wanted} instances running"),
        )
    };
    set_condition(
        &mut status.conditions,
        Condition::new(
            READY,
            ready_status,
            ready_reason,
            ready_message,
            report.generation,
            report.now,
        ),
    );
    let (synced_status, synced_reason, synced_message) = match (report.outcome, &report.plan.hold) {
        (Outcome::Failed { step, error }, _) => (
            ConditionStatus::False,
            Reason::WriteFailed,
            format!("{}: {error}", describe(step)),
        ),
        (_, Some(Hold::Blocked { message })) => (
            ConditionStatus::False,
            Reason::ReplacementBlocked,
            message.clone(),
        ),
        _ if !report.plan.steps.is_empty() => (
            ConditionStatus::False,
            Reason::Updating,
            format!("{} SpotBid change(s) to make", report.plan.steps.len()),
        ),
        (_, Some(Hold::WaitingForInstances)) => (
            ConditionStatus::False,
            Reason::Replacing,
            "waiting for instances to run before replacing more SpotBids".to_owned(),
        ),
        _ => (
            ConditionStatus::True,
            Reason::Synced,
            format!("{} SpotBid(s) ask for {replicas} instances", live.len()),
        ),
    };
    set_condition(
        &mut status.conditions,
        Condition::new(
            SYNCED,
            synced_status,
            synced_reason,
            synced_message,
            report.generation,
            report.now,
        ),
    );
    status
}

/// The step in words, e.g. `create SpotBid train-1a2b3c4d-0 (2 instances)`.
pub fn describe(step: &Step) -> String {
    match step {
        Step::Create { name, quantity } => {
            format!("create SpotBid {name} ({quantity} instances)")
        }
        Step::Update { name } => format!("update SpotBid {name}"),
        Step::Delete { name, removal } => match removal {
            Removal::ScaleDown => format!("delete SpotBid {name} (scaling down)"),
            Removal::Replaced => format!("delete SpotBid {name} (replaced)"),
        },
    }
}

/// The events the reconcile publishes: what it wrote or failed to write, and a replacement
/// becoming blocked.
pub fn events(
    previous: Option<&SpotPoolStatus>,
    new: &SpotPoolStatus,
    outcome: &Outcome,
) -> Vec<Event> {
    let event = |type_, reason: Reason, note: String| Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    let mut events = Vec::new();
    match outcome {
        Outcome::Idle => {}
        Outcome::Done(step) => {
            let reason = match step {
                Step::Create { .. } => Reason::SpotBidCreated,
                Step::Update { .. } => Reason::SpotBidUpdated,
                Step::Delete { .. } => Reason::SpotBidDeleted,
            };
            events.push(event(EventType::Normal, reason, describe(step)));
        }
        Outcome::Failed { step, error } => events.push(event(
            EventType::Warning,
            Reason::WriteFailed,
            format!("could not {}: {error}", describe(step)),
        )),
    }
    let blocked = |status: Option<&SpotPoolStatus>| {
        status
            .and_then(|s| crate::crd::find_condition(&s.conditions, SYNCED))
            .filter(|c| c.reason == Reason::ReplacementBlocked)
            .map(|c| c.message.clone())
    };
    if let (None, Some(message)) = (blocked(previous), blocked(Some(new))) {
        events.push(event(
            EventType::Warning,
            Reason::ReplacementBlocked,
            message,
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::find_condition;

    fn at(second: i64) -> Time {
        Time::new(jiff::Timestamp::from_second(1_800_000_000 + second).unwrap())
    }

    fn child(name: &str, quantity: i32, ready: i32, paying: Option<u64>) -> Child {
        Child {
            name: name.into(),
            quantity,
            current: true,
            outdated: false,
            deleting: false,
            holds_instances: ready > 0,
            ready,
            paying_cents: paying,
            created: None,
            spend: None,
        }
    }

    fn report<'a>(
        children: &'a [Child],
        phases: &'a BTreeMap<String, Option<String>>,
        plan: &'a PoolPlan,
        outcome: &'a Outcome,
    ) -> Report<'a> {
        Report {
            pool: "train",
            replicas: 4,
            children,
            phases,
            plan,
            outcome,
            generation: Some(3),
            now: at(0),
        }
    }

    #[test]
    fn counts_instances_bids_phases_and_cost() {
        let children = [
            child("a", 2, 2, Some(800)),
            child("b", 2, 0, None),
            Child {
                deleting: true,
                ..child("c", 2, 2, Some(900))
            },
        ];
        let phases = [
            ("a".to_owned(), Some("Allocated".to_owned())),
            ("b".to_owned(), Some("Open".to_owned())),
            ("c".to_owned(), Some("Allocated".to_owned())),
        ]
        .into();
        let plan = PoolPlan::default();
        let status = status(None, &report(&children, &phases, &plan, &Outcome::Idle));
        assert_eq!(
            (status.replicas, status.ready_replicas, status.bids),
            (4, 2, 2)
        );
        assert_eq!(status.selector.as_deref(), Some("mithril.ai/pool=train"));
        assert_eq!(status.hourly_cost.as_deref(), Some("$16.00"));
        assert_eq!(
            status.bids_by_phase,
            [("Allocated".into(), 1), ("Open".into(), 1)].into()
        );
        let ready = find_condition(&status.conditions, READY).unwrap();
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, "Starting")
        );
        let synced = find_condition(&status.conditions, SYNCED).unwrap();
        assert!(synced.is_true());
        assert_eq!(synced.observed_generation, Some(3));
    }

    #[test]
    fn the_pools_spend_is_the_sum_of_its_spot_bids() {
        let spent = |cost: &str, hourly: &str| {
            Some(Spend {
                cost_so_far: cost.into(),
                hourly_cost: hourly.into(),
            })
        };
        let children = [
            Child {
                spend: spent("$10.50", "$8.00"),
                ..child("a", 1, 1, Some(800))
            },
            Child {
                deleting: true,
                spend: spent("$4.25", "$0.00"),
                ..child("b", 1, 0, None)
            },
            child("c", 1, 0, None),
        ];
        let phases = BTreeMap::new();
        let plan = PoolPlan::default();
        let status = status(None, &report(&children, &phases, &plan, &Outcome::Idle));
        assert_eq!(status.spend, spent("$14.75", "$8.00"));
        let none = [child("c", 1, 0, None)];
        let status = status_of(&none);
        assert_eq!(status.spend, None, "no SpotBid has read its cost yet");
    }

    fn status_of(children: &[Child]) -> SpotPoolStatus {
        let phases = BTreeMap::new();
        let plan = PoolPlan::default();
        status(None, &report(children, &phases, &plan, &Outcome::Idle))
    }

    #[test]
    fn a_refused_write_is_reported_and_a_done_one_is_an_event() {
        let children = [child("a", 2, 2, None)];
        let phases = BTreeMap::new();
        let step = Step::Create {
            name: "train-x-1".into(),
            quantity: 2,
        };
        let plan = PoolPlan {
            steps: vec![step.clone()],
            hold: None,
        };
        let failed = Outcome::Failed {
            step: step.clone(),
            error: "409".into(),
        };
        let status = status(None, &report(&children, &phases, &plan, &failed));
        let synced = find_condition(&status.conditions, SYNCED).unwrap();
        assert_eq!(synced.reason, "WriteFailed");
        let reasons: Vec<String> = events(None, &status, &Outcome::Done(step))
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["SpotBidCreated"]);
    }
}
