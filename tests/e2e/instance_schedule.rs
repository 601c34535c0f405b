//! InstanceSchedule end to end: the real kube client and controller against the Kubernetes API
//! emulator and the Mithril simulator (reservation `demo-reserved`: two RUNNING a100 instances),
//! with the simulator's clock moved by the test and the windows evaluated against it. A real API
//! server takes the emulator's place with `MITHRIL_TEST_KUBE=real` (tests/support/harness/real.rs).

use crate::support::harness::real::skip_on_real_server;
use crate::support::harness::schedule::ScheduleHarness;
use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use mithril_api::{InstanceStatus, InstanceTargetStatus, PatchInstancesRequest};
use mithril_operator::controller::ControllerConfig;
use mithril_operator::crd::{
    ConditionStatus, InstanceSchedule, InstanceScheduleStatus, READY, SYNCED, ScheduleAction,
    ScheduledInstance, SpotBid, WantedState, find_condition,
};
use mithril_sim::FaultSpec;
use serde_json::json;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn at(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 instant")
}

fn manifest(name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut full = json!({ "project": "demo", "timeZone": "UTC" });
    if let (Some(full), Some(spec)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(spec.clone());
    }
    json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "InstanceSchedule",
        "metadata": {"name": name},
        "spec": full,
    })
}

/// Office hours, every day, in UTC.
fn office_hours(selector: serde_json::Value) -> serde_json::Value {
    json!({
        "selector": selector,
        "windows": [{"start": "08:00", "end": "18:00"}],
    })
}

fn condition_is(
    status: &InstanceScheduleStatus,
    type_: &str,
    value: ConditionStatus,
    reason: &str,
) -> bool {
    find_condition(&status.conditions, type_)
        .is_some_and(|c| c.status == value && c.reason == reason)
}

fn instance<'a>(status: &'a InstanceScheduleStatus, fid: &str) -> Option<&'a ScheduledInstance> {
    status.instances.iter().find(|instance| instance.fid == fid)
}

/// Whether Mithril accepted `action` on `fid` at `time`, by the instance's last action.
fn acted(
    status: &InstanceScheduleStatus,
    fid: &str,
    action: ScheduleAction,
    time: Timestamp,
) -> bool {
    instance(status, fid)
        .and_then(|instance| instance.last_action.as_ref())
        .is_some_and(|last| {
            last.action == action
                && last.time.timestamp() == time
                && last
                    .outcome
                    .as_deref()
                    .is_some_and(|o| o.starts_with("STATUS_"))
        })
}

fn outcome(status: &InstanceScheduleStatus, fid: &str) -> String {
    instance(status, fid)
        .and_then(|instance| instance.last_action.as_ref())
        .and_then(|last| last.outcome.clone())
        .unwrap_or_default()
}

fn all_in_state(status: &InstanceScheduleStatus, wanted: WantedState) -> bool {
    status.wanted_state == Some(wanted)
        && condition_is(status, READY, ConditionStatus::True, "InState")
        && condition_is(status, SYNCED, ConditionStatus::True, "Synced")
}

