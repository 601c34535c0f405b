use super::*;
use crate::controller::instance_schedule::windows::wanted_state;
use crate::controller::test_support::{reserved_instance, spot_instance};
use crate::crd::{InstanceAction, ScheduleWindow};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn last_action(
    fid: &str,
    action: ScheduleAction,
    time: Timestamp,
    outcome: &str,
) -> ScheduledInstance {
    ScheduledInstance {
        fid: fid.into(),
        name: Some(format!("{fid}-name")),
        reservation: Some("res_1".into()),
        status: None,
        last_action: Some(InstanceAction {
            action,
            time: Time::new(time),
            outcome: Some(outcome.into()),
        }),
    }
}

/// Owns everything a [`PlanInput`] borrows.
struct Fixture {
    wanted: WantedState,
    next_transition: Option<Timestamp>,
    suspend: bool,
    instances: Vec<Instance>,
    missing: Vec<String>,
    claimed_elsewhere: BTreeMap<String, Vec<ScheduleRef>>,
    previous: Vec<ScheduledInstance>,
    observed_at: Timestamp,
    now: Timestamp,
}

impl Fixture {
    fn new(wanted: WantedState, instances: Vec<Instance>) -> Self {
        Self {
            wanted,
            next_transition: Some(at(3600)),
            suspend: false,
            instances,
            missing: Vec::new(),
            claimed_elsewhere: BTreeMap::new(),
            previous: Vec::new(),
            observed_at: at(0),
            now: at(0),
        }
    }

    fn plan_with(&self, settings: &PlanSettings) -> SchedulePlan {
        let selected: Vec<&Instance> = self.instances.iter().collect();
        let input = PlanInput {
            evaluation: Evaluation {
                wanted: self.wanted,
                next_transition: self.next_transition,
            },
            suspend: self.suspend,
            instances: &selected,
            missing: &self.missing,
            claimed_elsewhere: &self.claimed_elsewhere,
            previous: &self.previous,
            observed_at: self.observed_at,
            now: self.now,
        };
        plan_with(&input, settings)
    }

    fn plan(&self) -> SchedulePlan {
        self.plan_with(&PlanSettings::default())
    }
}

fn disposition(plan: &SchedulePlan, fid: &str) -> Disposition {
    plan.instance(fid).unwrap().disposition.clone()
}

fn fids(list: &[&str]) -> Vec<String> {
    list.iter().map(|fid| (*fid).to_owned()).collect()
}

const ALL_STATUSES: [InstanceStatus; 13] = [
    InstanceStatus::New,
    InstanceStatus::Confirmed,
    InstanceStatus::Initializing,
    InstanceStatus::Starting,
    InstanceStatus::Running,
    InstanceStatus::Stopping,
    InstanceStatus::Terminated,
    InstanceStatus::Relocating,
    InstanceStatus::Preempting,
    InstanceStatus::Preempted,
    InstanceStatus::Replaced,
    InstanceStatus::Paused,
    InstanceStatus::Error,
];

fn expected(wanted: WantedState, status: &InstanceStatus) -> Disposition {
    use Disposition::*;
    use InstanceStatus as S;
    match (wanted, status) {
        (_, S::Terminated | S::Replaced | S::Preempted | S::Preempting) => Skip(SkipReason::Gone),
        (_, S::Error) => Skip(SkipReason::Failed),
        (WantedState::Paused, S::Paused) | (WantedState::Running, S::Running) => InState,
        (WantedState::Paused, S::Stopping) => Moving,
        (WantedState::Paused, S::Running) => Act(ScheduleAction::Pause),
        (WantedState::Paused, _) => Wait(WaitReason::Settling),
        (WantedState::Running, S::Paused) => Act(ScheduleAction::Resume),
        (WantedState::Running, S::Stopping) => Wait(WaitReason::Settling),
        (WantedState::Running, _) => Moving,
    }
}

