//! The InstanceSchedule status, and the events that go with it.
//!
//! Pure: the reconcile passes the previous status, what it could find out (an invalid spec, an
//! unavailable Mithril, or a plan and the outcome of each request it sent), the generation and
//! `now`; [`status`] returns the status to store. It is built from the previous one so that
//! unchanged conditions keep their transition times and an unchanged observation compares equal
//! (the reconcile writes only when something changed). [`events`] says what to publish.

use super::plan::{
    Action, ActionOutcome, Disposition, LastAction, PatchFailure, PlannedInstance, SchedulePlan,
    SkipReason, WaitReason, mentions, target_status, unmoved_status,
};
use super::windows::Evaluation;
use crate::controller::error::Problem;
use crate::controller::machinery::events::cut_note;
use crate::crd::{
    Condition, ConditionStatus, InstanceAction, InstanceScheduleStatus, READY, Reason, SYNCED,
    ScheduleAction, ScheduledInstance, Time, WantedState, find_condition, set_condition,
};
use kube::runtime::events::{Event, EventType};
use mithril_api::{InstanceStatus, MithrilError, PatchInstancesResponse};
use std::collections::{BTreeMap, BTreeSet};

/// How many FIDs a condition message or event note names before summarizing the rest.
const LISTED_FIDS: usize = 10;

/// What one request did to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchResult {
    /// Accepted; Mithril answered with this status (`STATUS_STOPPING`, `STATUS_CONFIRMED`, or
    /// the wanted one already when there was nothing to do).
    Accepted(InstanceStatus),
    /// Refused.
    Failed {
        failure: PatchFailure,
        detail: String,
    },
}

/// A pause or resume sent for one instance, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOutcome {
    pub action: ScheduleAction,
    pub result: PatchResult,
}

/// Outcomes by instance FID. An instance that was not sent, or whose batch failed because of
/// another instance, has no entry: nothing happened to it.
pub type PatchOutcomes = BTreeMap<String, InstanceOutcome>;

/// The kind of refusal an error from `PATCH /v2/instances` stands for.
pub fn failure_of(error: &MithrilError) -> PatchFailure {
    match error {
        MithrilError::Conflict { .. } => PatchFailure::NotReady,
        MithrilError::NotFound { .. } => PatchFailure::NotFound,
        MithrilError::NotImplemented { .. } => PatchFailure::SpotInstance,
        MithrilError::Validation { .. } => PatchFailure::Rejected,
        _ => PatchFailure::Unavailable,
    }
}

/// The per-instance outcomes of one request.
///
/// An answer showing an instance in the status the action moves it away from (RUNNING for a
/// pause) is a refusal: Mithril returns the prior status unchanged for an instance it cannot
/// move, so recording it as accepted would send the same request every cycle.
///
/// Mithril applies a batch entirely or not at all. When it refuses one and its answer names
/// exactly one instance of the batch, that instance alone is charged with the refusal; the
/// others were not touched and get no entry, so the next reconcile sends them again at once
/// instead of backing off for an instance that is not theirs. Otherwise every instance of the
/// batch is charged.
pub fn batch_outcomes(
    action: &Action,
    answer: Result<&PatchInstancesResponse, &MithrilError>,
) -> PatchOutcomes {
    let kind = action.kind();
    match answer {
        Ok(response) => action
            .fids()
            .iter()
            .filter_map(|fid| {
                let status = response.instances.get(fid)?;
                let result = if *status == unmoved_status(kind) {
                    PatchResult::Failed {
                        failure: PatchFailure::Unchanged,
                        detail: format!(
                            "Mithril answered {status}, the prior status: it did not {} the instance",
                            verb(kind)
                        ),
                    }
                } else {
                    PatchResult::Accepted(status.clone())
                };
                Some((
                    fid.clone(),
                    InstanceOutcome {
                        action: kind,
                        result,
                    },
                ))
            })
            .collect(),
        Err(error) => {
            let failure = failure_of(error);
            let detail = error
                .detail()
                .map_or_else(|| error.to_string(), ToString::to_string);
            let culprits: Vec<&String> = action
                .fids()
                .iter()
                .filter(|fid| mentions(&detail, fid))
                .collect();
            let charged: Vec<&String> = match culprits.as_slice() {
                [one] => vec![*one],
                _ => action.fids().iter().collect(),
            };
            charged
                .into_iter()
                .map(|fid| {
                    (
                        fid.clone(),
                        InstanceOutcome {
                            action: kind,
                            result: PatchResult::Failed {
                                failure,
                                detail: detail.clone(),
                            },
                        },
                    )
                })
                .collect()
        }
    }
}

