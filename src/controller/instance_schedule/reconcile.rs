//! The InstanceSchedule reconcile: check the spec, observe from the shared observer (memory),
//! plan (pure), send the batched pauses or resumes, report, and requeue at the next instant
//! anything is due.
//!
//! - Instances come from the project's shared observer, never from a listing of our own: one
//!   paged `GET /v2/instances` per project per resync serves every schedule. Mithril's answer to
//!   each PATCH is written through to it, so the next reconcile reads STOPPING or CONFIRMED.
//! - "Now" is [`Context::clock`]: the system clock in production, a simulated one in tests.
//! - Conflicts are decided from every schedule in the reflector store (see [`super::claims`]).
//! - The status is the only memory across reconciles and restarts: each instance's last action,
//!   its outcome and the attempt count that sets the next backoff.
//! - Deleting a schedule leaves its instances as they are: there is no finalizer. What the
//!   controller remembers of it is forgotten when the watch shows the deletion or a relist no
//!   longer shows the schedule, and its key's observer stops once no resource uses it.

use super::claims::{other_claims, own_claim, schedule_ref};
use super::conflicts::{Conflicts, select};
use super::index::{ScheduleIndex, ScheduleKey, USER_KIND, user_of};
use super::latest::LatestStatus;
use super::plan::{PlanInput, PlanSettings, SchedulePlan, SpecError, plan_with};
use super::report::{Assessment, PatchOutcomes, batch_outcomes, events, status};
use super::resolve::{Resolved, resolve};
use super::windows::{Evaluation, Schedule};
use crate::controller::error::Problem;
use crate::controller::machinery::events::publish_event;
use crate::controller::{Context, Error, status::apply_status};
use crate::crd::{InstanceSchedule, Time, status_changed};
use crate::observe::InstanceFilter;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The controller's name in metrics and logs.
pub const CONTROLLER: &str = "instanceschedule";

/// The InstanceSchedule controller's state beside the shared [`Context`].
pub struct ScheduleContext {
    pub shared: Arc<Context>,
    /// Every schedule the controller watches: conflicts need all their selections.
    pub store: Store<InstanceSchedule>,
    pub index: ScheduleIndex,
    pub latest: LatestStatus,
    pub settings: PlanSettings,
    /// Schedules to reconcile because another schedule's claims changed.
    wake: mpsc::UnboundedSender<ScheduleKey>,
}

impl ScheduleContext {
    /// A context whose wake-ups of other schedules go to `wake`.
    pub fn new(
        shared: Arc<Context>,
        store: Store<InstanceSchedule>,
        wake: mpsc::UnboundedSender<ScheduleKey>,
    ) -> Self {
        Self {
            shared,
            store,
            index: ScheduleIndex::default(),
            latest: LatestStatus::default(),
            settings: PlanSettings::default(),
            wake,
        }
    }

    /// Forgets a deleted schedule, lets go of its key, and wakes the schedules it shared
    /// instances with.
    pub fn forget(&self, schedule: &ScheduleKey) {
        self.latest.forget(schedule);
        self.shared.released(&user_of(schedule));
        self.wake_all(self.index.forget(schedule));
    }

    /// Forgets every schedule of `namespace` (all: `None`) the store no longer holds: after a
    /// relist, those deleted while the watch was down, whose deletion no watch event will ever
    /// report. Those the index holds, and those that only got as far as using a key.
    pub fn forget_vanished(&self, namespace: Option<&str>) {
        let users = self
            .shared
            .users_of(USER_KIND, namespace)
            .into_iter()
            .map(|user| ObjectRef::new(&user.name).within(&user.namespace));
        let known: std::collections::HashSet<ScheduleKey> =
            self.index.schedules().into_iter().chain(users).collect();
        for schedule in known {
            if self.store.get(&schedule).is_none() {
                self.forget(&schedule);
            }
        }
    }

    fn wake_all(&self, schedules: Vec<ScheduleKey>) {
        for schedule in schedules {
            // The receiver lives as long as the controller; a closed channel means shutdown.
            let _ = self.wake.send(schedule);
        }
    }
}

/// Entry point for kube-runtime: times the reconcile and resets backoff on success.
pub async fn reconcile(
    schedule: Arc<InstanceSchedule>,
    ctx: Arc<ScheduleContext>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let span = tracing::info_span!("reconcile", controller = CONTROLLER, namespace = schedule.namespace().unwrap_or_default(), name = %schedule.name_any());
    let result = tracing::Instrument::instrument(reconcile_schedule(&schedule, &ctx), span).await;
    let shared = &ctx.shared;
    shared.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(|error| error.reason().label()),
    );
    if result.is_ok() {
        shared
            .backoff
            .succeeded(&schedule.uid().unwrap_or_default());
    }
    // Deleted while this reconcile ran: what it just recorded must not outlive the schedule.
    let key = ObjectRef::from_obj(schedule.as_ref());
    if ctx.store.get(&key).is_none() {
        ctx.forget(&key);
    }
    result
}

