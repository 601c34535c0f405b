//! Which instances each schedule selects, and which instances more than one schedule claims.
//!
//! Pure. Two schedules driving the same instance would flap it: one pauses what the other
//! resumes, and every flip costs the instance a stop and a boot. So an instance claimed by more
//! than one schedule is left alone by all of them, and each reports the conflict, until the
//! selectors no longer overlap. The rule looks only at the selections, never at which schedule
//! acted first or reconciled last, so every schedule reaches the same verdict in any order.

use crate::crd::InstanceSelector;
use jiff::Timestamp;
use mithril_api::{Instance, InstanceStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Whether an instance has ended (or is ending) for good: no pause or resume applies to it.
pub fn has_ended(status: &InstanceStatus) -> bool {
    matches!(
        status,
        InstanceStatus::Terminated
            | InstanceStatus::Replaced
            | InstanceStatus::Preempted
            | InstanceStatus::Preempting
    )
}

/// A schedule, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScheduleRef {
    pub namespace: String,
    pub name: String,
}

impl ScheduleRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ScheduleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The instances a schedule's selector picks out of one project's instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection<'a> {
    /// Selected instances, sorted by FID, each once.
    pub instances: Vec<&'a Instance>,
    /// FIDs the selector names in `instanceFids` that the listing does not show.
    pub missing: Vec<String>,
}

impl Selection<'_> {
    /// The FIDs this selection claims: instances that have not ended. An ended instance can no
    /// longer be paused or resumed, so two schedules naming it do not compete for anything.
    pub fn claimed_fids(&self) -> BTreeSet<String> {
        self.instances
            .iter()
            .filter(|instance| !has_ended(&instance.status))
            .map(|instance| instance.fid.clone())
            .collect()
    }
}

/// Applies a selector to a project's instances (the union of its three parts).
///
/// - `instanceFids`: those instances, whatever their kind or status (a named spot or ended
///   instance is shown to the user rather than silently dropped).
/// - `reservationFids`: the live instances of those reservations.
/// - `filter`: the live *reserved* instances matching every field given. When the filter names
///   an instance type, `instance_type_fid` must be that type resolved to its `it_` FID (a FID in
///   the spec resolves to itself); with `None` the filter matches nothing, so an unresolved name
///   can never widen the selection to every type.
pub fn select<'a>(
    selector: &InstanceSelector,
    instance_type_fid: Option<&str>,
    instances: &'a [Instance],
) -> Selection<'a> {
    let named: BTreeSet<&str> = selector
        .instance_fids
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let reservations: BTreeSet<&str> = selector
        .reservation_fids
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let matches_filter = |instance: &Instance| {
        let Some(filter) = &selector.filter else {
            return false;
        };
        let type_matches = match &filter.instance_type {
            None => true,
            Some(_) => instance_type_fid.is_some_and(|fid| fid == instance.instance_type),
        };
        let region_matches = filter
            .region
            .as_ref()
            .is_none_or(|region| instance.region.as_deref() == Some(region.as_str()));
        instance.reservation.is_some() && instance.bid.is_none() && type_matches && region_matches
    };
    let mut selected: BTreeMap<&str, &'a Instance> = BTreeMap::new();
    for instance in instances {
        let by_name = named.contains(instance.fid.as_str());
        let live = !has_ended(&instance.status);
        let by_reservation = live
            && instance
                .reservation
                .as_deref()
                .is_some_and(|reservation| reservations.contains(reservation));
        if by_name || by_reservation || (live && matches_filter(instance)) {
            selected.insert(instance.fid.as_str(), instance);
        }
    }
    let missing = named
        .iter()
        .filter(|fid| !selected.contains_key(*fid))
        .map(|fid| (*fid).to_owned())
        .collect();
    Selection {
        instances: selected.into_values().collect(),
        missing,
    }
}

/// One schedule's claim on instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub schedule: ScheduleRef,
    /// The schedule's creation time: claimants are listed oldest first.
    pub created: Timestamp,
    /// The instances it selects (see [`Selection::claimed_fids`]).
    pub fids: BTreeSet<String>,
}

/// The instances claimed by more than one schedule, with every claimant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conflicts {
    /// FID -> claimants (at least two), oldest first, then by namespace and name.
    claimants: BTreeMap<String, Vec<ScheduleRef>>,
}