/// What the reconcile could find out this time.
#[derive(Debug, Clone, Copy)]
pub enum Assessment<'a> {
    /// The spec cannot be acted on (the user's problem); nothing was observed or sent.
    InvalidSpec(&'a Problem),
    /// The instances could not be listed; nothing was sent. `error` says why.
    Unavailable {
        evaluation: Evaluation,
        error: &'a str,
    },
    /// Planned, and the plan's actions sent with these outcomes.
    Planned {
        plan: &'a SchedulePlan,
        outcomes: &'a PatchOutcomes,
    },
}

/// The status to store at `generation`.
pub fn status(
    previous: Option<&InstanceScheduleStatus>,
    assessment: Assessment<'_>,
    generation: Option<i64>,
    now: Time,
) -> InstanceScheduleStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    let (ready, synced) = match assessment {
        Assessment::InvalidSpec(problem) => {
            status.wanted_state = None;
            status.next_transition_time = None;
            let message = problem.message.clone();
            (
                (ConditionStatus::False, problem.reason, message.clone()),
                (ConditionStatus::False, problem.reason, message),
            )
        }
        Assessment::Unavailable { evaluation, error } => {
            set_schedule(&mut status, &evaluation);
            // The instances stay as last observed; only what counts as in state follows the
            // wanted state.
            let target = target_status(evaluation.wanted).to_string();
            let in_state = status
                .instances
                .iter()
                .filter(|instance| instance.status.as_deref() == Some(target.as_str()))
                .count();
            let total = status.instances_total;
            set_counts(&mut status, count(in_state), total);
            let message = format!("could not list the instances on Mithril: {error}");
            (
                (
                    ConditionStatus::Unknown,
                    Reason::MithrilUnavailable,
                    message.clone(),
                ),
                (ConditionStatus::False, Reason::MithrilUnavailable, message),
            )
        }
        Assessment::Planned { plan, outcomes } => {
            set_schedule(
                &mut status,
                &Evaluation {
                    wanted: plan.wanted,
                    next_transition: plan.next_transition,
                },
            );
            let previous_instances: BTreeMap<&str, &ScheduledInstance> = previous
                .map(|p| p.instances.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|instance| (instance.fid.as_str(), instance))
                .collect();
            status.instances = plan
                .instances
                .iter()
                .map(|planned| {
                    scheduled_instance(
                        planned,
                        outcomes.get(&planned.fid),
                        previous_instances.get(planned.fid.as_str()).copied(),
                        now,
                    )
                })
                .collect();
            let target = target_status(plan.wanted);
            let counted: Vec<(&PlannedInstance, Option<InstanceStatus>)> = plan
                .instances
                .iter()
                .filter(|planned| planned.counts())
                .map(|planned| (planned, fresh_status(planned, outcomes.get(&planned.fid))))
                .collect();
            let in_state = counted
                .iter()
                .filter(|(_, status)| status.as_ref() == Some(&target))
                .count();
            set_counts(&mut status, count(in_state), count(counted.len()));
            (
                readiness(plan, &counted, in_state, outcomes),
                sync(plan, outcomes),
            )
        }
    };
    let (ready_status, ready_reason, ready_message) = ready;
    set_condition(
        &mut status.conditions,
        Condition::new(
            READY,
            ready_status,
            ready_reason,
            ready_message,
            generation,
            now,
        ),
    );
    let (synced_status, synced_reason, synced_message) = synced;
    set_condition(
        &mut status.conditions,
        Condition::new(
            SYNCED,
            synced_status,
            synced_reason,
            synced_message,
            generation,
            now,
        ),
    );
    status
}

fn set_schedule(status: &mut InstanceScheduleStatus, evaluation: &Evaluation) {
    status.wanted_state = Some(evaluation.wanted);
    status.next_transition_time = evaluation.next_transition.map(Time::new);
}