/// Creates `name` at the simulator's current instant, wanted paused, and waits until both
/// instances are paused.
async fn paused_at_creation(
    h: &ScheduleHarness,
    name: &str,
    spec: serde_json::Value,
) -> Vec<String> {
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    assert_eq!(fids.len(), 2, "the default world's reservation");
    let created = h.sim.now();
    h.create(h.ns(), manifest(name, spec)).await;
    h.wait_status(h.ns(), name, "pausing", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Pause, created))
    })
    .await;
    h.advance(2 * MINUTE).await;
    h.wait_status(h.ns(), name, "paused", |s| {
        all_in_state(s, WantedState::Paused)
    })
    .await;
    fids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_across_a_dst_change_pauses_and_resumes_at_the_right_instants() {
    // Monday 24 March 2025; Berlin moves from CET (UTC+1) to CEST (UTC+2) on Sunday the 30th.
    let h = ScheduleHarness::start(Some(at("2025-03-24T00:00:00Z"))).await;
    let spec = json!({
        "timeZone": "Europe/Berlin",
        "selector": {"filter": {"instanceType": "a100-80gb.sxm.8x", "region": "us-central1-a"}},
        "windows": [{
            "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
            "start": "08:00", "end": "18:00",
        }],
    });
    // 01:00 in Berlin on Monday: outside the window.
    let fids = paused_at_creation(&h, "office", spec).await;

    // 08:00 and 18:00 Berlin time: 07:00Z and 17:00Z before the change, 06:00Z and 16:00Z after.
    let mut transitions = Vec::new();
    for day in 24..=28 {
        transitions.push((
            at(&format!("2025-03-{day}T07:00:00Z")),
            ScheduleAction::Resume,
        ));
        transitions.push((
            at(&format!("2025-03-{day}T17:00:00Z")),
            ScheduleAction::Pause,
        ));
    }
    transitions.push((at("2025-03-31T06:00:00Z"), ScheduleAction::Resume));
    transitions.push((at("2025-03-31T16:00:00Z"), ScheduleAction::Pause));

    for (instant, action) in &transitions {
        let (before, wanted) = match action {
            ScheduleAction::Resume => (InstanceStatus::Paused, WantedState::Running),
            ScheduleAction::Pause => (InstanceStatus::Running, WantedState::Paused),
        };
        let status = h
            .wait_status(h.ns(), "office", "announcing the next transition", |s| {
                s.next_transition_time.map(|t| t.timestamp()) == Some(*instant)
            })
            .await;
        assert_ne!(status.wanted_state, Some(wanted));
        // A minute before: nothing is due, nothing moves.
        h.advance_to(instant.checked_sub(MINUTE).unwrap()).await;
        assert_eq!(
            h.reserved_statuses().await,
            [before.clone(), before.clone()],
            "before {instant}"
        );
        h.advance_to(*instant).await;
        h.wait_status(h.ns(), "office", "acting at the transition", |s| {
            s.wanted_state == Some(wanted)
                && fids.iter().all(|fid| acted(s, fid, *action, *instant))
        })
        .await;
        h.advance(2 * MINUTE).await;
        h.wait_status(h.ns(), "office", "in state", |s| all_in_state(s, wanted))
            .await;
    }

    // Mithril's own record: each instance was asked to stop or start exactly at the transitions.
    let mut expected = vec![(at("2025-03-24T00:00:00Z"), InstanceStatus::Stopping)];
    expected.extend(transitions.iter().map(|(instant, action)| {
        let status = match action {
            ScheduleAction::Resume => InstanceStatus::Confirmed,
            ScheduleAction::Pause => InstanceStatus::Stopping,
        };
        (*instant, status)
    }));
    for fid in &fids {
        let requested: Vec<(Timestamp, InstanceStatus)> = h
            .history(fid)
            .await
            .into_iter()
            .filter(|(_, status)| {
                matches!(status, InstanceStatus::Stopping | InstanceStatus::Confirmed)
            })
            .collect();
        assert_eq!(requested, expected, "history of {fid}");
    }
    let events = h.events_about(h.ns(), "office").await;
    let count = |reason: &str| events.iter().filter(|(r, _)| r == reason).count();
    assert_eq!(count("Pausing"), 7, "{events:?}");
    assert_eq!(count("Resuming"), 6, "{events:?}");
    // Repeats of a reason are folded into one event series that keeps its first note.
    assert!(
        events.iter().any(|(reason, note)| reason == "Pausing"
            && note.contains("until 2025-03-24T07:00:00Z")
            && fids.iter().all(|fid| note.contains(fid.as_str()))),
        "{events:?}"
    );
    // One batched request per transition, never one per instance or per reconcile.
    assert_eq!(h.patches(), 1 + transitions.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_shorter_than_the_minimum_pause_is_not_paused() {
    let h = ScheduleHarness::start(None).await;
    let spec = json!({
        "selector": {"filter": {"region": "us-central1-a"}},
        "minimumPause": "1h",
        "windows": [{"start": "08:00", "end": "12:00"}, {"start": "12:30", "end": "18:00"}],
    });
    let fids = paused_at_creation(&h, "split-day", spec).await;
    let resume = at("2025-01-01T08:00:00Z");
    h.advance_to(resume).await;
    h.wait_status(h.ns(), "split-day", "resumed", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Resume, resume))
    })
    .await;
    h.advance(2 * MINUTE).await;
    let status = h
        .wait_status(h.ns(), "split-day", "running", |s| {
            all_in_state(s, WantedState::Running)
        })
        .await;
    // The 30-minute gap earns no credit: the next transition is the evening one.
    assert_eq!(
        status.next_transition_time.map(|t| t.timestamp()),
        Some(at("2025-01-01T18:00:00Z"))
    );
    let patches = h.patches();
    for instant in [
        "2025-01-01T12:00:00Z",
        "2025-01-01T12:15:00Z",
        "2025-01-01T12:30:00Z",
    ] {
        h.advance_to(at(instant)).await;
        assert_eq!(
            h.reserved_statuses().await,
            [InstanceStatus::Running, InstanceStatus::Running]
        );
    }
    let pause = at("2025-01-01T18:00:00Z");
    h.advance_to(pause).await;
    h.wait_status(h.ns(), "split-day", "paused in the evening", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Pause, pause))
    })
    .await;
    assert_eq!(h.patches(), patches + 1, "nothing sent through the gap");
    for fid in &fids {
        assert!(
            !h.history(fid).await.iter().any(|(time, status)| {
                *status == InstanceStatus::Stopping
                    && (at("2025-01-01T12:00:00Z")..at("2025-01-01T12:30:00Z")).contains(time)
            }),
            "{fid} was not stopped in the gap"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_not_ready_409_backs_off_alone_and_is_resumed_once_settled() {
    let h = ScheduleHarness::start(None).await;
    let fids = paused_at_creation(
        &h,
        "workday",
        office_hours(json!({"filter": {"region": "us-central1-a"}})),
    )
    .await;
    let (racing, other) = (fids[0].clone(), fids[1].clone());

    // Someone else starts and stops one instance just before the window opens, unobserved: the
    // operator still believes it PAUSED when it is STOPPING.
    h.advance_to(at("2025-01-01T07:50:00Z")).await;
    let by_hand = |status| PatchInstancesRequest::new([racing.clone()], status);
    h.mithril
        .patch_instances(&by_hand(InstanceTargetStatus::Running))
        .await
        .expect("resumed by hand");
    h.advance_unobserved(9 * MINUTE + Duration::from_secs(30));
    h.mithril
        .patch_instances(&by_hand(InstanceTargetStatus::Paused))
        .await
        .expect("paused by hand");
    h.advance_unobserved(Duration::from_secs(30));
    let listings = h.requests("GET", "/v2/instances");
    assert!(listings > 0, "the observer lists the project's instances");
    h.announce_clock_moved();

    let opening = at("2025-01-01T08:00:00Z");
    let status = h
        .wait_status(h.ns(), "workday", "refused for one instance", |s| {
            outcome(s, &racing).starts_with("NotReady (attempt 1)")
                && acted(s, &other, ScheduleAction::Resume, opening)
        })
        .await;
    assert!(
        condition_is(&status, SYNCED, ConditionStatus::False, "NotReady"),
        "{status:#?}"
    );
    assert_eq!(
        h.requests("GET", "/v2/instances"),
        listings,
        "the reconciles read the observer's memory, never Mithril's listing"
    );
    h.wait_for_event(h.ns(), "workday", "NotReady").await;

    // Once it has stopped and the backoff (15 s) is over, it is resumed like the other.
    h.advance(MINUTE).await;
    let retried = at("2025-01-01T08:01:00Z");
    h.wait_status(h.ns(), "workday", "resumed after the backoff", |s| {
        acted(s, &racing, ScheduleAction::Resume, retried)
    })
    .await;
    h.advance(2 * MINUTE).await;
    h.wait_status(h.ns(), "workday", "running", |s| {
        all_in_state(s, WantedState::Running)
    })
    .await;
    let history = h.history(&racing).await;
    let last_two: Vec<_> = history.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        last_two,
        [
            (retried, InstanceStatus::Confirmed),
            (at("2025-01-01T08:02:00Z"), InstanceStatus::Running)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_mithril_no_longer_knows_404_is_reported_and_the_rest_proceed() {
    let h = ScheduleHarness::start(None).await;
    let fids = paused_at_creation(
        &h,
        "workday",
        office_hours(json!({"filter": {"region": "us-central1-a"}})),
    )
    .await;
    let (gone, other) = (fids[0].clone(), fids[1].clone());
    h.advance_to(at("2025-01-01T07:00:00Z")).await;
    h.sim.forget_instance(&gone).expect("a reserved instance");
    h.advance_unobserved(60 * MINUTE);
    h.announce_clock_moved();

    let opening = at("2025-01-01T08:00:00Z");
    let status = h
        .wait_status(h.ns(), "workday", "refused for the missing instance", |s| {
            outcome(s, &gone).starts_with("InstanceNotFound (attempt 1)")
                && acted(s, &other, ScheduleAction::Resume, opening)
        })
        .await;
    let synced = find_condition(&status.conditions, SYNCED).unwrap();
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "InstanceNotFound")
    );
    assert!(synced.message.contains(&gone), "{}", synced.message);
    h.wait_for_event(h.ns(), "workday", "InstanceNotFound")
        .await;
    let events = h.events_about(h.ns(), "workday").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "InstanceNotFound"
                && note.contains(&gone)
                && note.contains("resume")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_instance_is_reported_as_a_configuration_error_and_never_sent() {
    let h = ScheduleHarness::start(None).await;
    let spot_bids: Api<SpotBid> = Api::namespaced(h.kube.clone(), h.ns());
    let bid: SpotBid = serde_json::from_value(json!({
        "apiVersion": "mithril.ai/v1alpha1", "kind": "SpotBid",
        "metadata": {"name": "train", "namespace": h.ns()},
        "spec": {
            "project": "demo", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "instanceQuantity": 1, "limitPrice": "$12.50",
        },
    }))
    .unwrap();
    spot_bids
        .create(&Default::default(), &bid)
        .await
        .expect("SpotBid");
    h.wait_for::<SpotBid>(h.ns(), "train", "placed", |r| {
        r.status.as_ref().is_some_and(|s| s.bid_fid.is_some())
    })
    .await;
    h.advance_minutes(8).await;
    let running = h
        .wait_for::<SpotBid>(h.ns(), "train", "running", |r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.instances.iter().any(|i| i.status == "STATUS_RUNNING"))
        })
        .await;
    let spot = running.status.unwrap().instances[0].fid.clone();
    let reserved = h.reserved().await[0].fid.clone();
    h.poll().await;

    let patches = h.patches();
    h.create(
        h.ns(),
        manifest(
            "mixed",
            office_hours(json!({"instanceFids": [spot, reserved]})),
        ),
    )
    .await;
    let status = h
        .wait_status(h.ns(), "mixed", "reporting the spot instance", |s| {
            condition_is(s, SYNCED, ConditionStatus::False, "SpotInstance")
                && instance(s, &reserved).is_some_and(|i| i.last_action.is_some())
        })
        .await;
    let synced = find_condition(&status.conditions, SYNCED).unwrap();
    assert!(synced.message.contains(&spot), "{}", synced.message);
    assert!(
        instance(&status, &spot).is_some_and(|i| i.last_action.is_none()),
        "never asked"
    );
    h.wait_for_event(h.ns(), "mixed", "SpotInstance").await;
    assert_eq!(
        h.patches(),
        patches + 1,
        "only the reserved instance was sent"
    );

    // Reconcile after reconcile, the spot instance is never sent again: no retry storm.
    for _ in 0..10 {
        h.advance(MINUTE).await;
    }
    h.wait_status(h.ns(), "mixed", "reserved instance paused", |s| {
        instance(s, &reserved).and_then(|i| i.status.as_deref()) == Some("STATUS_PAUSED")
    })
    .await;
    assert_eq!(h.patches(), patches + 1);
    let events = h.events_about(h.ns(), "mixed").await;
    assert_eq!(
        events.iter().filter(|(r, _)| r == "SpotInstance").count(),
        1,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_schedule_leaves_the_instances_alone_until_resumed() {
    let h = ScheduleHarness::start(None).await;
    let mut spec = office_hours(json!({"filter": {"region": "us-central1-a"}}));
    spec["suspend"] = json!(true);
    h.create(h.ns(), manifest("held", spec)).await;
    let status = h
        .wait_status(h.ns(), "held", "suspended", |s| {
            condition_is(s, SYNCED, ConditionStatus::False, "Suspended") && s.instances_total == 2
        })
        .await;
    assert_eq!(status.wanted_state, Some(WantedState::Paused));
    assert!(
        condition_is(&status, READY, ConditionStatus::False, "Suspended"),
        "{status:#?}"
    );
    h.wait_for_event(h.ns(), "held", "Suspended").await;
    h.advance(10 * MINUTE).await;
    assert_eq!(h.patches(), 0);
    assert_eq!(
        h.reserved_statuses().await,
        [InstanceStatus::Running, InstanceStatus::Running]
    );

    let api: Api<InstanceSchedule> = Api::namespaced(h.kube.clone(), h.ns());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .expect("unsuspend");
    let resumed_at = h.sim.now();
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    h.wait_status(h.ns(), "held", "pausing once resumed", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Pause, resumed_at))
    })
    .await;
    assert_eq!(h.patches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_schedules_are_reported_on_both_and_neither_drives_the_instances() {
    let h = ScheduleHarness::start(None).await;
    let reservation = h.reserved().await[0].reservation.clone().expect("reserved");
    let mornings =
        |selector| json!({"selector": selector, "windows": [{"start": "00:00", "end": "12:00"}]});
    h.create(
        h.ns(),
        manifest(
            "by-reservation",
            mornings(json!({"reservationFids": [reservation]})),
        ),
    )
    .await;
    h.create(
        h.ns(),
        manifest(
            "by-type",
            mornings(json!({"filter": {"instanceType": "a100-80gb.sxm.8x"}})),
        ),
    )
    .await;
    for (name, other) in [("by-reservation", "by-type"), ("by-type", "by-reservation")] {
        let status = h
            .wait_status(h.ns(), name, "in conflict", |s| {
                condition_is(s, SYNCED, ConditionStatus::False, "Conflict")
            })
            .await;
        let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
        assert!(
            message.contains(&format!("{}/{other}", h.ns())),
            "{message}"
        );
        h.wait_for_event(h.ns(), name, "Conflict").await;
    }

    // Noon: both want the instances paused; neither touches them.
    h.advance_to(at("2025-01-01T12:00:00Z")).await;
    for name in ["by-reservation", "by-type"] {
        h.wait_status(h.ns(), name, "wanting them paused", |s| {
            s.wanted_state == Some(WantedState::Paused)
                && condition_is(s, SYNCED, ConditionStatus::False, "Conflict")
        })
        .await;
    }
    assert_eq!(h.patches(), 0);
    assert_eq!(
        h.reserved_statuses().await,
        [InstanceStatus::Running, InstanceStatus::Running]
    );

    // Once one goes, the other drives the instances alone.
    let api: Api<InstanceSchedule> = Api::namespaced(h.kube.clone(), h.ns());
    api.delete("by-type", &DeleteParams::default())
        .await
        .expect("delete");
    let noon = at("2025-01-01T12:00:00Z");
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    h.wait_status(h.ns(), "by-reservation", "pausing alone", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Pause, noon))
    })
    .await;
    assert_eq!(h.patches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mithril_failing_to_answer_backs_off_and_the_pause_goes_through_once_it_answers() {
    let h = ScheduleHarness::start(None).await;
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    let failing = FaultSpec {
        error_5xx: 1.0,
        ..FaultSpec::default()
    };
    h.sim.faults().set_route("PATCH", "/v2/instances", failing);
    let spec = office_hours(json!({"filter": {"region": "us-central1-a"}}));
    h.create(h.ns(), manifest("workday", spec)).await;
    let status = h
        .wait_status(h.ns(), "workday", "refused by a failing Mithril", |s| {
            fids.iter()
                .all(|fid| outcome(s, fid).starts_with("MithrilUnavailable (attempt 1)"))
        })
        .await;
    assert!(
        condition_is(
            &status,
            SYNCED,
            ConditionStatus::False,
            "MithrilUnavailable"
        ),
        "{status:#?}"
    );
    h.wait_for_event(h.ns(), "workday", "MithrilUnavailable")
        .await;

    h.sim.faults().clear();
    h.advance(MINUTE).await;
    let retried = at("2025-01-01T00:01:00Z");
    h.wait_status(h.ns(), "workday", "paused after the backoff", |s| {
        fids.iter()
            .all(|fid| acted(s, fid, ScheduleAction::Pause, retried))
    })
    .await;
    h.advance(2 * MINUTE).await;
    h.wait_status(h.ns(), "workday", "paused", |s| {
        all_in_state(s, WantedState::Paused)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_schedule_is_reported_and_nothing_is_sent() {
    let h = ScheduleHarness::start(None).await;
    let selector = json!({"filter": {"region": "us-central1-a"}});
    let mut unknown_zone = office_hours(selector.clone());
    unknown_zone["timeZone"] = json!("Mars/Olympus_Mons");
    let mut unknown_project = office_hours(selector);
    unknown_project["project"] = json!("no-such-project");
    h.create(h.ns(), manifest("on-mars", unknown_zone)).await;
    h.create(h.ns(), manifest("nowhere", unknown_project)).await;
    for (name, field) in [("on-mars", "spec.timeZone"), ("nowhere", "spec.project")] {
        let status = h
            .wait_status(h.ns(), name, "invalid", |s| {
                condition_is(s, SYNCED, ConditionStatus::False, "InvalidSpec")
            })
            .await;
        let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
        assert!(message.starts_with(field), "{message}");
        assert_eq!(status.wanted_state, None);
        h.wait_for_event(h.ns(), name, "InvalidSpec").await;
    }
    h.advance(MINUTE).await;
    assert_eq!(h.patches(), 0);
}

/// The operator's own key is only for the namespaces `--default-key-namespaces` lists: a schedule
/// elsewhere naming no key of its own is refused with `ApiKeyNotAllowed` and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_key_is_only_for_the_namespaces_allowed() {
    let h = ScheduleHarness::start_with(
        None,
        ControllerConfig {
            default_key_namespaces: Some(["platform".to_owned()].into()),
            ..ControllerConfig::default()
        },
    )
    .await;
    let before = h.sim.counters().grand_total();
    let selector = json!({"filter": {"region": "us-central1-a"}});
    h.create(h.ns(), manifest("freeloader", office_hours(selector)))
        .await;
    let status = h
        .wait_status(h.ns(), "freeloader", "ApiKeyNotAllowed", |s| {
            condition_is(s, SYNCED, ConditionStatus::False, "ApiKeyNotAllowed")
        })
        .await;
    let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
    assert!(message.contains("apiKeySecretRef"), "{message}");
    h.wait_for_warning(h.ns(), "freeloader", "ApiKeyNotAllowed")
        .await;
    // The clock moves without the harness's own observation (its requests would count).
    h.advance_unobserved(MINUTE);
    h.announce_clock_moved();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.sim.counters().grand_total(),
        before,
        "no Mithril request with the operator's key"
    );
}

/// Creates a namespace for another team.
async fn create_namespace(h: &ScheduleHarness, name: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(h.kube.clone());
    let namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
    }))
    .unwrap();
    namespaces
        .create(&Default::default(), &namespace)
        .await
        .expect("namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_schedule_of_the_same_account_and_project_conflicts_across_namespaces() {
    if skip_on_real_server(
        "only_a_schedule_of_the_same_account_and_project_conflicts_across_namespaces",
        "needs a second namespace the operator watches",
    ) {
        return;
    }
    let h = ScheduleHarness::start(None).await;
    let reservation = h.reserved().await[0].reservation.clone().expect("reserved");
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    let selector = json!({"reservationFids": [reservation]});
    create_namespace(&h, "team-b").await;
    // Another team's schedules on the same instances: one whose key Secret does not exist, one
    // acting with another Mithril account (every key sees `demo` in this world). Suspended, so
    // that neither would act even if it could.
    h.create_key_secret(
        "team-b",
        "other-account",
        "fkey_otheraccount000000000000000",
    )
    .await;
    for (name, secret) in [("no-key", "missing"), ("other-account", "other-account")] {
        let mut spec = office_hours(selector.clone());
        spec["suspend"] = json!(true);
        spec["apiKeySecretRef"] = json!({"name": secret});
        h.create("team-b", manifest(name, spec)).await;
    }
    h.wait_status("team-b", "no-key", "invalid", |s| {
        condition_is(s, SYNCED, ConditionStatus::False, "InvalidSpec")
    })
    .await;
    // The same account naming a project that does not resolve claims nothing either.
    h.create_key_secret("team-b", "same-account", crate::support::harness::API_KEY)
        .await;
    let mut spec = office_hours(selector.clone());
    spec["suspend"] = json!(true);
    spec["project"] = json!("no-such-project");
    spec["apiKeySecretRef"] = json!({"name": "same-account"});
    h.create("team-b", manifest("elsewhere", spec)).await;
    h.wait_status("team-b", "elsewhere", "invalid", |s| {
        condition_is(s, SYNCED, ConditionStatus::False, "InvalidSpec")
    })
    .await;

    // The same account on another project that exists claims nothing of `demo`'s instances.
    let mut spec = office_hours(selector.clone());
    spec["suspend"] = json!(true);
    spec["project"] = json!("research");
    spec["apiKeySecretRef"] = json!({"name": "same-account"});
    h.create("team-b", manifest("research", spec)).await;
    // Its project's observer is new: observed (as the running operator's cycle would) until the
    // schedule has reported.
    let schedules: Api<InstanceSchedule> = Api::namespaced(h.kube.clone(), "team-b");
    crate::support::wait_for(
        "team-b/research reconciled",
        crate::support::harness::CONVERGE,
        || async {
            h.advance(Duration::ZERO).await;
            let status = schedules.get("research").await.ok()?.status?;
            find_condition(&status.conditions, SYNCED).map(drop)
        },
    )
    .await;

    // The team's own schedule, on the operator's key, is not frozen by them: it pauses.
    let created = h.sim.now();
    h.create(h.ns(), manifest("nights", office_hours(selector.clone())))
        .await;
    let status = h
        .wait_status(h.ns(), "nights", "pausing", |s| {
            fids.iter()
                .all(|fid| acted(s, fid, ScheduleAction::Pause, created))
        })
        .await;
    assert!(
        !condition_is(&status, SYNCED, ConditionStatus::False, "Conflict"),
        "{status:#?}"
    );
    h.advance(2 * MINUTE).await;
    h.wait_status(h.ns(), "nights", "paused", |s| {
        all_in_state(s, WantedState::Paused)
    })
    .await;

    // A schedule of another team acting with the same account is a conflict, on both.
    let mut spec = office_hours(selector);
    spec["apiKeySecretRef"] = json!({"name": "same-account"});
    h.create("team-b", manifest("same-account", spec)).await;
    for (namespace, name, other) in [
        (h.ns(), "nights", "team-b/same-account"),
        ("team-b", "same-account", "default/nights"),
    ] {
        let status = h
            .wait_status(namespace, name, "in conflict", |s| {
                condition_is(s, SYNCED, ConditionStatus::False, "Conflict")
            })
            .await;
        let message = &find_condition(&status.conditions, SYNCED).unwrap().message;
        assert!(message.contains(other), "{message}");
        assert!(
            !message.contains("no-key")
                && !message.contains("other-account")
                && !message.contains("elsewhere")
                && !message.contains("research"),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_mithril_leaves_unchanged_is_refused_and_backed_off_not_paused_every_cycle() {
    let h = ScheduleHarness::start(None).await;
    let fids: Vec<String> = h.reserved().await.into_iter().map(|i| i.fid).collect();
    let (held, other) = (fids[0].clone(), fids[1].clone());
    h.sim
        .set_stoppable(&held, false)
        .expect("a reserved instance");
    let created = h.sim.now();
    h.create(
        h.ns(),
        manifest(
            "workday",
            office_hours(json!({"filter": {"region": "us-central1-a"}})),
        ),
    )
    .await;
    let status = h
        .wait_status(h.ns(), "workday", "refused for the held instance", |s| {
            outcome(s, &held).starts_with("StatusUnchanged (attempt 1)")
                && acted(s, &other, ScheduleAction::Pause, created)
        })
        .await;
    let synced = find_condition(&status.conditions, SYNCED).unwrap();
    assert_eq!(
        (synced.status, synced.reason.as_str()),
        (ConditionStatus::False, "StatusUnchanged")
    );
    assert!(
        synced.message.contains(&held) && !synced.message.contains(&other),
        "{}",
        synced.message
    );
    h.wait_for_event(h.ns(), "workday", "StatusUnchanged").await;
    assert_eq!(h.patches(), 1);

    // Asked again after a minute, then after two more: the backoff grows, cycles in between
    // send nothing.
    for (minutes, attempt, patches) in [(1, 2, 2), (2, 2, 2), (3, 3, 3)] {
        let instant = created
            .checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap();
        h.advance_to(instant).await;
        h.wait_status(h.ns(), "workday", "refused again", |s| {
            outcome(s, &held).starts_with(&format!("StatusUnchanged (attempt {attempt})"))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(h.patches(), patches, "at minute {minutes}");
    }
    let events = h.events_about(h.ns(), "workday").await;
    let pausing: Vec<&String> = events
        .iter()
        .filter(|(reason, _)| reason == "Pausing")
        .map(|(_, note)| note)
        .collect();
    assert_eq!(pausing.len(), 1, "{events:?}");
    assert!(!pausing[0].contains(&held), "{events:?}");

    // Once Mithril can stop it, the next attempt (after four more minutes) pauses it.
    h.sim
        .set_stoppable(&held, true)
        .expect("a reserved instance");
    let retried = at("2025-01-01T00:07:00Z");
    h.advance_to(retried).await;
    h.wait_status(h.ns(), "workday", "paused after the backoff", |s| {
        acted(s, &held, ScheduleAction::Pause, retried)
    })
    .await;
    h.advance(2 * MINUTE).await;
    h.wait_status(h.ns(), "workday", "paused", |s| {
        all_in_state(s, WantedState::Paused)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_of_a_key_no_schedule_uses_any_more_stops() {
    let h = ScheduleHarness::start(None).await;
    assert_eq!(h.registry.observers().len(), 1, "the operator key's");
    h.create_key_secret(h.ns(), "own-key", "fkey_teambteambteambteamb0000000")
        .await;
    let mut spec = office_hours(json!({"filter": {"region": "us-central1-a"}}));
    spec["suspend"] = json!(true);
    spec["apiKeySecretRef"] = json!({"name": "own-key"});
    h.create(h.ns(), manifest("nights", spec)).await;
    h.wait_until("the team's key has its observer", || {
        h.registry.observers().len() == 2
    })
    .await;
    h.poll().await;
    h.wait_status(h.ns(), "nights", "suspended", |s| {
        condition_is(s, SYNCED, ConditionStatus::False, "Suspended")
    })
    .await;

    let api: Api<InstanceSchedule> = Api::namespaced(h.kube.clone(), h.ns());
    api.delete("nights", &DeleteParams::default())
        .await
        .expect("delete");
    h.wait_until("the observer of the key nothing uses stopped", || {
        h.registry.observers().len() == 1
    })
    .await;
    assert_eq!(h.ctx.usage.len(), 0);
}

/// A schedule created while the watches were down is reconciled once they list again, not at its
/// resync: kube-runtime's cache shows a relist's objects only at the list's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_created_during_a_watch_outage_is_reconciled_when_the_watch_lists_again() {
    if skip_on_real_server(
        "a_schedule_created_during_a_watch_outage_is_reconciled_when_the_watch_lists_again",
        "holds the emulator's watches",
    ) {
        return;
    }
    // Neither the resync nor a recheck of the problem comes within the test.
    let h = ScheduleHarness::start_with(
        None,
        ControllerConfig {
            resync: Duration::from_secs(3600),
            problem_recheck: Duration::from_secs(3600),
            ..ControllerConfig::default()
        },
    )
    .await;
    // Each names a missing key Secret: its reconcile reports that, with no Mithril request.
    let spec = || {
        let mut spec = office_hours(json!({"filter": {"region": "us-central1-a"}}));
        spec["apiKeySecretRef"] = json!({"name": "absent"});
        spec
    };
    let reports_the_missing_secret = |status: &InstanceScheduleStatus| {
        find_condition(&status.conditions, SYNCED).is_some_and(|synced| {
            synced.status == ConditionStatus::False && synced.message.contains("does not exist")
        })
    };
    // More than a page of the watch's list (500), so the list is not read at once.
    const BEFORE: usize = 600;
    futures::stream::iter(0..BEFORE)
        .for_each_concurrent(16, |index| {
            let (h, spec) = (&h, spec());
            async move {
                h.create(h.ns(), manifest(&format!("before-{index:03}"), spec))
                    .await;
            }
        })
        .await;
    h.wait_for_count(
        h.ns(),
        BEFORE,
        "every schedule reports its missing Secret",
        |schedule: &InstanceSchedule| {
            schedule
                .status
                .as_ref()
                .is_some_and(reports_the_missing_secret)
        },
    )
    .await;

    let faults = h.emulator().faults();
    // Each page of the list again takes a while, as on a busy API server.
    faults.delay_lists(Duration::from_millis(300), Some("instanceschedules"));
    faults.hold_watches();
    faults.drop_all_watches();
    h.wait_until("the schedules' watch waits", || {
        faults
            .held_watches()
            .iter()
            .any(|r| r == "instanceschedules")
    })
    .await;
    // First in the list's order, on its first page.
    h.create(h.ns(), manifest("added-during", spec())).await;
    faults.expire_held_watches();
    h.wait_status(h.ns(), "added-during", "reports the missing Secret", |s| {
        reports_the_missing_secret(s)
    })
    .await;
}