impl Conflicts {
    /// Finds the instances claimed more than once. Every schedule's claim counts: whichever is
    /// suspended, newer or failing, none may drive an instance another also selects.
    pub fn find(claims: &[Claim]) -> Self {
        let mut ordered: Vec<&Claim> = claims.iter().collect();
        ordered.sort_by(|a, b| (a.created, &a.schedule).cmp(&(b.created, &b.schedule)));
        let mut by_fid: BTreeMap<String, Vec<ScheduleRef>> = BTreeMap::new();
        for claim in ordered {
            for fid in &claim.fids {
                let claimants = by_fid.entry(fid.clone()).or_default();
                // The same schedule listed twice is one claimant, not a conflict with itself.
                if !claimants.contains(&claim.schedule) {
                    claimants.push(claim.schedule.clone());
                }
            }
        }
        by_fid.retain(|_, claimants| claimants.len() > 1);
        Self { claimants: by_fid }
    }

    /// Whether no instance is claimed twice.
    pub fn is_empty(&self) -> bool {
        self.claimants.is_empty()
    }

    /// Every schedule claiming `fid`, when more than one does (empty otherwise).
    pub fn claimants(&self, fid: &str) -> &[ScheduleRef] {
        self.claimants
            .get(fid)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The contested instances `schedule` claims, each with the *other* claimants: the
    /// `claimed_elsewhere` input of [`super::plan::plan`].
    pub fn claimed_elsewhere(&self, schedule: &ScheduleRef) -> BTreeMap<String, Vec<ScheduleRef>> {
        self.claimants
            .iter()
            .filter(|(_, claimants)| claimants.contains(schedule))
            .map(|(fid, claimants)| {
                let others = claimants
                    .iter()
                    .filter(|other| *other != schedule)
                    .cloned()
                    .collect();
                (fid.clone(), others)
            })
            .collect()
    }

    /// Every contested instance with its claimants, by FID.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[ScheduleRef])> {
        self.claimants
            .iter()
            .map(|(fid, claimants)| (fid.as_str(), claimants.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::{reserved_instance, spot_instance};
    use crate::crd::InstanceFilter;
    use mithril_api::InstanceStatus;

    fn instance(fid: &str, reservation: Option<&str>, status: InstanceStatus) -> Instance {
        match reservation {
            Some(reservation) => Instance {
                reservation: Some(reservation.into()),
                ..reserved_instance(fid, status)
            },
            None => spot_instance(fid, status),
        }
    }

    fn fleet() -> Vec<Instance> {
        let mut other_type = instance("inst_d", Some("res_2"), InstanceStatus::Running);
        other_type.instance_type = "it_a100".into();
        let mut other_region = instance("inst_e", Some("res_2"), InstanceStatus::Paused);
        other_region.region = Some("eu-central1-a".into());
        vec![
            instance("inst_a", Some("res_1"), InstanceStatus::Running),
            instance("inst_b", Some("res_1"), InstanceStatus::Paused),
            instance("inst_c", Some("res_1"), InstanceStatus::Terminated),
            other_type,
            other_region,
            instance("inst_spot", None, InstanceStatus::Running),
        ]
    }

    fn fids<'a>(selection: &'a Selection<'a>) -> Vec<&'a str> {
        selection
            .instances
            .iter()
            .map(|instance| instance.fid.as_str())
            .collect()
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn claim(namespace: &str, name: &str, created: i64, fids: &[&str]) -> Claim {
        Claim {
            schedule: ScheduleRef::new(namespace, name),
            created: at(created),
            fids: fids.iter().map(|fid| (*fid).to_owned()).collect(),
        }
    }

    #[test]
    fn reservation_selects_its_live_instances() {
        let instances = fleet();
        let selector = InstanceSelector {
            reservation_fids: Some(vec!["res_1".into()]),
            ..Default::default()
        };
        let selection = select(&selector, None, &instances);
        assert_eq!(fids(&selection), ["inst_a", "inst_b"]);
        assert!(selection.missing.is_empty());
    }

    #[test]
    fn named_instances_are_kept_whatever_they_are_and_missing_ones_reported() {
        let instances = fleet();
        let selector = InstanceSelector {
            instance_fids: Some(vec![
                "inst_spot".into(),
                "inst_c".into(),
                "inst_gone".into(),
            ]),
            ..Default::default()
        };
        let selection = select(&selector, None, &instances);
        assert_eq!(fids(&selection), ["inst_c", "inst_spot"]);
        assert_eq!(selection.missing, ["inst_gone"]);
        // The ended instance is shown but claims nothing.
        assert_eq!(
            selection.claimed_fids(),
            BTreeSet::from(["inst_spot".to_owned()])
        );
    }

    #[test]
    fn filter_takes_live_reserved_instances_matching_every_field() {
        let instances = fleet();
        let selector = InstanceSelector {
            filter: Some(InstanceFilter {
                instance_type: Some("h100-80gb.sxm.8x".into()),
                region: Some("us-central1-a".into()),
            }),
            ..Default::default()
        };
        let selection = select(&selector, Some("it_h100"), &instances);
        assert_eq!(fids(&selection), ["inst_a", "inst_b"]);
        let by_region = InstanceSelector {
            filter: Some(InstanceFilter {
                instance_type: None,
                region: Some("eu-central1-a".into()),
            }),
            ..Default::default()
        };
        assert_eq!(fids(&select(&by_region, None, &instances)), ["inst_e"]);
    }

    #[test]
    fn an_unresolved_instance_type_matches_nothing() {
        let instances = fleet();
        let selector = InstanceSelector {
            filter: Some(InstanceFilter {
                instance_type: Some("no-such-type".into()),
                region: None,
            }),
            ..Default::default()
        };
        assert!(select(&selector, None, &instances).instances.is_empty());
    }

    #[test]
    fn parts_are_unioned_without_duplicates() {
        let instances = fleet();
        let selector = InstanceSelector {
            instance_fids: Some(vec!["inst_a".into(), "inst_d".into()]),
            reservation_fids: Some(vec!["res_1".into()]),
            filter: Some(InstanceFilter {
                instance_type: Some("it_a100".into()),
                region: None,
            }),
        };
        let selection = select(&selector, Some("it_a100"), &instances);
        assert_eq!(fids(&selection), ["inst_a", "inst_b", "inst_d"]);
    }

    #[test]
    fn an_instance_claimed_twice_is_a_conflict_for_both() {
        let conflicts = Conflicts::find(&[
            claim("team-a", "nights", 100, &["inst_a", "inst_b"]),
            claim("team-b", "weekends", 50, &["inst_b", "inst_c"]),
        ]);
        let nights = ScheduleRef::new("team-a", "nights");
        let weekends = ScheduleRef::new("team-b", "weekends");
        // Oldest first.
        assert_eq!(
            conflicts.claimants("inst_b"),
            [weekends.clone(), nights.clone()]
        );
        assert!(conflicts.claimants("inst_a").is_empty());
        assert_eq!(
            conflicts.claimed_elsewhere(&nights),
            BTreeMap::from([("inst_b".to_owned(), vec![weekends.clone()])])
        );
        assert_eq!(
            conflicts.claimed_elsewhere(&weekends),
            BTreeMap::from([("inst_b".to_owned(), vec![nights])])
        );
    }

    #[test]
    fn the_verdict_does_not_depend_on_the_order_of_claims() {
        let claims = vec![
            claim("a", "one", 10, &["inst_x", "inst_y"]),
            claim("b", "two", 10, &["inst_y", "inst_z"]),
            claim("c", "three", 5, &["inst_y", "inst_z"]),
        ];
        let mut reversed = claims.clone();
        reversed.reverse();
        let forward = Conflicts::find(&claims);
        assert_eq!(forward, Conflicts::find(&reversed));
        assert_eq!(
            forward.claimants("inst_y"),
            [
                ScheduleRef::new("c", "three"),
                ScheduleRef::new("a", "one"),
                ScheduleRef::new("b", "two"),
            ]
        );
        let contested: Vec<&str> = forward.iter().map(|(fid, _)| fid).collect();
        assert_eq!(contested, ["inst_y", "inst_z"]);
    }

    #[test]
    fn disjoint_selections_and_repeated_claims_are_no_conflict() {
        let conflicts = Conflicts::find(&[
            claim("a", "one", 0, &["inst_x"]),
            claim("a", "one", 0, &["inst_x"]),
            claim("b", "two", 0, &["inst_y"]),
        ]);
        assert!(conflicts.is_empty());
        assert!(
            conflicts
                .claimed_elsewhere(&ScheduleRef::new("a", "one"))
                .is_empty()
        );
    }
}
