//! The InstanceSchedule planner: from the wanted state and the instances as observed, the
//! batched pauses or resumes to send, what is left alone and why, and when to look again.
//!
//! Pure: no IO, no clock. The reconcile evaluates the windows, lists the project's instances
//! (one paged `GET /v2/instances`), selects this schedule's instances, finds the ones other
//! schedules also claim, calls [`plan`], sends each [`Action`] as one `PATCH /v2/instances`,
//! and reports.
//!
//! How each observed status is read, for each wanted state:
//!
//! | observed                                   | wanted `Paused`        | wanted `Running`       |
//! |--------------------------------------------|------------------------|------------------------|
//! | `PAUSED`                                   | in state               | resume                 |
//! | `STOPPING`                                 | on its way             | wait until paused (409)|
//! | `RUNNING`                                  | pause                  | in state               |
//! | `NEW` `CONFIRMED` `INITIALIZING` `STARTING`| wait until running(409)| on its way             |
//! | `RELOCATING`                               | wait (409)             | on its way             |
//! | `TERMINATED` `REPLACED` `PREEMPTED` `PREEMPTING` | gone: skipped, not counted | same          |
//! | `ERROR`                                    | skipped: Mithril can neither pause nor resume it | same |
//! | a status this operator does not know       | skipped: never act on what is not understood | same |
//!
//! Instances Mithril would answer 409 for are not sent: one such instance fails the whole batch
//! (Mithril applies a batch entirely or not at all), which would hold back every other instance.

use super::conflicts::{ScheduleRef, has_ended};
use super::windows::{Evaluation, ScheduleError};
use crate::controller::error::Problem;
use crate::crd::{Reason, ScheduleAction, ScheduledInstance, SelectorError, Time, WantedState};
use jiff::{SignedDuration, Timestamp};
use mithril_api::{Instance, InstanceStatus, InstanceTargetStatus, PatchInstancesRequest};
use std::collections::BTreeMap;
use std::fmt;

/// Why a schedule's spec cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The windows, time zone or minimum pause.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The selector.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// A name the spec gives that Mithril does not know (project, instance type).
    #[error("{field}: {reason}")]
    Unresolved { field: String, reason: String },
}

/// An invalid spec is the user's problem, reported as `InvalidSpec` with the field it names.
impl From<SpecError> for Problem {
    fn from(error: SpecError) -> Self {
        Problem::new(Reason::InvalidSpec, error.to_string())
    }
}

/// Whether `text` (an error detail) names `fid` as a whole word: `inst_a` is not named by
/// `inst_ab`.
pub fn mentions(text: &str, fid: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .any(|word| word == fid)
}

/// The instance status that means "in the wanted state".
pub fn target_status(wanted: WantedState) -> InstanceStatus {
    match wanted {
        WantedState::Running => InstanceStatus::Running,
        WantedState::Paused => InstanceStatus::Paused,
    }
}

/// The status an action moves an instance away from. Mithril answering with it means the instance
/// did not move: "if an instance cannot be stopped, its prior status is returned unchanged".
pub fn unmoved_status(action: ScheduleAction) -> InstanceStatus {
    match action {
        ScheduleAction::Pause => InstanceStatus::Running,
        ScheduleAction::Resume => InstanceStatus::Paused,
    }
}

/// The action that moves an instance toward `wanted`.
pub fn action_toward(wanted: WantedState) -> ScheduleAction {
    match wanted {
        WantedState::Running => ScheduleAction::Resume,
        WantedState::Paused => ScheduleAction::Pause,
    }
}

/// An exponential backoff: `base`, doubling per consecutive failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: SignedDuration,
    pub max: SignedDuration,
}

impl Backoff {
    /// The wait after the `attempt`-th consecutive failure (1 for the first).
    pub fn delay(&self, attempt: u32) -> SignedDuration {
        let doublings = attempt.saturating_sub(1).min(30);
        let factor = 1i32 << doublings;
        self.base
            .checked_mul(factor)
            .map_or(self.max, |delay| delay.min(self.max))
    }
}

