//! The Mithril bid name of a SpotBid, and reading one back.
//!
//! The name is a pure function of the resource's identity and the cluster's, so any replica can
//! find a bid it placed (or a lost create placed) again, and the sweeper can tell this cluster's
//! bids whose resource is gone. Mithril does not promise unique names, so the name finds bids; it
//! never stands for exactly one (see [`super::tracking`]). The uid is part of it so that a SpotBid
//! deleted with `Orphan` and created again under the same name gets a bid of its own.

/// Longest name the operator generates; long namespaces and names are shortened, never the uid.
pub const MAX_BID_NAME_LEN: usize = 128;

/// The first segment of names made before names carried the cluster (still recognised).
const LEGACY_PREFIX: &str = "k8s";
/// Characters of the uid kept: 32 random bits, unique enough among resources of one namespace/name.
const UID_CHARS: usize = 8;
/// Longest cluster name: it is repeated in every bid name.
pub const MAX_CLUSTER_NAME_LEN: usize = 24;

/// `k8s-<cluster>.<namespace>.<name>.<first 8 uid characters>`, shortened to [`MAX_BID_NAME_LEN`].
pub fn bid_name(cluster: &str, namespace: &str, name: &str, uid: &str) -> String {
    compose(&format!("{LEGACY_PREFIX}-{cluster}"), namespace, name, uid)
}

/// The name a resource's bid had before names carried the cluster: `k8s.<namespace>.<name>.<uid>`.
pub fn legacy_bid_name(namespace: &str, name: &str, uid: &str) -> String {
    compose(LEGACY_PREFIX, namespace, name, uid)
}

/// The uid as it appears in bid names.
pub fn uid_tag(uid: &str) -> String {
    uid.chars().filter(|c| *c != '-').take(UID_CHARS).collect()
}

fn compose(prefix: &str, namespace: &str, name: &str, uid: &str) -> String {
    let uid = uid_tag(uid);
    let fixed = prefix.len() + uid.len() + 3; // three dots
    let room = MAX_BID_NAME_LEN.saturating_sub(fixed);
    let (namespace, name) = shorten(namespace, name, room);
    format!("{prefix}.{namespace}.{name}.{uid}")
}

/// Checks a cluster name: lowercase letters, digits and `-`, at most [`MAX_CLUSTER_NAME_LEN`].
pub fn validate_cluster_name(cluster: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if cluster.is_empty() || cluster.len() > MAX_CLUSTER_NAME_LEN || !cluster.chars().all(allowed) {
        return Err(format!(
            "cluster name {cluster:?} must be 1 to {MAX_CLUSTER_NAME_LEN} lowercase letters, digits or '-'"
        ));
    }
    Ok(())
}

/// What a bid name made by this operator says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorBidName<'a> {
    /// `None` for legacy names, which do not say which cluster placed them.
    pub cluster: Option<&'a str>,
    /// The namespace, or its first characters when the name was shortened.
    pub namespace: &'a str,
    /// See [`uid_tag`].
    pub uid: &'a str,
}

/// Reads a bid name this operator made; `None` for any other name.
pub fn parse_bid_name(bid_name: &str) -> Option<OperatorBidName<'_>> {
    let (head, rest) = bid_name.split_once('.')?;
    let cluster = match head.strip_prefix(LEGACY_PREFIX)? {
        "" => None,
        tail => {
            let cluster = tail.strip_prefix('-')?;
            validate_cluster_name(cluster).ok()?;
            Some(cluster)
        }
    };
    let (namespace, rest) = rest.split_once('.')?;
    let (name, uid) = rest.rsplit_once('.')?;
    let hex = |s: &str| s.len() == UID_CHARS && s.chars().all(|c| c.is_ascii_hexdigit());
    (!namespace.is_empty() && !name.is_empty() && hex(uid)).then_some(OperatorBidName {
        cluster,
        namespace,
        uid,
    })
}

