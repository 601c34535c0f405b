//! Mithril identifiers (FIDs): a kind prefix and 16 alphanumerics.

use rand::RngExt;
use rand::rngs::StdRng;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BODY_LEN: usize = 16;

/// The kinds of objects that carry FIDs, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FidKind {
    Project,
    Bid,
    Instance,
    Reservation,
    InstanceType,
    Auction,
}

impl FidKind {
    pub fn prefix(self) -> &'static str {
        match self {
            FidKind::Project => "proj_",
            FidKind::Bid => "bid_",
            FidKind::Instance => "inst_",
            FidKind::Reservation => "res_",
            FidKind::InstanceType => "it_",
            FidKind::Auction => "auc_",
        }
    }
}

/// A fresh FID drawn from the world's seeded generator (deterministic for a given seed).
pub fn random_fid(kind: FidKind, rng: &mut StdRng) -> String {
    let mut fid = String::with_capacity(kind.prefix().len() + BODY_LEN);
    fid.push_str(kind.prefix());
    for _ in 0..BODY_LEN {
        fid.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    fid
}

/// A FID derived from a name, so objects declared in a world file keep their FIDs whatever the seed.
pub fn named_fid(kind: FidKind, name: &str) -> String {
    named_id(kind.prefix(), name)
}

/// `prefix` and 16 alphanumerics derived from `name` (FNV-1a, then a splitmix walk: stable across
/// releases, unlike std's hasher).
pub fn named_id(prefix: &str, name: &str) -> String {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prefix.bytes().chain(name.bytes()) {
        state ^= u64::from(byte);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    let mut fid = String::with_capacity(prefix.len() + BODY_LEN);
    fid.push_str(prefix);
    for _ in 0..BODY_LEN {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        fid.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
    }
    fid
}

/// Whether `text` looks like a FID of `kind`.
pub fn has_shape(kind: FidKind, text: &str) -> bool {
    text.strip_prefix(kind.prefix()).is_some_and(|body| {
        body.len() == BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fids_have_prefix_and_sixteen_alphanumerics() {
        let mut rng = StdRng::seed_from_u64(7);
        let fid = random_fid(FidKind::Bid, &mut rng);
        assert!(has_shape(FidKind::Bid, &fid), "{fid}");
        assert!(has_shape(
            FidKind::InstanceType,
            &named_fid(FidKind::InstanceType, "h100-80gb.sxm.8x")
        ));
    }

    #[test]
    fn same_seed_same_fids() {
        let mut a = StdRng::seed_from_u64(42);
        let mut b = StdRng::seed_from_u64(42);
        assert_eq!(
            random_fid(FidKind::Instance, &mut a),
            random_fid(FidKind::Instance, &mut b)
        );
        assert_eq!(
            named_fid(FidKind::Project, "demo"),
            named_fid(FidKind::Project, "demo")
        );
        assert_ne!(
            named_fid(FidKind::Project, "demo"),
            named_fid(FidKind::Project, "other")
        );
    }
}