/// Tunables of the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// Most FIDs in one `PATCH /v2/instances`; larger sets are split.
    pub max_batch: usize,
    /// How soon to look again while instances are between states (STOPPING, CONFIRMED, ...),
    /// should no instance change arrive earlier.
    pub recheck: SignedDuration,
    /// After 409: the instance was not ready (a race with a state change).
    pub not_ready: Backoff,
    /// After 404: Mithril no longer knows an instance the listing still showed.
    pub not_found: Backoff,
    /// After 422: Mithril rejected the request; the same request is not worth sending often.
    pub rejected: Backoff,
    /// After a server error, rate limit or network failure that the client's retries did not
    /// overcome.
    pub unavailable: Backoff,
    /// After Mithril answered an instance's prior status unchanged: it cannot move now, and
    /// asking every cycle would not change that.
    pub unchanged: Backoff,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            max_batch: 100,
            recheck: SignedDuration::from_secs(30),
            not_ready: Backoff {
                base: SignedDuration::from_secs(15),
                max: SignedDuration::from_mins(5),
            },
            not_found: Backoff {
                base: SignedDuration::from_mins(1),
                max: SignedDuration::from_mins(30),
            },
            rejected: Backoff {
                base: SignedDuration::from_mins(5),
                max: SignedDuration::from_hours(1),
            },
            unavailable: Backoff {
                base: SignedDuration::from_secs(10),
                max: SignedDuration::from_mins(5),
            },
            unchanged: Backoff {
                base: SignedDuration::from_mins(1),
                max: SignedDuration::from_hours(1),
            },
        }
    }
}

impl PlanSettings {
    /// The backoff after a failure of this kind.
    ///
    /// A 501 that names the instance is never retried (the planner skips it as spot). One that
    /// named no single instance of its batch says only that *some* instance there is spot, so
    /// the batch waits as long as after a rejection rather than being skipped for good.
    pub fn backoff(&self, failure: PatchFailure) -> Backoff {
        match failure {
            PatchFailure::NotReady => self.not_ready,
            PatchFailure::NotFound => self.not_found,
            PatchFailure::Rejected | PatchFailure::SpotInstance => self.rejected,
            PatchFailure::Unavailable => self.unavailable,
            PatchFailure::Unchanged => self.unchanged,
        }
    }
}

/// How Mithril refused a pause or resume of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatchFailure {
    /// 409: not ready for this operation yet.
    NotReady,
    /// 404: the instance does not exist (any more).
    NotFound,
    /// 501: a spot instance.
    SpotInstance,
    /// 422: the request was rejected as invalid.
    Rejected,
    /// 200, but the answer shows the instance's prior status: Mithril did not move it (e.g. an
    /// instance that cannot be stopped).
    Unchanged,
    /// No answer that settles it: server error, rate limit, network.
    Unavailable,
}

impl PatchFailure {
    /// Every kind, in the order their reasons rank in the `Synced` condition.
    pub const ALL: [PatchFailure; 6] = [
        PatchFailure::SpotInstance,
        PatchFailure::NotFound,
        PatchFailure::Rejected,
        PatchFailure::Unchanged,
        PatchFailure::Unavailable,
        PatchFailure::NotReady,
    ];

    /// The condition and event reason.
    pub fn reason(self) -> Reason {
        match self {
            PatchFailure::NotReady => Reason::NotReady,
            PatchFailure::NotFound => Reason::InstanceNotFound,
            PatchFailure::SpotInstance => Reason::SpotInstance,
            PatchFailure::Rejected => Reason::RequestRejected,
            PatchFailure::Unchanged => Reason::StatusUnchanged,
            PatchFailure::Unavailable => Reason::MithrilUnavailable,
        }
    }

    /// The UpperCamelCase code written in status: the reason's wire form.
    pub fn code(self) -> &'static str {
        self.reason().as_str()
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|failure| failure.code() == code)
    }
}

impl fmt::Display for PatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The longest failure detail kept in status, in characters.
const DETAIL_CHARS: usize = 240;

/// What a pause or resume led to, as written in `lastAction.outcome`.
///
/// The text is `STATUS_...` (Mithril's answer) for an accepted action, and
/// `Code (attempt N): detail` for a refused one; the attempt count carries the backoff across
/// reconciles without any state outside the resource's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Mithril accepted the request and answered with the instance's new status.
    Accepted(InstanceStatus),
    /// Mithril refused it, for the `attempt`-th time in a row.
    Failed {
        failure: PatchFailure,
        attempt: u32,
        detail: String,
    },
}