fn set_counts(status: &mut InstanceScheduleStatus, in_state: i32, total: i32) {
    status.instances_in_state = in_state;
    status.instances_total = total;
    status.in_state = Some(InstanceScheduleStatus::in_state_text(in_state, total));
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The freshest status known: Mithril's answer to a request sent now, else the listing's.
fn fresh_status(
    planned: &PlannedInstance,
    outcome: Option<&InstanceOutcome>,
) -> Option<InstanceStatus> {
    match outcome.map(|outcome| &outcome.result) {
        Some(PatchResult::Accepted(status)) => Some(status.clone()),
        _ => planned.status.clone(),
    }
}

fn scheduled_instance(
    planned: &PlannedInstance,
    outcome: Option<&InstanceOutcome>,
    previous: Option<&ScheduledInstance>,
    now: Time,
) -> ScheduledInstance {
    let previous_action = previous.and_then(|p| p.last_action.clone());
    let last_action = match outcome {
        None => previous_action,
        Some(outcome) => {
            let recorded = match &outcome.result {
                PatchResult::Accepted(status) => ActionOutcome::Accepted(status.clone()),
                PatchResult::Failed { failure, detail } => {
                    // Consecutive refusals of the same kind for the same action grow the backoff.
                    let streak = previous
                        .and_then(LastAction::of)
                        .filter(|last| last.action == outcome.action)
                        .and_then(|last| match last.outcome {
                            Some(ActionOutcome::Failed {
                                failure: before,
                                attempt,
                                ..
                            }) if before == *failure => Some(attempt),
                            _ => None,
                        })
                        .unwrap_or(0);
                    ActionOutcome::failed(*failure, streak.saturating_add(1), detail)
                }
            };
            Some(InstanceAction {
                action: outcome.action,
                time: now,
                outcome: Some(recorded.to_text()),
            })
        }
    };
    ScheduledInstance {
        fid: planned.fid.clone(),
        name: planned.name.clone(),
        reservation: planned.reservation.clone(),
        status: fresh_status(planned, outcome).map(|status| status.to_string()),
        last_action,
    }
}

fn wanted_word(wanted: WantedState) -> &'static str {
    match wanted {
        WantedState::Running => "running",
        WantedState::Paused => "paused",
    }
}

fn readiness(
    plan: &SchedulePlan,
    counted: &[(&PlannedInstance, Option<InstanceStatus>)],
    in_state: usize,
    outcomes: &PatchOutcomes,
) -> (ConditionStatus, Reason, String) {
    let total = counted.len();
    let word = wanted_word(plan.wanted);
    if total == 0 {
        return (
            ConditionStatus::False,
            Reason::NoInstances,
            "the selector matches no live instance".into(),
        );
    }
    if in_state == total {
        return (
            ConditionStatus::True,
            Reason::InState,
            format!("all {total} instances are {word}"),
        );
    }
    let target = target_status(plan.wanted);
    let behind: Vec<(&PlannedInstance, &Option<InstanceStatus>)> = counted
        .iter()
        .filter(|(_, status)| status.as_ref() != Some(&target))
        .map(|(planned, status)| (*planned, status))
        .collect();
    let on_the_way = |planned: &PlannedInstance| {
        let accepted = matches!(
            outcomes.get(&planned.fid).map(|outcome| &outcome.result),
            Some(PatchResult::Accepted(_))
        );
        accepted
            || matches!(
                planned.disposition,
                Disposition::Moving | Disposition::Wait(WaitReason::Settling)
            )
    };
    let reason = if plan.suspended {
        Reason::Suspended
    } else if behind.iter().all(|(planned, _)| on_the_way(planned)) {
        Reason::Transitioning
    } else {
        Reason::NotInState
    };
    let described: Vec<String> = behind
        .iter()
        .map(|(planned, status)| {
            let status = status
                .as_ref()
                .map_or_else(|| "not shown".to_owned(), ToString::to_string);
            format!("{} is {status}", planned.fid)
        })
        .collect();
    (
        ConditionStatus::False,
        reason,
        format!(
            "{in_state}/{total} instances are {word}; {}",
            listed(&described)
        ),
    )
}

/// Lower ranks first in the `Synced` condition: a conflict the user must fix before Mithril's
/// refusals, in [`PatchFailure::ALL`] order.
fn rank(reason: Reason) -> usize {
    match reason {
        Reason::Conflict => 0,
        reason => {
            1 + PatchFailure::ALL
                .iter()
                .position(|failure| failure.reason() == reason)
                .unwrap_or(PatchFailure::ALL.len())
        }
    }
}