#[test]
fn every_status_is_read_as_the_table_says_for_both_wanted_states() {
    for wanted in [WantedState::Paused, WantedState::Running] {
        let instances: Vec<Instance> = ALL_STATUSES
            .iter()
            .enumerate()
            .map(|(i, status)| reserved_instance(&format!("inst_{i:02}"), status.clone()))
            .collect();
        let plan = Fixture::new(wanted, instances.clone()).plan();
        assert_eq!(plan.instances.len(), ALL_STATUSES.len());
        for instance in &instances {
            assert_eq!(
                disposition(&plan, &instance.fid),
                expected(wanted, &instance.status),
                "{wanted:?} with {}",
                instance.status
            );
        }
    }
}

#[test]
fn an_unknown_status_is_never_acted_on() {
    let instances = vec![reserved_instance(
        "inst_a",
        InstanceStatus::Unknown("STATUS_HIBERNATING".into()),
    )];
    for wanted in [WantedState::Paused, WantedState::Running] {
        let plan = Fixture::new(wanted, instances.clone()).plan();
        assert_eq!(
            disposition(&plan, "inst_a"),
            Disposition::Skip(SkipReason::UnknownStatus)
        );
        assert!(plan.actions.is_empty());
    }
}

#[test]
fn pause_sends_only_running_reserved_instances_in_one_sorted_batch() {
    let plan = Fixture::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_c", InstanceStatus::Running),
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Paused),
            reserved_instance("inst_d", InstanceStatus::Stopping),
            reserved_instance("inst_e", InstanceStatus::Starting),
        ],
    )
    .plan();
    assert_eq!(plan.actions, [Action::Pause(fids(&["inst_a", "inst_c"]))]);
    let request = plan.actions[0].request();
    assert_eq!(request.status, InstanceTargetStatus::Paused);
    assert_eq!(
        request.instances.into_iter().collect::<Vec<_>>(),
        fids(&["inst_a", "inst_c"])
    );
}

#[test]
fn resume_sends_only_paused_instances() {
    let plan = Fixture::new(
        WantedState::Running,
        vec![
            reserved_instance("inst_a", InstanceStatus::Paused),
            reserved_instance("inst_b", InstanceStatus::Running),
            reserved_instance("inst_c", InstanceStatus::Confirmed),
            reserved_instance("inst_d", InstanceStatus::Stopping),
        ],
    )
    .plan();
    assert_eq!(plan.actions, [Action::Resume(fids(&["inst_a"]))]);
    assert_eq!(plan.actions[0].kind(), ScheduleAction::Resume);
    assert_eq!(
        plan.actions[0].request().status,
        InstanceTargetStatus::Running
    );
}

#[test]
fn large_sets_are_split_into_batches() {
    let instances: Vec<Instance> = (0..250)
        .map(|i| reserved_instance(&format!("inst_{i:03}"), InstanceStatus::Running))
        .collect();
    let plan = Fixture::new(WantedState::Paused, instances).plan();
    let sizes: Vec<usize> = plan.actions.iter().map(|a| a.fids().len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(plan.actions[0].fids()[0], "inst_000");
    assert_eq!(plan.actions[2].fids()[49], "inst_249");
    let all: Vec<&String> = plan.actions.iter().flat_map(|a| a.fids()).collect();
    assert_eq!(all.len(), 250);

    let small = PlanSettings {
        max_batch: 2,
        ..PlanSettings::default()
    };
    let plan = Fixture::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
            reserved_instance("inst_c", InstanceStatus::Running),
        ],
    )
    .plan_with(&small);
    assert_eq!(
        plan.actions,
        [
            Action::Pause(fids(&["inst_a", "inst_b"])),
            Action::Pause(fids(&["inst_c"]))
        ]
    );
}

#[test]
fn spot_instances_are_a_configuration_error_and_never_sent() {
    let plan = Fixture::new(
        WantedState::Paused,
        vec![
            spot_instance("inst_s", InstanceStatus::Running),
            reserved_instance("inst_r", InstanceStatus::Running),
        ],
    )
    .plan();
    assert_eq!(
        disposition(&plan, "inst_s"),
        Disposition::Skip(SkipReason::SpotInstance)
    );
    assert_eq!(plan.actions, [Action::Pause(fids(&["inst_r"]))]);
    assert_eq!(
        plan.instance("inst_s").unwrap().bid.as_deref(),
        Some("bid_1")
    );
}

