//! The orphan sweeper's decision: live bids this cluster placed whose SpotBid is gone. Pure (the
//! time is given); the controller lists and cancels.
//!
//! A bid is an orphan when its name says this operator placed it in this cluster, for a namespace
//! this controller watches, and no SpotBid it knows has the uid the name carries. It is cancelled
//! only after it has stayed so for the whole grace: a create answered late, or a watch behind,
//! resolves long before. Bids of other clusters, legacy names (which do not say their cluster) and
//! names the operator did not make are never touched.

use super::names::parse_bid_name;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// Orphan candidates and since when they have been seen as such.
#[derive(Debug)]
pub struct Sweeper {
    grace: Duration,
    since: HashMap<String, Instant>,
}

/// What one sweep looks at.
pub struct Scope<'a> {
    /// This cluster's name in bid names.
    pub cluster: &'a str,
    /// The namespace this controller watches; `None`: all.
    pub namespace: Option<&'a str>,
    /// Uid tags ([`super::names::uid_tag`]) of every SpotBid this controller knows.
    pub uids: &'a HashSet<String>,
}

impl Sweeper {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            since: HashMap::new(),
        }
    }

    /// The bids to cancel now among `live` (FID, name): orphans seen so for the grace. Forgets
    /// candidates that are no longer orphans (their resource showed up, or they ended).
    pub fn due<'a>(
        &mut self,
        scope: &Scope<'_>,
        live: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Instant,
    ) -> Vec<String> {
        let mut orphans = HashSet::new();
        for (fid, name) in live {
            let Some(parsed) = parse_bid_name(name) else {
                continue;
            };
            let ours = parsed.cluster == Some(scope.cluster)
                && scope.namespace.is_none_or(|ns| ns == parsed.namespace);
            if ours && !scope.uids.contains(parsed.uid) {
                orphans.insert(fid.to_owned());
            }
        }
        self.since.retain(|fid, _| orphans.contains(fid));
        let mut due: Vec<String> = orphans
            .into_iter()
            .filter(|fid| {
                let since = *self.since.entry(fid.clone()).or_insert(now);
                now.saturating_duration_since(since) >= self.grace
            })
            .collect();
        due.sort();
        due
    }

    /// Forgets a bid once cancelled.
    pub fn cancelled(&mut self, fid: &str) {
        self.since.remove(fid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::spot_bid::names::{bid_name, legacy_bid_name, uid_tag};

    const GONE: &str = "0badc0de-0000-4000-8000-000000000000";
    const LIVE: &str = "3f2b8c1e-9d4a-4e5f-8a7b-1c2d3e4f5a6b";

    #[test]
    fn only_this_clusters_bids_without_a_resource_go_and_only_after_the_grace() {
        let uids: HashSet<String> = [uid_tag(LIVE)].into();
        let scope = Scope {
            cluster: "c1",
            namespace: None,
            uids: &uids,
        };
        let orphan = bid_name("c1", "team-a", "gone", GONE);
        let kept = bid_name("c1", "team-a", "live", LIVE);
        let other_cluster = bid_name("c2", "team-a", "gone", GONE);
        let legacy = legacy_bid_name("team-a", "gone", GONE);
        let live = [
            ("bid_orphan", orphan.as_str()),
            ("bid_kept", kept.as_str()),
            ("bid_other", other_cluster.as_str()),
            ("bid_legacy", legacy.as_str()),
            ("bid_hand", "my-training-run"),
        ];
        let mut sweeper = Sweeper::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(sweeper.due(&scope, live, start).is_empty());
        assert!(
            sweeper
                .due(&scope, live, start + Duration::from_secs(59))
                .is_empty()
        );
        assert_eq!(
            sweeper.due(&scope, live, start + Duration::from_secs(60)),
            ["bid_orphan"]
        );
    }

    #[test]
    fn a_candidate_that_finds_its_resource_starts_over() {
        let orphan = bid_name("c1", "team-a", "late", GONE);
        let live = [("bid_late", orphan.as_str())];
        let mut sweeper = Sweeper::new(Duration::from_secs(60));
        let start = Instant::now();
        let none = HashSet::new();
        let scope = |uids| Scope {
            cluster: "c1",
            namespace: None,
            uids,
        };
        assert!(sweeper.due(&scope(&none), live, start).is_empty());
        let found: HashSet<String> = [uid_tag(GONE)].into();
        assert!(
            sweeper
                .due(&scope(&found), live, start + Duration::from_secs(30))
                .is_empty()
        );
        // Gone again: the grace counts from now.
        let later = start + Duration::from_secs(61);
        assert!(sweeper.due(&scope(&none), live, later).is_empty());
        assert_eq!(
            sweeper.due(&scope(&none), live, later + Duration::from_secs(60)),
            ["bid_late"]
        );
    }

    #[test]
    fn a_namespaced_controller_judges_its_own_namespace_only() {
        let elsewhere = bid_name("c1", "team-b", "job", GONE);
        let here = bid_name("c1", "team-a", "job", GONE);
        let live = [("bid_b", elsewhere.as_str()), ("bid_a", here.as_str())];
        let uids = HashSet::new();
        let scope = Scope {
            cluster: "c1",
            namespace: Some("team-a"),
            uids: &uids,
        };
        let mut sweeper = Sweeper::new(Duration::ZERO);
        assert_eq!(sweeper.due(&scope, live, Instant::now()), ["bid_a"]);
    }
}
