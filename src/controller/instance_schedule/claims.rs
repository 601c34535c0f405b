//! Every schedule's claim on one project's instances, from the controller's reflector store.
//!
//! A conflict is decided from the selections of the schedules that could drive the same
//! instances: those acting with the same Mithril API key (the same account) on the same project,
//! whatever their namespace or state. Each reconcile recomputes their selections against the
//! instances it is about to act on. A schedule whose key cannot be read, or that acts with
//! another key, claims nothing: it cannot drive these instances through this account, and a
//! team's schedule must never be frozen by a schedule it shares nothing with.

use super::conflicts::{Claim, ScheduleRef, Selection, select};
use super::resolve::Resolved;
use super::windows::Schedule;
use crate::controller::Error;
use crate::controller::api_keys::ApiKeys;
use crate::crd::InstanceSchedule;
use crate::observe::ObserverRegistry;
use jiff::Timestamp;
use kube::ResourceExt;
use mithril_api::{ApiKey, Instance};
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

/// Whether `other` acts with `key`. A key that cannot be read (missing Secret, API server
/// failing) is no key: that schedule cannot act, so it claims nothing.
async fn acts_with(other: &InstanceSchedule, key: &ApiKey, keys: &ApiKeys) -> bool {
    let namespace = other.namespace().unwrap_or_default();
    match keys
        .key_for(&namespace, other.spec.api_key_secret_ref.as_ref())
        .await
    {
        Ok(other_key) => other_key == *key,
        Err(Error::Problem(_)) => false,
        Err(error) => {
            tracing::debug!(schedule = %schedule_ref(other), %error, "could not read the API key of another schedule; it claims nothing");
            false
        }
    }
}

/// The claims of the other schedules in `schedules` on `instances` (the project of `resolved`).
/// Schedules of other accounts or projects, those whose key or project does not resolve, and
/// specs that do not validate (selector, windows, time zone, minimum pause) claim nothing: a
/// schedule that can never act on these instances must not keep a valid one from driving them.
pub async fn other_claims(
    me: &ScheduleRef,
    schedules: &[Arc<InstanceSchedule>],
    resolved: &Resolved,
    keys: &ApiKeys,
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
            || !acts_with(other, &resolved.key, keys).await
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
