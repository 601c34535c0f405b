use super::*;
use crate::controller::instance_schedule::conflicts::{Claim, Conflicts, ScheduleRef};
use crate::controller::instance_schedule::plan::{PlanInput, SpecError, plan};
use crate::controller::instance_schedule::windows::ScheduleError;
use crate::controller::test_support::reserved_instance;
use crate::crd::status_changed;
use jiff::Timestamp;
use mithril_api::endpoint::{LIST_INSTANCES, PATCH_INSTANCES};
use mithril_api::{ErrorDetail, Instance};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn time(second: i64) -> Time {
    Time::new(at(second))
}

/// A schedule's view of the world for one reconcile.
struct World {
    wanted: WantedState,
    suspend: bool,
    instances: Vec<Instance>,
    missing: Vec<String>,
    claimed_elsewhere: BTreeMap<String, Vec<ScheduleRef>>,
    now: Timestamp,
}

impl World {
    fn new(wanted: WantedState, instances: Vec<Instance>) -> Self {
        Self {
            wanted,
            suspend: false,
            instances,
            missing: Vec::new(),
            claimed_elsewhere: BTreeMap::new(),
            now: at(0),
        }
    }

    fn plan(&self, previous: Option<&InstanceScheduleStatus>) -> SchedulePlan {
        let selected: Vec<&Instance> = self.instances.iter().collect();
        let previous = previous.map(|p| p.instances.as_slice()).unwrap_or_default();
        plan(&PlanInput {
            evaluation: Evaluation {
                wanted: self.wanted,
                next_transition: Some(at(3600)),
            },
            suspend: self.suspend,
            instances: &selected,
            missing: &self.missing,
            claimed_elsewhere: &self.claimed_elsewhere,
            previous,
            observed_at: self.now,
            now: self.now,
        })
    }

    /// Plans and reports, with the given outcomes for what the plan sent.
    fn report(
        &self,
        previous: Option<&InstanceScheduleStatus>,
        outcomes: &PatchOutcomes,
    ) -> (SchedulePlan, InstanceScheduleStatus) {
        let plan = self.plan(previous);
        let status = status(
            previous,
            Assessment::Planned {
                plan: &plan,
                outcomes,
            },
            Some(3),
            Time::new(self.now),
        );
        (plan, status)
    }
}

fn condition<'a>(status: &'a InstanceScheduleStatus, type_: &str) -> &'a Condition {
    find_condition(&status.conditions, type_).unwrap()
}

fn instance<'a>(status: &'a InstanceScheduleStatus, fid: &str) -> &'a ScheduledInstance {
    status.instances.iter().find(|i| i.fid == fid).unwrap()
}

fn accepted(action: ScheduleAction, status: InstanceStatus) -> InstanceOutcome {
    InstanceOutcome {
        action,
        result: PatchResult::Accepted(status),
    }
}

fn refused(action: ScheduleAction, failure: PatchFailure, detail: &str) -> InstanceOutcome {
    InstanceOutcome {
        action,
        result: PatchResult::Failed {
            failure,
            detail: detail.into(),
        },
    }
}

fn message(text: &str) -> ErrorDetail {
    ErrorDetail::Message(text.into())
}

#[test]
fn an_accepted_batch_records_each_answered_status() {
    let action = Action::Pause(vec!["inst_a".into(), "inst_b".into()]);
    let response = PatchInstancesResponse {
        instances: BTreeMap::from([
            ("inst_a".into(), InstanceStatus::Stopping),
            ("inst_b".into(), InstanceStatus::Paused),
        ]),
    };
    let outcomes = batch_outcomes(&action, Ok(&response));
    assert_eq!(
        outcomes,
        BTreeMap::from([
            (
                "inst_a".to_owned(),
                accepted(ScheduleAction::Pause, InstanceStatus::Stopping)
            ),
            (
                "inst_b".to_owned(),
                accepted(ScheduleAction::Pause, InstanceStatus::Paused)
            ),
        ])
    );
}