/// What keeps the `items` from their wanted state, in words.
fn explain(reason: Reason, items: &[String]) -> String {
    let items = listed(items);
    match reason {
        Reason::Conflict => {
            format!("selected by other schedules too, so no schedule drives them: {items}")
        }
        Reason::SpotInstance => format!(
            "spot instances cannot be paused or resumed (Mithril schedules only reserved instances); remove them from the selector: {items}"
        ),
        Reason::InstanceNotFound => format!("instances Mithril does not know: {items}"),
        Reason::RequestRejected => format!("Mithril rejected the request: {items}"),
        Reason::StatusUnchanged => format!(
            "Mithril left them in their prior status (it cannot move them now), retrying later: {items}"
        ),
        Reason::MithrilUnavailable => format!("Mithril could not be reached: {items}"),
        Reason::NotReady => format!("not ready for the change yet, retrying: {items}"),
        reason => format!("{reason}: {items}"),
    }
}

/// What keeps Mithril from matching the schedule, by reason (ranked), with the instances concerned.
fn problems(
    plan: &SchedulePlan,
    outcomes: &PatchOutcomes,
) -> BTreeMap<(usize, Reason), Vec<String>> {
    let mut found: BTreeMap<(usize, Reason), Vec<String>> = BTreeMap::new();
    let mut add = |reason: Reason, item: String| {
        found.entry((rank(reason), reason)).or_default().push(item);
    };
    for planned in &plan.instances {
        let fid = planned.fid.clone();
        if let Some(InstanceOutcome {
            result: PatchResult::Failed { failure, .. },
            ..
        }) = outcomes.get(&planned.fid)
        {
            // The detail is in the instance's lastAction and the event; the message names only
            // the instance, so it stays the same while the refusal stands.
            add(failure.reason(), fid);
            continue;
        }
        match &planned.disposition {
            Disposition::Skip(SkipReason::Conflict { with }) => {
                let others: Vec<String> = with.iter().map(ToString::to_string).collect();
                add(
                    Reason::Conflict,
                    format!("{fid} (also {})", others.join(", ")),
                );
            }
            Disposition::Skip(SkipReason::SpotInstance) => {
                let item = match &planned.bid {
                    Some(bid) => format!("{fid} (bid {bid})"),
                    None => fid,
                };
                add(Reason::SpotInstance, item);
            }
            Disposition::Skip(SkipReason::NotFound) => {
                add(Reason::InstanceNotFound, fid);
            }
            Disposition::Wait(WaitReason::BackingOff { failure, .. }) => {
                add(failure.reason(), fid);
            }
            _ => {}
        }
    }
    found
}

fn sync(plan: &SchedulePlan, outcomes: &PatchOutcomes) -> (ConditionStatus, Reason, String) {
    let found = problems(plan, outcomes);
    let explained: Vec<String> = found
        .iter()
        .map(|((_, reason), items)| explain(*reason, items))
        .collect();
    if plan.suspended {
        let mut message = "spec.suspend is true: the instances are left as they are".to_owned();
        if !explained.is_empty() {
            message = format!("{message}; {}", explained.join("; "));
        }
        return (ConditionStatus::False, Reason::Suspended, message);
    }
    match found.keys().next() {
        Some((_, reason)) => (ConditionStatus::False, *reason, explained.join("; ")),
        None => (
            ConditionStatus::True,
            Reason::Synced,
            format!(
                "every selected instance is {} or on its way",
                wanted_word(plan.wanted)
            ),
        ),
    }
}

/// `a, b, c` or `a, b, ... and 7 more`.
fn listed(items: &[String]) -> String {
    let shown = items.iter().take(LISTED_FIDS).cloned().collect::<Vec<_>>();
    let mut text = shown.join(", ");
    if items.len() > LISTED_FIDS {
        text.push_str(&format!(" and {} more", items.len() - LISTED_FIDS));
    }
    text
}

fn note(text: String) -> Option<String> {
    Some(cut_note(&text))
}

fn verb(action: ScheduleAction) -> &'static str {
    match action {
        ScheduleAction::Pause => "pause",
        ScheduleAction::Resume => "resume",
    }
}