#[test]
fn an_instance_mithril_called_spot_is_not_asked_again() {
    // The listing did not say it was spot, but Mithril answered 501: no retry storm.
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(-7 * 24 * 3600),
        "SpotInstance (attempt 1): Instance inst_a belongs to a spot bid",
    )];
    let plan = fixture.plan();
    assert_eq!(
        disposition(&plan, "inst_a"),
        Disposition::Skip(SkipReason::SpotInstance)
    );
    assert!(plan.actions.is_empty());
}

#[test]
fn a_501_that_named_no_single_instance_only_backs_the_batch_off() {
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(0),
        "SpotInstance (attempt 1): spot bids are not yet supported",
    )];
    fixture.now = at(299);
    assert_eq!(
        disposition(&fixture.plan(), "inst_a"),
        Disposition::Wait(WaitReason::BackingOff {
            failure: PatchFailure::SpotInstance,
            until: at(300),
        })
    );
    fixture.now = at(300);
    assert_eq!(fixture.plan().actions, [Action::Pause(fids(&["inst_a"]))]);
}

#[test]
fn mentions_matches_whole_fids_only() {
    assert!(mentions("Instance inst_a not found", "inst_a"));
    assert!(mentions("inst_a", "inst_a"));
    assert!(!mentions("Instance inst_ab not found", "inst_a"));
    assert!(!mentions("Instance xinst_a not found", "inst_a"));
}

#[test]
fn instances_claimed_by_other_schedules_are_left_alone() {
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
        ],
    );
    let other = ScheduleRef::new("team-b", "weekends");
    fixture
        .claimed_elsewhere
        .insert("inst_a".into(), vec![other.clone()]);
    let plan = fixture.plan();
    assert_eq!(
        disposition(&plan, "inst_a"),
        Disposition::Skip(SkipReason::Conflict { with: vec![other] })
    );
    assert_eq!(plan.actions, [Action::Pause(fids(&["inst_b"]))]);
}

#[test]
fn named_instances_mithril_does_not_show_are_reported_not_found() {
    let mut fixture = Fixture::new(
        WantedState::Running,
        vec![reserved_instance("inst_b", InstanceStatus::Running)],
    );
    fixture.missing = fids(&["inst_a"]);
    fixture.previous = vec![ScheduledInstance {
        fid: "inst_a".into(),
        name: Some("old-name".into()),
        reservation: Some("res_0".into()),
        status: Some("STATUS_RUNNING".into()),
        last_action: None,
    }];
    let plan = fixture.plan();
    let missing = plan.instance("inst_a").unwrap();
    assert_eq!(missing.disposition, Disposition::Skip(SkipReason::NotFound));
    assert_eq!(missing.status, None);
    assert_eq!(missing.name.as_deref(), Some("old-name"));
    assert!(!missing.counts());
    assert!(plan.instance("inst_b").unwrap().counts());
    assert_eq!(
        plan.instances
            .iter()
            .map(|i| i.fid.as_str())
            .collect::<Vec<_>>(),
        ["inst_a", "inst_b"]
    );
    assert_eq!(plan.skipped().count(), 1);
}

#[test]
fn suspend_sends_nothing_and_waits_for_the_next_transition_only() {
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Stopping),
            spot_instance("inst_s", InstanceStatus::Running),
        ],
    );
    fixture.suspend = true;
    let plan = fixture.plan();
    assert!(plan.suspended);
    assert!(plan.actions.is_empty());
    assert_eq!(
        disposition(&plan, "inst_a"),
        Disposition::Wait(WaitReason::Suspended)
    );
    // What the instances are is still reported.
    assert_eq!(disposition(&plan, "inst_b"), Disposition::Moving);
    assert_eq!(
        disposition(&plan, "inst_s"),
        Disposition::Skip(SkipReason::SpotInstance)
    );
    assert_eq!(plan.requeue_at, Some(at(3600)));
}