#[test]
fn a_prior_status_answered_unchanged_is_a_refusal_that_backs_off_and_grows() {
    let mut world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
        ],
    );
    let action = Action::Pause(vec!["inst_a".into(), "inst_b".into()]);
    assert_eq!(world.plan(None).actions, std::slice::from_ref(&action));
    // Mithril stops inst_a; inst_b cannot be stopped and comes back RUNNING, unchanged.
    let response = PatchInstancesResponse {
        instances: BTreeMap::from([
            ("inst_a".into(), InstanceStatus::Stopping),
            ("inst_b".into(), InstanceStatus::Running),
        ]),
    };
    let outcomes = batch_outcomes(&action, Ok(&response));
    assert_eq!(
        outcomes["inst_a"],
        accepted(ScheduleAction::Pause, InstanceStatus::Stopping)
    );
    assert!(matches!(
        outcomes["inst_b"].result,
        PatchResult::Failed {
            failure: PatchFailure::Unchanged,
            ..
        }
    ));
    let (_, first) = world.report(None, &outcomes);
    let synced = condition(&first, SYNCED);
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "StatusUnchanged")
    );
    assert!(synced.message.ends_with(": inst_b"), "{}", synced.message);
    assert!(
        instance(&first, "inst_b")
            .last_action
            .as_ref()
            .and_then(|a| a.outcome.as_deref())
            .is_some_and(|o| o.starts_with("StatusUnchanged (attempt 1): ")),
        "{first:#?}"
    );
    // A Warning names the instance; no Normal event claims it is pausing.
    let published = events(None, &first, &outcomes);
    let warning = published
        .iter()
        .find(|e| e.reason == "StatusUnchanged")
        .expect("a warning");
    assert_eq!(warning.type_, EventType::Warning);
    let note = warning.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("inst_b") && !note.contains("inst_a"),
        "{note}"
    );
    let pausing = published.iter().find(|e| e.reason == "Pausing").unwrap();
    assert!(
        !pausing
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("inst_b")
    );

    // Not asked again on the next cycles, until the backoff is over.
    world.instances[0].status = InstanceStatus::Stopping;
    world.now = at(30);
    let plan = world.plan(Some(&first));
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(matches!(
        plan.instance("inst_b").unwrap().disposition,
        Disposition::Wait(WaitReason::BackingOff {
            failure: PatchFailure::Unchanged,
            ..
        })
    ));
    let first_wait = plan.requeue_at.unwrap();
    assert!(first_wait > at(30));
    // Refused again after it: the next wait is longer.
    world.now = at(60);
    let again = PatchOutcomes::from([("inst_b".to_owned(), outcomes["inst_b"].clone())]);
    let (plan, second) = world.report(Some(&first), &again);
    assert_eq!(plan.actions, [Action::Pause(vec!["inst_b".into()])]);
    assert!(
        instance(&second, "inst_b")
            .last_action
            .as_ref()
            .and_then(|a| a.outcome.as_deref())
            .is_some_and(|o| o.starts_with("StatusUnchanged (attempt 2): "))
    );
    world.now = at(61);
    let waiting = world.plan(Some(&second));
    let Disposition::Wait(WaitReason::BackingOff { until, .. }) =
        waiting.instance("inst_b").unwrap().disposition
    else {
        panic!("backing off")
    };
    assert!(
        at(60).duration_until(until) > at(0).duration_until(first_wait),
        "the backoff grows"
    );
}

#[test]
fn a_resume_answered_paused_is_a_refusal_too() {
    let action = Action::Resume(vec!["inst_a".into()]);
    let response = PatchInstancesResponse {
        instances: BTreeMap::from([("inst_a".into(), InstanceStatus::Paused)]),
    };
    assert!(matches!(
        batch_outcomes(&action, Ok(&response))["inst_a"].result,
        PatchResult::Failed {
            failure: PatchFailure::Unchanged,
            ..
        }
    ));
}