fn action_name(action: ScheduleAction) -> &'static str {
    match action {
        ScheduleAction::Pause => "Pause",
        ScheduleAction::Resume => "Resume",
    }
}

/// The events to publish for one reconcile: a `Normal` event for every pause and resume Mithril
/// accepted, a `Warning` for every kind of refusal, and one when the `Synced` or `Ready`
/// condition changes to something a user should hear about (a configuration problem, a
/// suspension, the instances reaching their state). Conditions that did not change publish
/// nothing, so a standing conflict does not repeat its warning on every reconcile.
pub fn events(
    previous: Option<&InstanceScheduleStatus>,
    status: &InstanceScheduleStatus,
    outcomes: &PatchOutcomes,
) -> Vec<Event> {
    let mut events = Vec::new();
    // Keyed by the action's name: one event per action, and per kind of refusal.
    let mut accepted: BTreeMap<&str, (ScheduleAction, Vec<String>)> = BTreeMap::new();
    type Refusals<'a> = (ScheduleAction, Vec<String>, BTreeSet<&'a str>);
    let mut refused: BTreeMap<(&str, PatchFailure), Refusals> = BTreeMap::new();
    for (fid, outcome) in outcomes {
        let name = action_name(outcome.action);
        match &outcome.result {
            PatchResult::Accepted(_) => accepted
                .entry(name)
                .or_insert_with(|| (outcome.action, Vec::new()))
                .1
                .push(fid.clone()),
            PatchResult::Failed { failure, detail } => {
                let (_, fids, details) = refused
                    .entry((name, *failure))
                    .or_insert_with(|| (outcome.action, Vec::new(), BTreeSet::new()));
                fids.push(fid.clone());
                details.insert(detail);
            }
        }
    }
    let until = status
        .next_transition_time
        .map(|time| format!(" until {time}"))
        .unwrap_or_default();
    for (action, fids) in accepted.into_values() {
        let (reason, verb) = match action {
            ScheduleAction::Pause => (Reason::Pausing, "pause"),
            ScheduleAction::Resume => (Reason::Resuming, "resume"),
        };
        events.push(Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: note(format!(
                "asked Mithril to {verb} {} instance(s){until}: {}",
                fids.len(),
                listed(&fids)
            )),
            action: action_name(action).into(),
            secondary: None,
        });
    }
    for ((_, failure), (action, fids, details)) in refused {
        let verb = match action {
            ScheduleAction::Pause => "pause",
            ScheduleAction::Resume => "resume",
        };
        let details: Vec<&str> = details.into_iter().collect();
        events.push(Event {
            type_: EventType::Warning,
            reason: failure.reason().into(),
            note: note(format!(
                "Mithril refused to {verb} {}: {}",
                listed(&fids),
                details.join("; ")
            )),
            action: action_name(action).into(),
            secondary: None,
        });
    }
    let condition_of = |status: Option<&InstanceScheduleStatus>, type_: &str| {
        status.and_then(|s| find_condition(&s.conditions, type_).cloned())
    };
    let synced = condition_of(Some(status), SYNCED);
    let synced_before = condition_of(previous, SYNCED);
    if let Some(synced) = synced
        && !synced.is_true()
        && synced_before.as_ref().is_none_or(|before| {
            before.status != synced.status
                || before.reason != synced.reason
                || before.message != synced.message
        })
    {
        // Refusals were reported above, from the outcomes; these need the user.
        let type_ = match Reason::parse(&synced.reason) {
            Some(Reason::Suspended) => Some(EventType::Normal),
            Some(reason) if reason.is_users_problem() || reason == Reason::InstanceNotFound => {
                Some(EventType::Warning)
            }
            _ => None,
        };
        if let Some(type_) = type_ {
            events.push(Event {
                type_,
                reason: synced.reason.clone(),
                note: note(synced.message.clone()),
                action: "Reconcile".into(),
                secondary: None,
            });
        }
    }
    let ready = condition_of(Some(status), READY);
    let was_ready = condition_of(previous, READY).is_some_and(|c| c.is_true());
    if let Some(ready) = ready
        && ready.is_true()
        && !was_ready
    {
        events.push(Event {
            type_: EventType::Normal,
            reason: ready.reason.clone(),
            note: note(ready.message.clone()),
            action: "Reconcile".into(),
            secondary: None,
        });
    }
    events
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
