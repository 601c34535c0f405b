//! `InstanceSchedule`: run reserved instances inside time windows and pause them outside.

use super::condition::Condition;
use super::schema::item_description;
use super::secret_ref::ApiKeySecretRef;
use super::time::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `minimumPause` used when the spec does not give one.
pub const DEFAULT_MINIMUM_PAUSE: &str = "1h";

/// Shape of an `HH:MM` time of day, 00:00 to 23:59.
pub const TIME_OF_DAY_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// Shape of a duration: hours, minutes and seconds in that order, e.g. `1h`, `90m`, `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]{1,4}h)?([0-9]{1,6}m)?([0-9]{1,8}s)?$";
/// CEL rule for the shape of a cron expression: five whitespace-separated fields, each a comma
/// list of `*`, a value or a range `a-b` (values may be names: `MON`, `JAN`), each with an optional
/// step `/n`; or an `@` macro. Values, ranges and macro names are checked by the controller.
// No backslashes, so the regex reads the same in CEL's string literal; `\t` is CEL's tab escape.
pub const CRON_SHAPE_RULE: &str = "self.matches('^[ \\t]*(@[A-Za-z]+|([*]|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,([*]|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*([ \\t]+([*]|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,([*]|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*){4})[ \\t]*$')";

/// Shape of an IANA time zone name such as `UTC`, `Europe/Berlin` or `America/Argentina/Buenos_Aires`.
pub const TIME_ZONE_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";

/// Runs reserved Mithril instances inside the given time windows and pauses them outside (paused
/// reserved instances earn a credit).
// kube's derive takes one `printcolumn(...)` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mithril.ai",
    version = "v1alpha1",
    kind = "InstanceSchedule",
    namespaced,
    status = "InstanceScheduleStatus",
    derive = "PartialEq",
    shortname = "isched",
    category = "mithril",
    selectable = ".spec.project",
    doc = "Pauses and resumes reserved Mithril instances on time windows.",
    printcolumn(
        name = "Wanted",
        type_ = "string",
        json_path = ".status.wantedState",
        description = "State the instances should be in now"
    ),
    printcolumn(
        name = "In State",
        type_ = "string",
        json_path = ".status.inState",
        description = "Instances in the wanted state / instances selected"
    ),
    printcolumn(
        name = "Next Transition",
        type_ = "string",
        json_path = ".status.nextTransitionTime",
        description = "When the wanted state changes next"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Synced")].status"#,
        description = "Whether the schedule is valid and the operator could act on Mithril (the Synced condition)"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether every instance is in the wanted state (the Ready condition)"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct InstanceScheduleSpec {
    /// Mithril project that owns the instances: its name or its `proj_` FID.
    #[schemars(length(min = 1, max = 128))]
    pub project: String,

    /// Which instances the schedule drives: the union of the instances named, the instances of
    /// the reservations named, and the reserved instances matching the filter. At least one must
    /// be given.
    pub selector: InstanceSelector,

    /// IANA time zone the windows are read in, e.g. `Europe/Berlin`. The schema checks only the
    /// shape of the name; the operator checks it against the time zone database and reports an
    /// unknown zone in the `Synced` condition.
    #[schemars(length(max = 64), regex(pattern = TIME_ZONE_PATTERN))]
    pub time_zone: String,

    /// Time windows in which the instances must run; they may overlap (their union counts).
    #[schemars(length(min = 1, max = 64))]
    pub windows: Vec<ScheduleWindow>,

    /// What the instances do outside the windows. `Paused` is the only choice today.
    #[serde(default)]
    pub outside_windows: OutsideWindows,

    /// Stop acting on the instances; they stay as they are until this is set back to false.
    #[serde(default)]
    pub suspend: bool,

    /// Shortest pause worth taking, e.g. `1h` (the default) or `90m`. Shorter pauses earn no
    /// credit, so a gap between windows shorter than this is not paused: the instances keep
    /// running through it. `0m` pauses every gap.
    #[serde(default = "default_minimum_pause")]
    #[schemars(length(min = 2, max = 24), regex(pattern = DURATION_PATTERN))]
    pub minimum_pause: String,

    /// Secret key holding the Mithril API key to act with. Defaults to the operator's own key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<ApiKeySecretRef>,
}

fn default_minimum_pause() -> String {
    DEFAULT_MINIMUM_PAUSE.to_owned()
}

/// Which instances a schedule drives. Every part given adds instances (union).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.instanceFids) || has(self.reservationFids) || has(self.filter)")
    .message("selector must name instanceFids, reservationFids or a filter"))]
