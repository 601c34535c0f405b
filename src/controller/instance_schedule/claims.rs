//! Every schedule's claim on one project's instances, from the controller's reflector store.
//!
//! A conflict is decided from the selections of *all* schedules, whatever their state, so each
//! reconcile recomputes the other schedules' selections against the instances it is about to
//! act on. Another schedule's names are read with this schedule's key: a project this key does
//! not know as ours holds none of our instances.

use super::conflicts::{Claim, ScheduleRef, Selection, select};
use super::resolve::Resolved;
use super::windows::Schedule;
use crate::crd::InstanceSchedule;
use crate::mithril::Instance;
use crate::observe::ObserverRegistry;
use jiff::Timestamp;
use kube::ResourceExt;
use std::sync::Arc;

/// A schedule's name as conflicts report it.
pub fn schedule_ref(schedule: &InstanceSchedule) -> ScheduleRef {
    ScheduleRef::new(
        schedule.namespace().unwrap_or_default(),
        schedule.name_any(),
    )
}

fn created(schedule: &InstanceSchedule) -> Timestamp {
    schedule
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::MAX, |time| time.0)
}

/// The claim of the schedule being reconciled.
pub fn own_claim(schedule: &InstanceSchedule, selection: &Selection<'_>) -> Claim {
    Claim {
        schedule: schedule_ref(schedule),
        created: created(schedule),
        fids: selection.claimed_fids(),
    }
}

/// The claims of the other schedules in `schedules` on `instances` (the project of `resolved`).
/// Schedules of other projects, and specs that do not validate (selector, windows, time zone,
/// minimum pause), claim nothing: a schedule that can never act must not keep a valid one from
/// driving the instances.
pub async fn other_claims(
    me: &ScheduleRef,
    schedules: &[Arc<InstanceSchedule>],
    resolved: &Resolved,
    registry: &ObserverRegistry,
    project: &str,
    instances: &[Instance],
) -> Vec<Claim> {
    let mut claims = Vec::new();
    for other in schedules {
        let other_ref = schedule_ref(other);
        if other_ref == *me
            || other.spec.selector.validate().is_err()
            || Schedule::from_spec(&other.spec).is_err()
        {
            continue;
        }
        let same_project = other.spec.project == project
            || other.spec.project == resolved.project_fid
            || registry
                .resolve_project(&resolved.key, &other.spec.project)
                .await
                .is_ok_and(|fid| fid == resolved.project_fid);
        if !same_project {
            continue;
        }
        let instance_type = other
            .spec
            .selector
            .filter
            .as_ref()
            .and_then(|filter| filter.instance_type.as_ref());
        // An instance type that does not resolve matches nothing (see `select`).
        let instance_type_fid = match instance_type {
            None => None,
            Some(name) => registry
                .resolve_instance_type(&resolved.key, name)
                .await
                .ok(),
        };
        let selection = select(
            &other.spec.selector,
            instance_type_fid.as_deref(),
            instances,
        );
        let fids = selection.claimed_fids();
        if !fids.is_empty() {
            claims.push(Claim {
                schedule: other_ref,
                created: created(other),
                fids,
            });
        }
    }
    claims
}