/// Shortens the pair to fit `room` characters, taking from the longer one first: a part that
/// fits in half the room is kept whole.
fn shorten<'a>(namespace: &'a str, name: &'a str, room: usize) -> (&'a str, &'a str) {
    if namespace.len() + name.len() <= room {
        return (namespace, name);
    }
    let half = room / 2;
    let (namespace_len, name_len) = if namespace.len() <= half {
        (namespace.len(), room - namespace.len())
    } else if name.len() <= half {
        (room - name.len(), name.len())
    } else {
        (room - half, half)
    };
    // Kubernetes names are ASCII (DNS labels and subdomains), so byte slicing is safe.
    (&namespace[..namespace_len], &name[..name_len])
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "3f2b8c1e-9d4a-4e5f-8a7b-1c2d3e4f5a6b";

    #[test]
    fn readable_and_deterministic() {
        assert_eq!(
            bid_name("prod-eu", "team-a", "training", UID),
            "k8s-prod-eu.team-a.training.3f2b8c1e"
        );
        assert_eq!(
            bid_name("c", "team-a", "training", UID),
            bid_name("c", "team-a", "training", UID)
        );
        assert_eq!(
            legacy_bid_name("team-a", "training", UID),
            "k8s.team-a.training.3f2b8c1e"
        );
    }

    #[test]
    fn a_new_resource_or_another_cluster_gets_another_bid_name() {
        let other = "9a8b7c6d-0000-4000-8000-000000000000";
        assert_ne!(
            bid_name("c", "team-a", "training", UID),
            bid_name("c", "team-a", "training", other)
        );
        assert_ne!(
            bid_name("one", "team-a", "training", UID),
            bid_name("two", "team-a", "training", UID)
        );
    }

    #[test]
    fn names_read_back_with_their_cluster_and_legacy_names_without() {
        let name = bid_name("prod-eu", "team-a", "job.v1.2", UID);
        assert_eq!(
            parse_bid_name(&name),
            Some(OperatorBidName {
                cluster: Some("prod-eu"),
                namespace: "team-a",
                uid: "3f2b8c1e"
            })
        );
        let legacy = legacy_bid_name("team-a", "training", UID);
        assert_eq!(parse_bid_name(&legacy).unwrap().cluster, None);
        for foreign in [
            "training",
            "k8s.team-a.training",
            "k8sx.team-a.training.3f2b8c1e",
            "k8s-Prod.team-a.training.3f2b8c1e",
            "k8s-prod.team-a.training.3f2b8c1z",
            "my-k8s.team-a.training.3f2b8c1e",
        ] {
            assert_eq!(parse_bid_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn cluster_names_are_checked() {
        assert!(validate_cluster_name("a1b2c3d4").is_ok());
        assert!(validate_cluster_name("prod-eu-1").is_ok());
        for bad in ["", "Prod", "a.b", &"x".repeat(MAX_CLUSTER_NAME_LEN + 1)] {
            assert!(validate_cluster_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_names_are_shortened_but_keep_the_uid() {
        let namespace = "n".repeat(20);
        let name = "x".repeat(253);
        let bid = bid_name("c1", &namespace, &name, UID);
        assert_eq!(bid.len(), MAX_BID_NAME_LEN);
        assert!(bid.ends_with(".3f2b8c1e"));
        assert!(
            bid.starts_with(&format!("k8s-c1.{namespace}.")),
            "a short namespace is kept whole: {bid}"
        );
        assert!(parse_bid_name(&bid).is_some());

        let both_long = bid_name("c1", &"n".repeat(63), &name, UID);
        assert_eq!(both_long.len(), MAX_BID_NAME_LEN);
    }

    #[test]
    fn a_long_namespace_gives_way_to_the_name() {
        let namespace = "n".repeat(200);
        let bid = bid_name("c1", &namespace, "job", UID);
        assert_eq!(bid.len(), MAX_BID_NAME_LEN);
        assert!(bid.contains(".job."), "{bid}");
    }
}
