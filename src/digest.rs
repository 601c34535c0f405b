//! 64-bit digests standing in for values the operator only compares: uids, names, FIDs (the
//! controllers' indexes and filters), and what the observers compare a bid with (fingerprints,
//! the spend reads' keys, the bid cache's name index).
//!
//! A digest is eight bytes and no allocation, where a map keyed by strings spends more on its
//! keys than on what it maps to (BENCHMARKS.md, round 6). SipHash with `DefaultHasher::new()`'s
//! fixed keys: the same value has the same digest for the life of the process (nothing stores
//! them beyond).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The digest of `value`.
pub fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn equal_values_share_a_digest_and_different_ones_do_not() {
        assert_eq!(digest("bid_1"), digest(&String::from("bid_1")));
        assert_ne!(digest("bid_1"), digest("bid_2"));
        assert_ne!(digest(&(Some("a"), "bc")), digest(&(Some("ab"), "c")));
    }
}