#[test]
fn after_409_the_instance_backs_off_exponentially() {
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Running),
        ],
    );
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(0),
        "NotReady (attempt 1): Instance inst_a is not yet ready for this operation",
    )];
    fixture.now = at(10);
    fixture.observed_at = at(5);
    let plan = fixture.plan();
    assert_eq!(
        disposition(&plan, "inst_a"),
        Disposition::Wait(WaitReason::BackingOff {
            failure: PatchFailure::NotReady,
            until: at(15),
        })
    );
    // The others are not held back by it.
    assert_eq!(plan.actions, [Action::Pause(fids(&["inst_b"]))]);
    assert_eq!(plan.requeue_at, Some(at(15)));

    fixture.now = at(15);
    assert_eq!(
        disposition(&fixture.plan(), "inst_a"),
        Disposition::Act(ScheduleAction::Pause)
    );

    // The third refusal in a row waits 15s * 2^2.
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(0),
        "NotReady (attempt 3): busy",
    )];
    fixture.now = at(59);
    assert_eq!(
        disposition(&fixture.plan(), "inst_a"),
        Disposition::Wait(WaitReason::BackingOff {
            failure: PatchFailure::NotReady,
            until: at(60),
        })
    );
    fixture.now = at(60);
    assert_eq!(
        disposition(&fixture.plan(), "inst_a"),
        Disposition::Act(ScheduleAction::Pause)
    );
}

#[test]
fn each_failure_kind_has_its_own_backoff() {
    let settings = PlanSettings::default();
    for (outcome, failure, delay) in [
        (
            "InstanceNotFound (attempt 1): gone",
            PatchFailure::NotFound,
            60,
        ),
        (
            "RequestRejected (attempt 2): bad",
            PatchFailure::Rejected,
            600,
        ),
        (
            "MithrilUnavailable (attempt 1): 503",
            PatchFailure::Unavailable,
            10,
        ),
    ] {
        let mut fixture = Fixture::new(
            WantedState::Running,
            vec![reserved_instance("inst_a", InstanceStatus::Paused)],
        );
        fixture.previous = vec![last_action(
            "inst_a",
            ScheduleAction::Resume,
            at(0),
            outcome,
        )];
        fixture.now = at(delay - 1);
        assert_eq!(
            disposition(&fixture.plan_with(&settings), "inst_a"),
            Disposition::Wait(WaitReason::BackingOff {
                failure,
                until: at(delay)
            }),
            "{outcome}"
        );
        fixture.now = at(delay);
        assert_eq!(
            disposition(&fixture.plan_with(&settings), "inst_a"),
            Disposition::Act(ScheduleAction::Resume),
            "{outcome}"
        );
    }
}

#[test]
fn a_refusal_of_the_other_action_does_not_hold_this_one_back() {
    let mut fixture = Fixture::new(
        WantedState::Running,
        vec![reserved_instance("inst_a", InstanceStatus::Paused)],
    );
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(0),
        "NotReady (attempt 4): busy",
    )];
    fixture.now = at(1);
    assert_eq!(
        disposition(&fixture.plan(), "inst_a"),
        Disposition::Act(ScheduleAction::Resume)
    );
}

#[test]
fn an_accepted_request_newer_than_the_listing_is_not_sent_again() {
    let mut fixture = Fixture::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    fixture.previous = vec![last_action(
        "inst_a",
        ScheduleAction::Pause,
        at(100),
        "STATUS_STOPPING",
    )];
    fixture.observed_at = at(90);
    fixture.now = at(101);
    let plan = fixture.plan();
    assert_eq!(disposition(&plan, "inst_a"), Disposition::Moving);
    assert!(plan.actions.is_empty());
    // Followed until it settles.
    assert_eq!(plan.requeue_at, Some(at(131)));

    // A listing taken after the request that still shows it running: the pause did not take.
    fixture.observed_at = at(200);
    fixture.now = at(200);
    assert_eq!(fixture.plan().actions, [Action::Pause(fids(&["inst_a"]))]);
}

#[test]
fn requeue_is_the_next_transition_when_everything_is_settled() {
    let fixture = Fixture::new(
        WantedState::Paused,
        vec![reserved_instance("inst_a", InstanceStatus::Paused)],
    );
    assert_eq!(fixture.plan().requeue_at, Some(at(3600)));

    let mut always_on = Fixture::new(
        WantedState::Running,
        vec![reserved_instance("inst_a", InstanceStatus::Running)],
    );
    always_on.next_transition = None;
    assert_eq!(always_on.plan().requeue_at, None);
}