impl ActionOutcome {
    /// A refusal, with the detail shortened to what status can hold.
    pub fn failed(failure: PatchFailure, attempt: u32, detail: &str) -> Self {
        let detail = match detail.char_indices().nth(DETAIL_CHARS) {
            Some((cut, _)) => format!("{}...", &detail[..cut]),
            None => detail.to_owned(),
        };
        Self::Failed {
            failure,
            attempt: attempt.max(1),
            detail,
        }
    }

    /// The `outcome` text.
    pub fn to_text(&self) -> String {
        match self {
            ActionOutcome::Accepted(status) => status.to_string(),
            ActionOutcome::Failed {
                failure,
                attempt,
                detail,
            } => format!("{} (attempt {attempt}): {detail}", failure.code()),
        }
    }

    /// Reads an `outcome` text back; `None` for text this operator did not write.
    pub fn parse(text: &str) -> Option<Self> {
        if text.starts_with("STATUS_") {
            return Some(ActionOutcome::Accepted(InstanceStatus::from(text)));
        }
        let (code, rest) = text.split_once(" (attempt ")?;
        let (attempt, detail) = rest.split_once("): ")?;
        Some(ActionOutcome::Failed {
            failure: PatchFailure::from_code(code)?,
            attempt: attempt.parse().ok()?,
            detail: detail.to_owned(),
        })
    }
}

/// The last action status records for an instance, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAction {
    pub action: ScheduleAction,
    pub time: Time,
    pub outcome: Option<ActionOutcome>,
}

impl LastAction {
    /// The last action recorded in a status entry, if any.
    pub fn of(instance: &ScheduledInstance) -> Option<Self> {
        instance.last_action.as_ref().map(|last| LastAction {
            action: last.action,
            time: last.time,
            outcome: last.outcome.as_deref().and_then(ActionOutcome::parse),
        })
    }
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The windows' verdict at `now`.
    pub evaluation: Evaluation,
    /// `spec.suspend`: plan nothing.
    pub suspend: bool,
    /// The selected instances as observed (see [`super::conflicts::select`]).
    pub instances: &'a [&'a Instance],
    /// FIDs the selector names that Mithril does not show.
    pub missing: &'a [String],
    /// Selected instances other schedules also claim, with those schedules.
    pub claimed_elsewhere: &'a BTreeMap<String, Vec<ScheduleRef>>,
    /// The instances as the previous status recorded them (for their last actions).
    pub previous: &'a [ScheduledInstance],
    /// When the instance listing was taken: actions recorded at or after it are newer than
    /// what `instances` shows.
    pub observed_at: Timestamp,
    pub now: Timestamp,
}

/// Why an instance is left alone for good (until the spec or the instance changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A spot instance: Mithril pauses only reserved instances (501). A configuration error.
    SpotInstance,
    /// Other schedules select it too; no schedule drives it.
    Conflict { with: Vec<ScheduleRef> },
    /// Ended or ending (terminated, replaced, preempted): nothing to drive.
    Gone,
    /// Named by the selector but not shown by Mithril.
    NotFound,
    /// In `STATUS_ERROR`: Mithril can neither pause nor resume it.
    Failed,
    /// A status this operator does not know.
    UnknownStatus,
}

/// Why an instance that needs an action does not get one now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Between states; Mithril would answer 409 until it settles.
    Settling,
    /// The last attempt failed; the next one is due at `until`.
    BackingOff {
        failure: PatchFailure,
        until: Timestamp,
    },
    /// `spec.suspend` is set.
    Suspended,
}

/// What the planner decided for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Already in the wanted state.
    InState,
    /// On its way to the wanted state (by itself, or after a request Mithril accepted).
    Moving,
    /// In this reconcile's batch for the action.
    Act(ScheduleAction),
    /// Needs the action, later.
    Wait(WaitReason),
    /// Left alone.
    Skip(SkipReason),
}

/// One selected instance and the decision for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInstance {
    pub fid: String,
    pub name: Option<String>,
    pub reservation: Option<String>,
    /// The spot bid, for a spot instance.
    pub bid: Option<String>,
    /// As observed; `None` when Mithril does not show the instance.
    pub status: Option<InstanceStatus>,
    pub disposition: Disposition,
}

impl PlannedInstance {
    /// Whether the instance counts toward `inState/total`: it exists and has not ended.
    pub fn counts(&self) -> bool {
        !matches!(
            self.disposition,
            Disposition::Skip(SkipReason::Gone | SkipReason::NotFound)
        )
    }
}