#[test]
fn a_refusal_naming_one_instance_is_charged_to_it_alone() {
    let action = Action::Resume(vec!["inst_a".into(), "inst_ab".into(), "inst_b".into()]);
    let error = MithrilError::Conflict {
        endpoint: PATCH_INSTANCES,
        detail: message("Instance inst_ab is not yet ready for this operation"),
    };
    let outcomes = batch_outcomes(&action, Err(&error));
    assert_eq!(
        outcomes,
        BTreeMap::from([(
            "inst_ab".to_owned(),
            refused(
                ScheduleAction::Resume,
                PatchFailure::NotReady,
                "Instance inst_ab is not yet ready for this operation"
            )
        )])
    );
}

#[test]
fn a_refusal_naming_no_single_instance_is_charged_to_the_whole_batch() {
    let action = Action::Pause(vec!["inst_a".into(), "inst_b".into()]);
    let error = MithrilError::Server {
        endpoint: PATCH_INSTANCES,
        status: 503,
        attempts: 3,
        detail: ErrorDetail::Empty,
    };
    let outcomes = batch_outcomes(&action, Err(&error));
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.values().all(|outcome| outcome.result
        == PatchResult::Failed {
            failure: PatchFailure::Unavailable,
            detail: "no detail given".into()
        }));
}

#[test]
fn every_documented_answer_maps_to_its_failure() {
    let detail = || message("x");
    let cases = [
        (
            MithrilError::Conflict {
                endpoint: PATCH_INSTANCES,
                detail: detail(),
            },
            PatchFailure::NotReady,
        ),
        (
            MithrilError::NotFound {
                endpoint: PATCH_INSTANCES,
                detail: detail(),
            },
            PatchFailure::NotFound,
        ),
        (
            MithrilError::NotImplemented {
                endpoint: PATCH_INSTANCES,
                detail: detail(),
            },
            PatchFailure::SpotInstance,
        ),
        (
            MithrilError::Validation {
                endpoint: PATCH_INSTANCES,
                detail: detail(),
            },
            PatchFailure::Rejected,
        ),
        (
            MithrilError::RateLimited {
                endpoint: PATCH_INSTANCES,
                attempts: 4,
                retry_after: None,
                detail: detail(),
            },
            PatchFailure::Unavailable,
        ),
    ];
    for (error, failure) in cases {
        assert_eq!(failure_of(&error), failure, "{error}");
    }
}

#[test]
fn status_shows_the_schedule_the_instances_and_the_counts() {
    let world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Paused),
            reserved_instance("inst_b", InstanceStatus::Paused),
            reserved_instance("inst_c", InstanceStatus::Paused),
            reserved_instance("inst_d", InstanceStatus::Stopping),
        ],
    );
    let (_, status) = world.report(None, &PatchOutcomes::new());
    assert_eq!(status.wanted_state, Some(WantedState::Paused));
    assert_eq!(status.next_transition_time, Some(time(3600)));
    assert_eq!(status.in_state.as_deref(), Some("3/4"));
    assert_eq!((status.instances_in_state, status.instances_total), (3, 4));
    assert_eq!(status.observed_generation, Some(3));
    let d = instance(&status, "inst_d");
    assert_eq!(d.status.as_deref(), Some("STATUS_STOPPING"));
    assert_eq!(d.name.as_deref(), Some("inst_d-name"));
    assert_eq!(d.reservation.as_deref(), Some("res_1"));
    assert_eq!(d.last_action, None);
    let ready = condition(&status, READY);
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (ConditionStatus::False, "Transitioning")
    );
    assert_eq!(
        ready.message,
        "3/4 instances are paused; inst_d is STATUS_STOPPING"
    );
    assert!(condition(&status, SYNCED).is_true());
}