/// Entry point for kube-runtime on failure: per-object exponential backoff.
pub fn error_policy(
    schedule: Arc<InstanceSchedule>,
    error: &Error,
    ctx: Arc<ScheduleContext>,
) -> Action {
    let wait = ctx
        .shared
        .backoff
        .failed(&schedule.uid().unwrap_or_default());
    tracing::warn!(namespace = schedule.namespace().unwrap_or_default(), name = %schedule.name_any(), %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// One reconcile, as its steps see it.
struct Run<'a> {
    schedule: &'a InstanceSchedule,
    ctx: &'a ScheduleContext,
    key: ScheduleKey,
    api: Api<InstanceSchedule>,
    now: Timestamp,
}

async fn reconcile_schedule(
    schedule: &InstanceSchedule,
    ctx: &ScheduleContext,
) -> Result<Action, Error> {
    let run = Run {
        schedule,
        ctx,
        key: ObjectRef::from_obj(schedule),
        api: Api::namespaced(
            ctx.shared.kube.clone(),
            &schedule.namespace().unwrap_or_default(),
        ),
        now: (ctx.shared.clock)(),
    };
    let spec = &schedule.spec;
    let windows = match Schedule::from_spec(spec) {
        Ok(windows) => windows,
        Err(error) => return run.invalid(SpecError::from(error).into()).await,
    };
    if let Err(error) = spec.selector.validate() {
        return run.invalid(SpecError::from(error).into()).await;
    }
    let evaluation = windows.evaluate(run.now);
    ctx.shared
        .keys
        .named_by(&user_of(&run.key), spec.api_key_secret_ref.as_ref());
    let resolved = match resolve(schedule, &ctx.shared).await {
        Ok(resolved) => resolved,
        Err(Error::Problem(problem)) => return run.invalid(problem).await,
        // The API server failed (reading the key's Secret): nothing to say about Mithril.
        Err(error @ Error::Kube(_)) => return Err(error),
        Err(error) => {
            run.unavailable(evaluation, &error.to_string()).await?;
            return Err(error);
        }
    };
    let health = resolved.observer.health();
    if !health.synced {
        if let Some(failure) = &health.failure {
            run.unavailable(evaluation, &failure.message).await?;
            return Ok(run.requeue(Some(evaluation_due(&evaluation, run.now))));
        }
        // The observer's first listing is under way; it wakes every schedule when done.
        tracing::debug!("waiting for the first listing of the project's instances");
        return Ok(Action::requeue(ctx.shared.config.resync));
    }
    // Written through on every accepted PATCH, the cache is never older than our own actions;
    // it was last listed no later than now.
    let observed_at = health
        .last_success
        .map_or(run.now, |listed| listed.min(run.now));
    let plan = run.plan(&resolved, evaluation, observed_at).await;
    let acted = run.act(&plan, &resolved).await;
    run.report(
        Assessment::Planned {
            plan: &plan,
            outcomes: &acted.outcomes,
        },
        &acted.outcomes,
    )
    .await?;
    let due = if acted.untouched {
        Some(run.now)
    } else {
        plan.requeue_at
    };
    Ok(run.requeue(due))
}

/// What sending a plan's batches came to.
struct Acted {
    outcomes: PatchOutcomes,
    /// A batch was refused because of one of its instances: the others were not touched and go
    /// again at once, without it (it backs off alone).
    untouched: bool,
}

/// How long kube-runtime waits before reconciling again: until `due` by the schedule clock,
/// at most `resync` (the safety net), and no wait at all for what is already due.
pub fn requeue_after(now: Timestamp, due: Option<Timestamp>, resync: Duration) -> Duration {
    due.map_or(resync, |due| {
        Duration::try_from(now.duration_until(due))
            .unwrap_or(Duration::ZERO)
            .min(resync)
    })
}

/// When a schedule that cannot see its instances looks again: at its next transition, or after
/// a minute, whichever comes first.
fn evaluation_due(evaluation: &Evaluation, now: Timestamp) -> Timestamp {
    let soon = now
        .checked_add(jiff::SignedDuration::from_mins(1))
        .unwrap_or(now);
    evaluation
        .next_transition
        .map_or(soon, |next| next.min(soon))
}

impl Run<'_> {
    /// Selects, finds conflicts and plans.
    async fn plan(
        &self,
        resolved: &Resolved,
        evaluation: Evaluation,
        observed_at: Timestamp,
    ) -> SchedulePlan {
        let spec = &self.schedule.spec;
        let ctx = self.ctx;
        let instances = resolved.observer.instances_matching(&InstanceFilter::any());
        let selection = select(
            &spec.selector,
            resolved.instance_type_fid.as_deref(),
            &instances,
        );
        let me = schedule_ref(self.schedule);
        let mut claims = other_claims(
            &me,
            &ctx.store.state(),
            resolved,
            &ctx.shared.keys,
            &ctx.shared.registry,
            &spec.project,
            &instances,
        )
        .await;
        claims.push(own_claim(self.schedule, &selection));
        let claimed_elsewhere = Conflicts::find(&claims).claimed_elsewhere(&me);
        let selected = selection
            .instances
            .iter()
            .map(|instance| instance.fid.clone())
            .chain(selection.missing.iter().cloned())
            .collect();
        ctx.wake_all(
            ctx.index
                .record_selection(&self.key, selected, selection.claimed_fids()),
        );
        let previous = ctx.latest.previous(&self.key, self.schedule);
        let previous_instances = previous
            .as_ref()
            .map(|status| status.instances.as_slice())
            .unwrap_or_default();
        plan_with(
            &PlanInput {
                evaluation,
                suspend: spec.suspend,
                instances: &selection.instances,
                missing: &selection.missing,
                claimed_elsewhere: &claimed_elsewhere,
                previous: previous_instances,
                observed_at,
                now: self.now,
            },
            &ctx.settings,
        )
    }

    /// Sends each batch; Mithril's answers are written through to the observer, so the next
    /// reconcile reads STOPPING or CONFIRMED and follows the instances from there.
    async fn act(&self, plan: &SchedulePlan, resolved: &Resolved) -> Acted {
        let mut acted = Acted {
            outcomes: PatchOutcomes::new(),
            untouched: false,
        };
        for action in &plan.actions {
            let answer = resolved.client.patch_instances(&action.request()).await;
            let outcomes = batch_outcomes(action, answer.as_ref());
            match &answer {
                Ok(response) => {
                    resolved
                        .observer
                        .record_instance_statuses(&response.instances);
                }
                Err(error) => {
                    tracing::warn!(action = ?action.kind(), instances = ?action.fids(), %error, "Mithril refused a batch");
                    acted.untouched |= action.fids().iter().any(|fid| !outcomes.contains_key(fid));
                }
            }
            acted.outcomes.extend(outcomes);
        }
        acted
    }

    async fn invalid(&self, problem: Problem) -> Result<Action, Error> {
        // It claims nothing and uses no key any more: schedules it conflicted with may act
        // again, and an observer only it used stops.
        let ctx = self.ctx;
        ctx.wake_all(
            ctx.index
                .record_selection(&self.key, BTreeSet::new(), BTreeSet::new()),
        );
        ctx.shared.released(&user_of(&self.key));
        self.report(Assessment::InvalidSpec(&problem), &PatchOutcomes::new())
            .await?;
        self.ctx.index.set_due(&self.key, None);
        // A fixed Secret or a project created later is noticed without a spec edit.
        Ok(Action::requeue(self.ctx.shared.config.problem_recheck))
    }

    async fn unavailable(&self, evaluation: Evaluation, error: &str) -> Result<(), Error> {
        self.report(
            Assessment::Unavailable { evaluation, error },
            &PatchOutcomes::new(),
        )
        .await
    }

    /// Writes the status when it changed, then publishes the events it calls for.
    async fn report(
        &self,
        assessment: Assessment<'_>,
        outcomes: &PatchOutcomes,
    ) -> Result<(), Error> {
        let schedule = self.schedule;
        let previous = self.ctx.latest.previous(&self.key, schedule);
        let new = status(
            previous.as_ref(),
            assessment,
            schedule.metadata.generation,
            Time::new(self.now),
        );
        if status_changed(previous.as_ref(), &new) {
            apply_status(&self.api, schedule, &new).await?;
            self.ctx.latest.wrote(&self.key, schedule, new.clone());
        }
        for event in events(previous.as_ref(), &new, outcomes) {
            publish_event(&self.ctx.shared.recorder, schedule, &event).await;
        }
        Ok(())
    }

    /// Requeues at `due` by the schedule clock, at the latest after the resync interval.
    fn requeue(&self, due: Option<Timestamp>) -> Action {
        self.ctx.index.set_due(&self.key, due);
        Action::requeue(requeue_after(self.now, due, self.ctx.shared.config.resync))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::ControllerConfig;
    use crate::observe::{ObserverRegistry, Polling, RegistryConfig};
    use crate::runtime::metrics::Metrics;
    use kube::runtime::{reflector, watcher::Event};
    use mithril_api::{ApiKey, ClientConfig, MithrilClient};

    fn schedule(name: &str) -> InstanceSchedule {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mithril.ai/v1alpha1", "kind": "InstanceSchedule",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {
                "project": "demo", "timeZone": "UTC",
                "selector": {"reservationFids": ["res_1"]},
                "windows": [{"start": "08:00", "end": "18:00"}],
            },
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_schedule_deleted_while_the_watch_was_down_is_forgotten_after_the_relist() {
        let registry = ObserverRegistry::new(
            Arc::new(|key: &ApiKey| {
                MithrilClient::new(ClientConfig::new(
                    "http://127.0.0.1:9".parse().unwrap(),
                    key.clone(),
                ))
            }),
            RegistryConfig::default(),
            Polling::Manual,
        );
        let shared = Arc::new(Context::new(
            kube_emulator::Emulator::new().client(),
            registry.clone(),
            None,
            Metrics::new(),
            ControllerConfig::default(),
        ));
        let (store, mut writer) = reflector::store();
        let (kept, gone, unplanned) = (schedule("kept"), schedule("gone"), schedule("unplanned"));
        for event in [
            Event::Init,
            Event::InitApply(kept.clone()),
            Event::InitApply(gone.clone()),
            Event::InitApply(unplanned.clone()),
            Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
        }
        let (wake, mut woken) = mpsc::unbounded_channel();
        let ctx = ScheduleContext::new(shared.clone(), store, wake);
        // Both reconciled: both claim inst_1, each uses its own key's observer.
        let (kept_key, gone_key) = (ObjectRef::from_obj(&kept), ObjectRef::from_obj(&gone));
        let fids = BTreeSet::from(["inst_1".to_owned()]);
        for (schedule, api_key) in [
            (&kept_key, "fkey_keptkeptkeptkept"),
            (&gone_key, "fkey_gonegonegonegone"),
        ] {
            ctx.index
                .record_selection(schedule, fids.clone(), fids.clone());
            ctx.index.set_due(schedule, Some(Timestamp::UNIX_EPOCH));
            let api_key = ApiKey::new(api_key).unwrap();
            shared.uses(&user_of(schedule), &api_key, "proj_1");
            registry.observer(&api_key, "proj_1").unwrap();
        }
        // One got as far as its key and project, never as far as the index.
        let unplanned_key = ApiKey::new("fkey_unplannedunplanned").unwrap();
        shared.uses(
            &user_of(&ObjectRef::from_obj(&unplanned)),
            &unplanned_key,
            "proj_1",
        );
        registry.observer(&unplanned_key, "proj_1").unwrap();
        assert_eq!(registry.observers().len(), 3);

        // Deleted while the watch was down: the relist no longer shows it, no Delete comes.
        for event in [Event::Init, Event::InitApply(kept.clone()), Event::InitDone] {
            writer.apply_watcher_event(&event);
        }
        ctx.forget_vanished(Some("team"));
        assert_eq!(ctx.index.schedules(), std::slice::from_ref(&kept_key));
        assert_eq!(
            ctx.index.due(Timestamp::UNIX_EPOCH),
            std::slice::from_ref(&kept_key)
        );
        // The schedule it conflicted with hears of it; its key's observer stopped.
        assert_eq!(woken.try_recv().ok(), Some(kept_key));
        assert_eq!(registry.observers().len(), 1);
        assert_eq!(shared.usage.len(), 1);
    }

    #[test]
    fn requeues_at_the_instant_due_capped_by_the_resync() {
        let now: Timestamp = "2025-03-24T06:59:00Z".parse().unwrap();
        let resync = Duration::from_secs(300);
        let at = |text: &str| Some(text.parse::<Timestamp>().unwrap());
        assert_eq!(
            requeue_after(now, at("2025-03-24T07:00:00Z"), resync),
            Duration::from_secs(60)
        );
        assert_eq!(
            requeue_after(now, at("2025-03-24T06:59:00.25Z"), resync),
            Duration::from_millis(250)
        );
        assert_eq!(
            requeue_after(now, at("2025-03-24T17:00:00Z"), resync),
            resync
        );
        assert_eq!(requeue_after(now, None, resync), resync);
        assert_eq!(
            requeue_after(now, at("2025-03-24T06:00:00Z"), resync),
            Duration::ZERO,
            "overdue: at once"
        );
    }
}