#[test]
fn instances_between_states_are_rechecked_but_never_past_the_transition() {
    let mut fixture = Fixture::new(
        WantedState::Running,
        vec![reserved_instance("inst_a", InstanceStatus::Stopping)],
    );
    assert_eq!(fixture.plan().requeue_at, Some(at(30)));
    fixture.next_transition = Some(at(20));
    assert_eq!(fixture.plan().requeue_at, Some(at(20)));
}

#[test]
fn a_gap_shorter_than_the_minimum_pause_keeps_the_instances_running() {
    let window = |start: &str, end: &str| ScheduleWindow {
        start: Some(start.into()),
        end: Some(end.into()),
        ..Default::default()
    };
    let windows = [window("09:00", "12:00"), window("12:30", "17:00")];
    let lunch: Timestamp = "2026-11-24T12:15:00Z".parse().unwrap();
    let evaluation = wanted_state(&windows, "UTC", "1h", lunch).unwrap();
    assert_eq!(evaluation.wanted, WantedState::Running);

    let mut fixture = Fixture::new(
        evaluation.wanted,
        vec![
            reserved_instance("inst_a", InstanceStatus::Running),
            reserved_instance("inst_b", InstanceStatus::Paused),
        ],
    );
    fixture.next_transition = evaluation.next_transition;
    fixture.now = lunch;
    fixture.observed_at = lunch;
    let plan = fixture.plan();
    assert_eq!(disposition(&plan, "inst_a"), Disposition::InState);
    assert_eq!(plan.actions, [Action::Resume(fids(&["inst_b"]))]);
    assert_eq!(
        plan.next_transition,
        Some("2026-11-24T17:00:00Z".parse().unwrap())
    );
}

#[test]
fn outcomes_read_back_what_they_wrote() {
    let accepted = ActionOutcome::Accepted(InstanceStatus::Stopping);
    assert_eq!(accepted.to_text(), "STATUS_STOPPING");
    assert_eq!(ActionOutcome::parse("STATUS_STOPPING"), Some(accepted));

    let failed = ActionOutcome::failed(
        PatchFailure::NotReady,
        2,
        "Instance inst_a: not ready (yet)",
    );
    let text = failed.to_text();
    assert_eq!(
        text,
        "NotReady (attempt 2): Instance inst_a: not ready (yet)"
    );
    assert_eq!(ActionOutcome::parse(&text), Some(failed));

    for failure in PatchFailure::ALL {
        let outcome = ActionOutcome::failed(failure, 1, "x");
        assert_eq!(ActionOutcome::parse(&outcome.to_text()), Some(outcome));
    }
    assert_eq!(ActionOutcome::parse("something else"), None);
    assert_eq!(ActionOutcome::parse("Bogus (attempt 1): x"), None);
    assert_eq!(ActionOutcome::parse("NotReady (attempt many): x"), None);
}

#[test]
fn long_details_are_shortened_and_attempts_start_at_one() {
    let long = "é".repeat(1000);
    let ActionOutcome::Failed {
        detail, attempt, ..
    } = ActionOutcome::failed(PatchFailure::Rejected, 0, &long)
    else {
        panic!("expected a failure")
    };
    assert_eq!(attempt, 1);
    assert_eq!(detail.chars().count(), 243);
    assert!(detail.ends_with("..."));
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let backoff = Backoff {
        base: SignedDuration::from_secs(15),
        max: SignedDuration::from_mins(5),
    };
    let delays: Vec<i64> = (1..=7).map(|n| backoff.delay(n).as_secs()).collect();
    assert_eq!(delays, [15, 30, 60, 120, 240, 300, 300]);
    assert_eq!(backoff.delay(0).as_secs(), 15);
    assert_eq!(backoff.delay(u32::MAX).as_secs(), 300);
    let settings = PlanSettings::default();
    assert_eq!(
        settings.backoff(PatchFailure::SpotInstance),
        settings.backoff(PatchFailure::Rejected)
    );
}

#[test]
fn spec_errors_name_the_field() {
    let error = SpecError::from(ScheduleError::UnknownTimeZone {
        name: "Mars/Olympus".into(),
    });
    assert_eq!(
        error.to_string(),
        "spec.timeZone: unknown time zone \"Mars/Olympus\""
    );
    let error = SpecError::from(SelectorError::Empty);
    assert!(error.to_string().starts_with("selector must name"));
}