#[test]
fn a_sent_pause_is_read_back_and_followed_to_paused() {
    let mut world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Paused),
        ],
    );
    let outcomes = PatchOutcomes::from([(
        "inst_a".to_owned(),
        accepted(ScheduleAction::Pause, InstanceStatus::Stopping),
    )]);
    let (plan, first) = world.report(None, &outcomes);
    assert_eq!(plan.actions, [Action::Pause(vec!["inst_a".into()])]);
    let a = instance(&first, "inst_a");
    assert_eq!(a.status.as_deref(), Some("STATUS_STOPPING"));
    assert_eq!(
        a.last_action,
        Some(InstanceAction {
            action: ScheduleAction::Pause,
            time: time(0),
            outcome: Some("STATUS_STOPPING".into()),
        })
    );
    assert_eq!(condition(&first, READY).reason, "Transitioning");
    assert_eq!(first.in_state.as_deref(), Some("1/2"));

    // A listing taken in the same second predates the request: nothing is sent again.
    world.instances[0].status = InstanceStatus::Running;
    let plan = world.plan(Some(&first));
    assert!(plan.actions.is_empty());

    // Later the instance is paused: ready, and the last action is kept.
    world.now = at(45);
    world.instances[0].status = InstanceStatus::Paused;
    let (plan, second) = world.report(Some(&first), &PatchOutcomes::new());
    assert!(plan.actions.is_empty());
    assert_eq!(condition(&second, READY).status, ConditionStatus::True);
    assert_eq!(
        condition(&second, READY).message,
        "all 2 instances are paused"
    );
    assert_eq!(
        instance(&second, "inst_a").last_action,
        instance(&first, "inst_a").last_action
    );
}

#[test]
fn consecutive_409s_count_up_and_back_the_instance_off() {
    let mut world = World::new(
        WantedState::Running,
        vec![
            reserved_instance("inst_a", InstanceStatus::Paused),
            reserved_instance("inst_b", InstanceStatus::Paused),
        ],
    );
    let not_ready = PatchOutcomes::from([(
        "inst_a".to_owned(),
        refused(
            ScheduleAction::Resume,
            PatchFailure::NotReady,
            "Instance inst_a is not yet ready for this operation",
        ),
    )]);
    let (_, first) = world.report(None, &not_ready);
    assert_eq!(
        instance(&first, "inst_a")
            .last_action
            .as_ref()
            .and_then(|a| a.outcome.as_deref()),
        Some("NotReady (attempt 1): Instance inst_a is not yet ready for this operation")
    );
    let synced = condition(&first, SYNCED);
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "NotReady")
    );
    assert_eq!(
        synced.message,
        "not ready for the change yet, retrying: inst_a"
    );
    // inst_b was not charged: it has no last action and is resumed on the next pass.
    assert_eq!(instance(&first, "inst_b").last_action, None);

    // Within the backoff: held back, still reported.
    world.now = at(5);
    let (plan, held) = world.report(Some(&first), &PatchOutcomes::new());
    assert_eq!(plan.actions, [Action::Resume(vec!["inst_b".into()])]);
    assert_eq!(condition(&held, SYNCED).reason, "NotReady");
    assert_eq!(condition(&held, SYNCED).message, synced.message);

    // After it: sent again, refused again, the count grows.
    world.now = at(15);
    let (plan, second) = world.report(Some(&held), &not_ready);
    assert!(plan.actions[0].fids().contains(&"inst_a".to_owned()));
    assert!(
        instance(&second, "inst_a")
            .last_action
            .as_ref()
            .and_then(|a| a.outcome.as_deref())
            .is_some_and(|o| o.starts_with("NotReady (attempt 2): "))
    );
    world.now = at(44);
    assert!(
        world.plan(Some(&second)).actions[0]
            .fids()
            .iter()
            .all(|fid| fid != "inst_a")
    );
    world.now = at(45);
    assert!(
        world.plan(Some(&second)).actions[0]
            .fids()
            .contains(&"inst_a".to_owned())
    );
}