/// One `PATCH /v2/instances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pause these instances (`STATUS_PAUSED`).
    Pause(Vec<String>),
    /// Resume these instances (`STATUS_RUNNING`).
    Resume(Vec<String>),
}

impl Action {
    fn new(action: ScheduleAction, fids: Vec<String>) -> Self {
        match action {
            ScheduleAction::Pause => Action::Pause(fids),
            ScheduleAction::Resume => Action::Resume(fids),
        }
    }

    /// Which way it moves the instances.
    pub fn kind(&self) -> ScheduleAction {
        match self {
            Action::Pause(_) => ScheduleAction::Pause,
            Action::Resume(_) => ScheduleAction::Resume,
        }
    }

    /// The instances, sorted.
    pub fn fids(&self) -> &[String] {
        match self {
            Action::Pause(fids) | Action::Resume(fids) => fids,
        }
    }

    /// The request body.
    pub fn request(&self) -> PatchInstancesRequest {
        let status = match self.kind() {
            ScheduleAction::Pause => InstanceTargetStatus::Paused,
            ScheduleAction::Resume => InstanceTargetStatus::Running,
        };
        PatchInstancesRequest::new(self.fids().iter().cloned(), status)
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulePlan {
    pub wanted: WantedState,
    pub next_transition: Option<Timestamp>,
    pub suspended: bool,
    /// Every selected instance (and every named one Mithril does not show), sorted by FID.
    pub instances: Vec<PlannedInstance>,
    /// The requests to send, all in the one direction `wanted` asks for, each at most
    /// [`PlanSettings::max_batch`] instances. Empty when suspended.
    pub actions: Vec<Action>,
    /// When to reconcile again: the next transition, the end of a backoff, or a recheck of
    /// instances between states, whichever comes first. The reconcile caps it with its resync.
    pub requeue_at: Option<Timestamp>,
}

impl SchedulePlan {
    /// The instances left alone for good, with the reason.
    pub fn skipped(&self) -> impl Iterator<Item = (&PlannedInstance, &SkipReason)> {
        self.instances
            .iter()
            .filter_map(|instance| match &instance.disposition {
                Disposition::Skip(reason) => Some((instance, reason)),
                _ => None,
            })
    }

    /// The planned instance with this FID.
    pub fn instance(&self, fid: &str) -> Option<&PlannedInstance> {
        self.instances
            .binary_search_by(|instance| instance.fid.as_str().cmp(fid))
            .ok()
            .and_then(|index| self.instances.get(index))
    }
}

/// Plans with the default settings.
pub fn plan(input: &PlanInput<'_>) -> SchedulePlan {
    plan_with(input, &PlanSettings::default())
}

/// Plans one reconcile of a schedule.
pub fn plan_with(input: &PlanInput<'_>, settings: &PlanSettings) -> SchedulePlan {
    let wanted = input.evaluation.wanted;
    let previous: BTreeMap<&str, &ScheduledInstance> = input
        .previous
        .iter()
        .map(|instance| (instance.fid.as_str(), instance))
        .collect();
    let mut instances: Vec<PlannedInstance> = input
        .instances
        .iter()
        .map(|instance| {
            let last = previous
                .get(instance.fid.as_str())
                .and_then(|p| LastAction::of(p));
            PlannedInstance {
                fid: instance.fid.clone(),
                name: Some(instance.name.clone()),
                reservation: instance.reservation.clone(),
                bid: instance.bid.clone(),
                status: Some(instance.status.clone()),
                disposition: decide(instance, last.as_ref(), input, settings),
            }
        })
        .collect();
    instances.extend(input.missing.iter().map(|fid| {
        PlannedInstance {
            fid: fid.clone(),
            name: previous.get(fid.as_str()).and_then(|p| p.name.clone()),
            reservation: previous
                .get(fid.as_str())
                .and_then(|p| p.reservation.clone()),
            bid: None,
            status: None,
            disposition: Disposition::Skip(SkipReason::NotFound),
        }
    }));
    instances.sort_by(|a, b| a.fid.cmp(&b.fid));
    instances.dedup_by(|a, b| a.fid == b.fid);

    let action = action_toward(wanted);
    let due: Vec<String> = instances
        .iter()
        .filter(|instance| instance.disposition == Disposition::Act(action))
        .map(|instance| instance.fid.clone())
        .collect();
    let actions = due
        .chunks(settings.max_batch.max(1))
        .map(|chunk| Action::new(action, chunk.to_vec()))
        .collect();

    let requeue_at = requeue_at(&instances, input, settings);
    SchedulePlan {
        wanted,
        next_transition: input.evaluation.next_transition,
        suspended: input.suspend,
        instances,
        actions,
        requeue_at,
    }
}

fn decide(
    instance: &Instance,
    last: Option<&LastAction>,
    input: &PlanInput<'_>,
    settings: &PlanSettings,
) -> Disposition {
    use InstanceStatus as S;
    // Mithril answered 501 naming this instance: it is spot whatever the listing says. A 501
    // for a batch that named no single instance only backs the batch off (see `backoff`).
    let said_spot = last.is_some_and(|last| match &last.outcome {
        Some(ActionOutcome::Failed {
            failure: PatchFailure::SpotInstance,
            detail,
            ..
        }) => mentions(detail, &instance.fid),
        _ => false,
    });
    if instance.bid.is_some() || said_spot {
        return Disposition::Skip(SkipReason::SpotInstance);
    }
    if let Some(others) = input.claimed_elsewhere.get(&instance.fid) {
        return Disposition::Skip(SkipReason::Conflict {
            with: others.clone(),
        });
    }
    let wanted = input.evaluation.wanted;
    let toward = match (&instance.status, wanted) {
        (status, _) if has_ended(status) => return Disposition::Skip(SkipReason::Gone),
        (S::Error, _) => return Disposition::Skip(SkipReason::Failed),
        (S::Unknown(_), _) => return Disposition::Skip(SkipReason::UnknownStatus),
        (S::Paused, WantedState::Paused) | (S::Running, WantedState::Running) => {
            return Disposition::InState;
        }
        (S::Stopping, WantedState::Paused)
        | (
            S::New | S::Confirmed | S::Initializing | S::Starting | S::Relocating,
            WantedState::Running,
        ) => return Disposition::Moving,
        (S::Stopping, WantedState::Running)
        | (
            S::New | S::Confirmed | S::Initializing | S::Starting | S::Relocating,
            WantedState::Paused,
        ) => return Disposition::Wait(WaitReason::Settling),
        (S::Running, WantedState::Paused) => ScheduleAction::Pause,
        (S::Paused, WantedState::Running) => ScheduleAction::Resume,
        // Only the ended statuses reach here, and the first arm took them.
        _ => return Disposition::Skip(SkipReason::Gone),
    };
    if input.suspend {
        return Disposition::Wait(WaitReason::Suspended);
    }
    match last {
        Some(last) if last.action == toward => match &last.outcome {
            // Accepted after the listing was taken: the listing predates it, the instance is
            // on its way; asking again would only repeat the request.
            Some(ActionOutcome::Accepted(_)) if last.time >= Time::new(input.observed_at) => {
                Disposition::Moving
            }
            Some(ActionOutcome::Failed {
                failure, attempt, ..
            }) => {
                let delay = settings.backoff(*failure).delay(*attempt);
                let until = last.time.timestamp().checked_add(delay).ok();
                match until {
                    Some(until) if input.now < until => Disposition::Wait(WaitReason::BackingOff {
                        failure: *failure,
                        until,
                    }),
                    _ => Disposition::Act(toward),
                }
            }
            _ => Disposition::Act(toward),
        },
        _ => Disposition::Act(toward),
    }
}

fn requeue_at(
    instances: &[PlannedInstance],
    input: &PlanInput<'_>,
    settings: &PlanSettings,
) -> Option<Timestamp> {
    if input.suspend {
        // Nothing is sent while suspended: only the wanted state shown in status changes.
        return input.evaluation.next_transition;
    }
    let recheck = input.now.checked_add(settings.recheck).ok();
    let mut candidates = vec![input.evaluation.next_transition];
    for instance in instances {
        candidates.push(match &instance.disposition {
            Disposition::Moving | Disposition::Act(_) | Disposition::Wait(WaitReason::Settling) => {
                // Follow the instance until it settles (STOPPING -> PAUSED, CONFIRMED ->
                // RUNNING), then send what it was waiting for.
                recheck
            }
            Disposition::Wait(WaitReason::BackingOff { until, .. }) => Some(*until),
            Disposition::InState
            | Disposition::Wait(WaitReason::Suspended)
            | Disposition::Skip(_) => None,
        });
    }
    candidates.into_iter().flatten().min()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
