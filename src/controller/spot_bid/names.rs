//! The Mithril bid name of a SpotBid.
//!
//! Creation is made idempotent by the name, not by memory: before any POST the controller looks
//! the bid up by this name, so a crash between the POST and the status write, or a POST whose
//! answer was lost, never yields a second bid. The name must therefore be a pure function of the
//! resource's identity. The uid is part of it so that a SpotBid deleted with `Orphan` and created
//! again under the same name gets a bid of its own rather than adopting the orphan.

/// Longest name the operator generates; long namespaces and names are shortened, never the uid.
pub const MAX_BID_NAME_LEN: usize = 128;

const PREFIX: &str = "k8s";
/// Characters of the uid kept: 32 random bits, unique enough among resources of one namespace/name.
const UID_CHARS: usize = 8;

/// `k8s.<namespace>.<name>.<first 8 uid characters>`, shortened to [`MAX_BID_NAME_LEN`].
pub fn bid_name(namespace: &str, name: &str, uid: &str) -> String {
    let uid: String = uid.chars().filter(|c| *c != '-').take(UID_CHARS).collect();
    let fixed = PREFIX.len() + uid.len() + 3; // three dots
    let room = MAX_BID_NAME_LEN.saturating_sub(fixed);
    let (namespace, name) = shorten(namespace, name, room);
    format!("{PREFIX}.{namespace}.{name}.{uid}")
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
            bid_name("team-a", "training", UID),
            "k8s.team-a.training.3f2b8c1e"
        );
        assert_eq!(
            bid_name("team-a", "training", UID),
            bid_name("team-a", "training", UID)
        );
    }

    #[test]
    fn a_new_resource_under_the_same_name_gets_a_new_bid_name() {
        let other = "9a8b7c6d-0000-4000-8000-000000000000";
        assert_ne!(
            bid_name("team-a", "training", UID),
            bid_name("team-a", "training", other)
        );
    }

    #[test]
    fn long_names_are_shortened_but_keep_the_uid() {
        let namespace = "n".repeat(20);
        let name = "x".repeat(253);
        let bid = bid_name(&namespace, &name, UID);
        assert_eq!(bid.len(), MAX_BID_NAME_LEN);
        assert!(bid.ends_with(".3f2b8c1e"));
        assert!(
            bid.starts_with(&format!("k8s.{namespace}.")),
            "a short namespace is kept whole: {bid}"
        );

        let both_long = bid_name(&"n".repeat(63), &name, UID);
        assert_eq!(both_long.len(), MAX_BID_NAME_LEN);
        assert!(
            both_long.starts_with(&format!("k8s.{}.{}.", "n".repeat(57), "x".repeat(57))),
            "{both_long}"
        );
    }

    #[test]
    fn a_long_namespace_gives_way_to_the_name() {
        let namespace = "n".repeat(200);
        let bid = bid_name(&namespace, "job", UID);
        assert_eq!(bid.len(), MAX_BID_NAME_LEN);
        assert!(bid.contains(".job."), "{bid}");
    }
}