#[test]
fn not_found_spot_and_rejected_answers_are_reported() {
    let world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
            reserved_instance("inst_c", InstanceStatus::Running),
        ],
    );
    let outcomes = PatchOutcomes::from([
        (
            "inst_a".to_owned(),
            refused(
                ScheduleAction::Pause,
                PatchFailure::NotFound,
                "Instance inst_a not found",
            ),
        ),
        (
            "inst_b".to_owned(),
            refused(
                ScheduleAction::Pause,
                PatchFailure::SpotInstance,
                "Instance inst_b belongs to a spot bid; spot bids are not yet supported",
            ),
        ),
        (
            "inst_c".to_owned(),
            refused(
                ScheduleAction::Pause,
                PatchFailure::Rejected,
                "body.instances: bad",
            ),
        ),
    ]);
    let (_, status) = world.report(None, &outcomes);
    let synced = condition(&status, SYNCED);
    // The configuration error ranks first; every problem is in the message.
    assert_eq!(synced.reason, "SpotInstance");
    assert_eq!(
        synced.message,
        "spot instances cannot be paused or resumed (Mithril schedules only reserved instances); \
         remove them from the selector: inst_b; instances Mithril does not know: inst_a; \
         Mithril rejected the request: inst_c"
    );
    // The 501 is never retried: the next plan skips it for good.
    let plan = world.plan(Some(&status));
    assert_eq!(
        plan.instance("inst_b").unwrap().disposition,
        Disposition::Skip(SkipReason::SpotInstance)
    );
    assert!(plan.actions.is_empty());
}

#[test]
fn a_named_instance_that_does_not_exist_is_listed_but_not_counted() {
    let mut world = World::new(
        WantedState::Running,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    world.missing = vec!["inst_z".into()];
    let (_, status) = world.report(None, &PatchOutcomes::new());
    assert_eq!(status.in_state.as_deref(), Some("1/1"));
    assert_eq!(instance(&status, "inst_z").status, None);
    assert!(condition(&status, READY).is_true());
    let synced = condition(&status, SYNCED);
    assert_eq!(synced.reason, "InstanceNotFound");
    assert_eq!(synced.message, "instances Mithril does not know: inst_z");
}

#[test]
fn a_conflict_is_reported_on_both_schedules_and_neither_acts() {
    let instances = vec![
        reserved_instance("inst_a", InstanceStatus::Running),
        reserved_instance("inst_b", InstanceStatus::Running),
    ];
    let nights = ScheduleRef::new("team-a", "nights");
    let weekends = ScheduleRef::new("team-b", "weekends");
    let conflicts = Conflicts::find(&[
        Claim {
            schedule: nights.clone(),
            created: at(-100),
            fids: ["inst_a".to_owned(), "inst_b".to_owned()].into(),
        },
        Claim {
            schedule: weekends.clone(),
            created: at(-50),
            fids: ["inst_b".to_owned()].into(),
        },
    ]);
    // Opposite wanted states: the contested instance would flap if either acted on it.
    for (me, wanted, other) in [
        (&nights, WantedState::Paused, &weekends),
        (&weekends, WantedState::Running, &nights),
    ] {
        let mut world = World::new(wanted, instances.clone());
        world.claimed_elsewhere = conflicts.claimed_elsewhere(me);
        let (plan, status) = world.report(None, &PatchOutcomes::new());
        assert!(
            plan.actions
                .iter()
                .all(|a| !a.fids().contains(&"inst_b".to_owned())),
            "{me}"
        );
        let synced = condition(&status, SYNCED);
        assert_eq!(synced.reason, "Conflict");
        assert_eq!(
            synced.message,
            format!(
                "selected by other schedules too, so no schedule drives them: inst_b (also {other})"
            )
        );
    }
}

#[test]
fn suspended_schedules_say_so() {
    let mut world = World::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    world.suspend = true;
    let (plan, status) = world.report(None, &PatchOutcomes::new());
    assert!(plan.actions.is_empty());
    assert_eq!(status.wanted_state, Some(WantedState::Paused));
    let synced = condition(&status, SYNCED);
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "Suspended")
    );
    assert_eq!(condition(&status, READY).reason, "Suspended");
    assert_eq!(status.in_state.as_deref(), Some("0/1"));
}