#[schemars(extend("minProperties" = 1))]
#[serde(rename_all = "camelCase")]
pub struct InstanceSelector {
    /// Instances by FID (`inst_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 1000),
        inner(regex(pattern = r"^inst_[A-Za-z0-9_-]{1,64}$")),
        transform = item_description("FID of an instance (`inst_...`).")
    )]
    pub instance_fids: Option<Vec<String>>,

    /// Every instance of these reservations, by FID (`res_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 1000),
        inner(regex(pattern = r"^res_[A-Za-z0-9_-]{1,64}$")),
        transform = item_description("FID of a reservation (`res_...`).")
    )]
    pub reservation_fids: Option<Vec<String>>,

    /// Every reserved instance of the project matching all the fields given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<InstanceFilter>,
}

/// Reserved instances matching every field given (at least one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("minProperties" = 1))]
#[serde(rename_all = "camelCase")]
pub struct InstanceFilter {
    /// Instance type name (e.g. `a100-80gb.sxm.8x`) or `it_` FID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub instance_type: Option<String>,

    /// Region, e.g. `eu-central1-a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
}

/// One run window, in one of two forms:
/// `start` and `end` (`HH:MM`, local time) on the given `days` (every day when absent), or
/// `cron` (when each run starts) and `duration` (how long it lasts).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new(
    "has(self.cron) ? (has(self.duration) && !has(self.start) && !has(self.end) && !has(self.days)) : (has(self.start) && has(self.end) && !has(self.duration))"
).message("a window is either start and end (with optional days), or cron and duration"))]
#[x_kube(validation = Rule::new("!has(self.start) || !has(self.end) || self.start != self.end")
    .message("a window's start and end must differ; for a whole day use cron \"0 0 * * *\" with duration \"24h\""))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleWindow {
    /// Days on which the window starts; every day when absent. A window that ends past midnight
    /// (e.g. 22:00 to 06:00) belongs to the day it starts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 7), extend("x-kubernetes-list-type" = "set"))]
    pub days: Option<Vec<Weekday>>,

    /// Local start time, `HH:MM` (24-hour). On a day when clocks spring forward, a start inside
    /// the skipped hour moves forward by the length of the skip (02:30 becomes 03:30); on a day
    /// when they fall back, a repeated time means its first occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The fixed length bounds the `start != end` rule's CEL cost: without it a real API server
    // estimates the rule over unbounded strings and refuses the CRD (cost budget exceeded 2x).
    #[schemars(length(min = 5, max = 5), regex(pattern = TIME_OF_DAY_PATTERN))]
    pub start: Option<String>,

    /// Local end time, `HH:MM` (24-hour), read like `start`. An end earlier than the start ends
    /// the window on the next day (22:00 to 06:00 runs overnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 5), regex(pattern = TIME_OF_DAY_PATTERN))]
    pub end: Option<String>,

    /// Cron expression (local time) for when each run starts: five fields, minute (0-59), hour
    /// (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week (0-7, 0 and 7 are
    /// Sunday, or SUN-SAT). Each field is `*`, a value, a range `a-b`, any of these with a step
    /// `/n`, or a comma list of them. When both day fields are restricted, a day matching either
    /// one runs (classic cron). Times skipped by a clock change move forward like `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new(CRON_SHAPE_RULE).message(
        "cron must be five fields: minute hour day-of-month month day-of-week (e.g. \"0 22 * * 6\"), or a macro such as @daily"
    ))]
    pub cron: Option<String>,

    /// How long each cron run lasts in elapsed time, e.g. `10h` or `1h30m` (at least `1s`, at
    /// most `168h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 24), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("!self.matches('^(0+h)?(0+m)?(0+s)?$')")
        .message("duration must be at least 1s"))]
    pub duration: Option<String>,
}

/// A day of the week.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

/// What the selected instances do outside the windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OutsideWindows {
    /// Pause the instances (reserved instances earn a credit while paused).
    #[default]
    Paused,
}

/// The state the instances should be in now: `Running` inside a window, `Paused` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WantedState {
    /// Inside a window (or a gap shorter than the minimum pause): the instances run.
    Running,
    /// Outside every window: the instances are paused.
    Paused,
}

/// What the operator last observed of the schedule and its instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceScheduleStatus {
    /// The state the instances should be in now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted_state: Option<WantedState>,

    /// When the wanted state changes next; absent when it does not change within a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_transition_time: Option<Time>,

    /// The selected instances, as last observed on Mithril.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["fid"]))]
    pub instances: Vec<ScheduledInstance>,

    /// Number of selected instances in the wanted state.
    #[serde(default)]
    pub instances_in_state: i32,

    /// Number of selected instances.
    #[serde(default)]
    pub instances_total: i32,

    /// Instances in the wanted state / instances selected, e.g. `3/4` (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_state: Option<String>,

    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (every instance is in the wanted state) and `Synced` (the schedule is valid and
    /// the operator could act on Mithril).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl InstanceScheduleStatus {
    /// The `inState` column text for the given counts, e.g. `3/4`.
    pub fn in_state_text(in_state: i32, total: i32) -> String {
        format!("{in_state}/{total}")
    }
}

/// One selected instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledInstance {
    /// Mithril instance FID (`inst_...`).
    pub fid: String,
    /// Instance name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Reservation (`res_...`) the instance belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// Mithril instance status last observed, e.g. `STATUS_RUNNING` or `STATUS_PAUSED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The last pause or resume the operator asked for on this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<InstanceAction>,
}

/// A pause or resume the operator asked Mithril for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceAction {
    /// What was asked.
    pub action: ScheduleAction,
    /// When it was asked.
    pub time: Time,
    /// The instance status Mithril answered with (e.g. `STATUS_STOPPING`), or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// An action the schedule takes on an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScheduleAction {
    /// Pause the instance.
    Pause,
    /// Start the paused instance again.
    Resume,
}

/// Why a selector cannot be used, checked in code as well as by the schema (the schema's CEL
/// rules are not enforced by every API server the operator may meet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Nothing selected.
    #[error("selector must name instanceFids, reservationFids or a filter")]
    Empty,
    /// A filter with no field.
    #[error("selector.filter must give instanceType or region")]
    EmptyFilter,
    /// An instance FID without the `inst_` prefix.
    #[error("selector.instanceFids: {0:?} is not an instance FID (inst_...)")]
    NotAnInstanceFid(String),
    /// A reservation FID without the `res_` prefix.
    #[error("selector.reservationFids: {0:?} is not a reservation FID (res_...)")]
    NotAReservationFid(String),
}

impl InstanceSelector {
    /// Checks that the selector names something and that the FIDs have the right prefixes.
    pub fn validate(&self) -> Result<(), SelectorError> {
        let instance_fids = self.instance_fids.as_deref().unwrap_or_default();
        let reservation_fids = self.reservation_fids.as_deref().unwrap_or_default();
        if instance_fids.is_empty() && reservation_fids.is_empty() && self.filter.is_none() {
            return Err(SelectorError::Empty);
        }
        if let Some(filter) = &self.filter
            && filter.instance_type.is_none()
            && filter.region.is_none()
        {
            return Err(SelectorError::EmptyFilter);
        }
        if let Some(fid) = instance_fids
            .iter()
            .find(|fid| !has_fid_prefix(fid, "inst_"))
        {
            return Err(SelectorError::NotAnInstanceFid(fid.clone()));
        }
        if let Some(fid) = reservation_fids
            .iter()
            .find(|fid| !has_fid_prefix(fid, "res_"))
        {
            return Err(SelectorError::NotAReservationFid(fid.clone()));
        }
        Ok(())
    }
}

fn has_fid_prefix(fid: &str, prefix: &str) -> bool {
    fid.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fids(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn empty_selectors_are_rejected() {
        assert_eq!(
            InstanceSelector::default().validate(),
            Err(SelectorError::Empty)
        );
        let empty_lists = InstanceSelector {
            instance_fids: Some(vec![]),
            reservation_fids: Some(vec![]),
            filter: None,
        };
        assert_eq!(empty_lists.validate(), Err(SelectorError::Empty));
        let empty_filter = InstanceSelector {
            filter: Some(InstanceFilter::default()),
            ..Default::default()
        };
        assert_eq!(empty_filter.validate(), Err(SelectorError::EmptyFilter));
    }

    #[test]
    fn fid_prefixes_are_checked() {
        let wrong = InstanceSelector {
            instance_fids: fids(&["inst_a1", "res_b2"]),
            ..Default::default()
        };
        assert_eq!(
            wrong.validate(),
            Err(SelectorError::NotAnInstanceFid("res_b2".into()))
        );
        let wrong = InstanceSelector {
            reservation_fids: fids(&["res_"]),
            ..Default::default()
        };
        assert_eq!(
            wrong.validate(),
            Err(SelectorError::NotAReservationFid("res_".into()))
        );
    }

    #[test]
    fn any_one_part_is_enough() {
        let by_instance = InstanceSelector {
            instance_fids: fids(&["inst_a1"]),
            ..Default::default()
        };
        let by_reservation = InstanceSelector {
            reservation_fids: fids(&["res_r1"]),
            ..Default::default()
        };
        let by_filter = InstanceSelector {
            filter: Some(InstanceFilter {
                region: Some("eu-central1-a".into()),
                instance_type: None,
            }),
            ..Default::default()
        };
        for selector in [by_instance, by_reservation, by_filter] {
            assert_eq!(selector.validate(), Ok(()));
        }
    }
}