#[test]
fn an_invalid_spec_is_reported_and_the_instances_kept_as_last_seen() {
    let world = World::new(
        WantedState::Running,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    let (_, before) = world.report(None, &PatchOutcomes::new());
    let error = SpecError::from(ScheduleError::UnknownTimeZone {
        name: "Mars/Olympus".into(),
    });
    let status = status(
        Some(&before),
        Assessment::InvalidSpec(&error.into()),
        Some(4),
        time(60),
    );
    assert_eq!(status.wanted_state, None);
    assert_eq!(status.next_transition_time, None);
    assert_eq!(status.instances, before.instances);
    assert_eq!(status.observed_generation, Some(4));
    for type_ in [READY, SYNCED] {
        let c = condition(&status, type_);
        assert_eq!(
            (c.status, c.reason.as_str(), c.message.as_str()),
            (
                ConditionStatus::False,
                "InvalidSpec",
                "spec.timeZone: unknown time zone \"Mars/Olympus\""
            )
        );
        assert_eq!(c.last_transition_time, time(60));
    }
}

#[test]
fn when_mithril_cannot_be_listed_the_last_observation_stays() {
    let world = World::new(
        WantedState::Running,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Paused),
        ],
    );
    let (_, before) = world.report(None, &PatchOutcomes::new());
    assert_eq!(before.in_state.as_deref(), Some("1/2"));
    let error = MithrilError::Server {
        endpoint: LIST_INSTANCES,
        status: 502,
        attempts: 3,
        detail: ErrorDetail::Empty,
    }
    .to_string();
    let status = status(
        Some(&before),
        Assessment::Unavailable {
            evaluation: Evaluation {
                wanted: WantedState::Paused,
                next_transition: Some(at(7200)),
            },
            error: &error,
        },
        Some(3),
        time(60),
    );
    assert_eq!(status.instances, before.instances);
    // The wanted state moved on; what is in state follows it.
    assert_eq!(status.wanted_state, Some(WantedState::Paused));
    assert_eq!(status.in_state.as_deref(), Some("1/2"));
    assert_eq!(condition(&status, READY).status, ConditionStatus::Unknown);
    let synced = condition(&status, SYNCED);
    assert_eq!(synced.reason, "MithrilUnavailable");
    assert!(synced.message.contains("HTTP 502"), "{}", synced.message);
}

#[test]
fn nothing_selected_is_not_ready() {
    let world = World::new(WantedState::Paused, Vec::new());
    let (_, status) = world.report(None, &PatchOutcomes::new());
    assert_eq!(status.in_state.as_deref(), Some("0/0"));
    assert_eq!(condition(&status, READY).reason, "NoInstances");
    assert!(condition(&status, SYNCED).is_true());
}

#[test]
fn an_unchanged_observation_rebuilds_an_equal_status() {
    let mut world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Paused),
            reserved_instance("inst_b", InstanceStatus::Stopping),
        ],
    );
    world.claimed_elsewhere = BTreeMap::from([(
        "inst_b".to_owned(),
        vec![ScheduleRef::new("other", "schedule")],
    )]);
    let (_, first) = world.report(None, &PatchOutcomes::new());
    world.now = at(300);
    let (_, again) = world.report(Some(&first), &PatchOutcomes::new());
    assert_eq!(again, first);
    assert!(!status_changed(Some(&first), &again));

    // A change in what is observed is a change.
    world.instances[1].status = InstanceStatus::Paused;
    let (_, changed) = world.report(Some(&again), &PatchOutcomes::new());
    assert!(status_changed(Some(&again), &changed));
}

#[test]
fn events_tell_of_every_pause_and_resume_and_every_refusal() {
    let world = World::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
            reserved_instance("inst_c", InstanceStatus::Running),
        ],
    );
    let outcomes = PatchOutcomes::from([
        (
            "inst_a".to_owned(),
            accepted(ScheduleAction::Pause, InstanceStatus::Stopping),
        ),
        (
            "inst_b".to_owned(),
            accepted(ScheduleAction::Pause, InstanceStatus::Stopping),
        ),
        (
            "inst_c".to_owned(),
            refused(
                ScheduleAction::Pause,
                PatchFailure::NotReady,
                "Instance inst_c is busy",
            ),
        ),
    ]);
    let (_, status) = world.report(None, &outcomes);
    let events = events(None, &status, &outcomes);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].type_, EventType::Normal);
    assert_eq!(events[0].reason, "Pausing");
    assert_eq!(events[0].action, "Pause");
    assert_eq!(
        events[0].note.as_deref(),
        Some("asked Mithril to pause 2 instance(s) until 2027-01-15T09:00:00Z: inst_a, inst_b")
    );
    assert_eq!(events[1].type_, EventType::Warning);
    assert_eq!(events[1].reason, "NotReady");
    assert_eq!(
        events[1].note.as_deref(),
        Some("Mithril refused to pause inst_c: Instance inst_c is busy")
    );
}

#[test]
fn standing_problems_warn_once_and_reaching_the_state_is_announced() {
    let mut world = World::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Paused)],
    );
    world.missing = vec!["inst_z".into()];
    let none = PatchOutcomes::new();
    let (_, first) = world.report(None, &none);
    let first_events = events(None, &first, &none);
    let reasons: Vec<(&str, EventType)> = first_events
        .iter()
        .map(|e| (e.reason.as_str(), e.type_))
        .collect();
    assert_eq!(
        reasons,
        [
            ("InstanceNotFound", EventType::Warning),
            ("InState", EventType::Normal)
        ]
    );
    world.now = at(60);
    let (_, second) = world.report(Some(&first), &none);
    assert!(events(Some(&first), &second, &none).is_empty());
}

#[test]
fn long_event_notes_are_cut_to_what_kubernetes_accepts() {
    let fids: Vec<String> = (0..300).map(|i| format!("inst_{i:03}")).collect();
    let detail = "x".repeat(2000);
    let outcomes: PatchOutcomes = fids
        .iter()
        .map(|fid| {
            (
                fid.clone(),
                refused(ScheduleAction::Resume, PatchFailure::Rejected, &detail),
            )
        })
        .collect();
    let events = events(None, &InstanceScheduleStatus::default(), &outcomes);
    let note = events[0].note.as_deref().unwrap();
    assert!(note.len() <= 1024);
    assert!(note.starts_with(
        "Mithril refused to resume inst_000, inst_001, inst_002, inst_003, inst_004, inst_005, \
         inst_006, inst_007, inst_008, inst_009 and 290 more: xxx"
    ));
    assert!(note.ends_with("..."));
}

#[test]
fn suspending_and_an_invalid_spec_are_announced_once() {
    let mut world = World::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    let none = PatchOutcomes::new();
    let (_, active) = world.report(None, &none);
    world.suspend = true;
    let (_, suspended) = world.report(Some(&active), &none);
    let announced = events(Some(&active), &suspended, &none);
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (announced[0].reason.as_str(), announced[0].type_),
        ("Suspended", EventType::Normal)
    );
    assert!(events(Some(&suspended), &suspended, &none).is_empty());

    let error = SpecError::Unresolved {
        field: "spec.project".into(),
        reason: "no project named \"ml-team\"".into(),
    };
    let invalid = status(
        Some(&suspended),
        Assessment::InvalidSpec(&error.into()),
        Some(4),
        time(60),
    );
    let announced = events(Some(&suspended), &invalid, &none);
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (announced[0].reason.as_str(), announced[0].type_),
        ("InvalidSpec", EventType::Warning)
    );
    assert_eq!(
        announced[0].note.as_deref(),
        Some("spec.project: no project named \"ml-team\"")
    );
}
