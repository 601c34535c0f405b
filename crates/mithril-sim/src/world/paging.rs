//! Cursor paging. A cursor is the position (sort key, creation sequence) of the last item served,
//! with the ordering it belongs to, base64url-encoded: opaque to clients, and stable when items are
//! inserted between pages (a page starts strictly after the position, wherever new items land).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The `sort_by` the cursor was made for.
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "d")]
    pub desc: bool,
    /// Sort key of the last item served (empty when sorting by creation).
    #[serde(rename = "k")]
    pub key: String,
    /// Creation sequence of the last item served (the tie-breaker).
    #[serde(rename = "q")]
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("invalid cursor")]
    Malformed,
    #[error("cursor was made for another sort order")]
    OtherOrder,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Serializing a plain struct of strings and integers cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor and checks it belongs to the requested ordering.
    pub fn decode(text: &str, sort: &str, order: SortOrder) -> Result<Cursor, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.sort != sort || cursor.desc != (order == SortOrder::Desc) {
            return Err(CursorError::OtherOrder);
        }
        if cursor.sort == SEEDED_ORDER && cursor.key.parse::<u64>().is_err() {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }
}

/// One page and the cursor of the next, if there is more.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// The same page with each item converted.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            next: self.next,
        }
    }
}

/// Pages a map kept in creation order without looking at more than the page (plus what `show`
/// skips): O(log n + page) for unfiltered lists. `show` gives what to serve for an entry, if anything.
pub fn page_by_creation<'a, T, U>(
    map: &'a BTreeMap<u64, T>,
    sort: &str,
    order: SortOrder,
    after: Option<&Cursor>,
    limit: usize,
    show: impl Fn(u64, &'a T) -> Option<U>,
) -> Page<U> {
    let (start, end) = match (order, after) {
        (SortOrder::Asc, Some(cursor)) => (Bound::Excluded(cursor.seq), Bound::Unbounded),
        (SortOrder::Desc, Some(cursor)) => (Bound::Unbounded, Bound::Excluded(cursor.seq)),
        (_, None) => (Bound::Unbounded, Bound::Unbounded),
    };
    let range = map.range((start, end));
    let ordered: Box<dyn Iterator<Item = (&u64, &T)>> = match order {
        SortOrder::Asc => Box::new(range),
        SortOrder::Desc => Box::new(range.rev()),
    };
    let mut items = Vec::with_capacity(limit.min(128));
    let mut last_seq = 0;
    let mut more = false;
    for (seq, item) in ordered.filter_map(|(seq, item)| show(*seq, item).map(|item| (seq, item))) {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(item);
        last_seq = *seq;
    }
    let next = more.then(|| Cursor {
        sort: sort.to_owned(),
        desc: order == SortOrder::Desc,
        key: String::new(),
        seq: last_seq,
    });
    Page { items, next }
}

/// The cursor `sort` of lists requested without `sort_by`.
pub const SEEDED_ORDER: &str = "unsorted";

/// A seeded shuffle of (creation sequence, state): stable while the state stays, so paging an
/// unchanged list sees each item once, and new when the state changes, so an item may move.
pub fn seeded_rank(seed: u64, seq: u64, state: &str) -> u64 {
    // FNV-1a over the state, then splitmix64's finaliser over everything: fixed across runs.
    let state = state.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut x =
        seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ state.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Pages items by (rank, creation sequence): picks the page among what follows the cursor without
/// sorting the rest, O(n + page log page).
pub fn page_by_rank<T>(
    items: impl Iterator<Item = (u64, u64, T)>,
    sort: &str,
    order: SortOrder,
    after: Option<&Cursor>,
    limit: usize,
) -> Page<T> {
    let position = after.map(|cursor| (cursor.key.parse::<u64>().unwrap_or(0), cursor.seq));
    let mut rest: Vec<(u64, u64, T)> = items
        .filter(|(rank, seq, _)| match (position, order) {
            (None, _) => true,
            (Some(position), SortOrder::Asc) => (*rank, *seq) > position,
            (Some(position), SortOrder::Desc) => (*rank, *seq) < position,
        })
        .collect();
    let key = |item: &(u64, u64, T)| match order {
        SortOrder::Asc => (item.0, item.1),
        SortOrder::Desc => (u64::MAX - item.0, u64::MAX - item.1),
    };
    let more = rest.len() > limit;
    if more {
        rest.select_nth_unstable_by_key(limit, key);
        rest.truncate(limit);
    }
    rest.sort_unstable_by_key(key);
    let next = match (more, rest.last()) {
        (true, Some((rank, seq, _))) => Some(Cursor {
            sort: sort.to_owned(),
            desc: order == SortOrder::Desc,
            key: rank.to_string(),
            seq: *seq,
        }),
        _ => None,
    };
    Page {
        items: rest.into_iter().map(|(_, _, item)| item).collect(),
        next,
    }
}

/// Pages items ordered by a string key, then by creation: sorts what the filter kept, O(n log n).
pub fn page_by_key<T>(
    mut keyed: Vec<(String, u64, T)>,
    sort: &str,
    order: SortOrder,
    after: Option<&Cursor>,
    limit: usize,
) -> Page<T> {
    keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    if order == SortOrder::Desc {
        keyed.reverse();
    }
    let start = match after {
        None => 0,
        Some(cursor) => {
            let position = (&cursor.key, cursor.seq);
            match order {
                SortOrder::Asc => keyed.partition_point(|item| (&item.0, item.1) <= position),
                SortOrder::Desc => keyed.partition_point(|item| (&item.0, item.1) >= position),
            }
        }
    };
    let mut rest = keyed.into_iter().skip(start);
    let page: Vec<(String, u64, T)> = rest.by_ref().take(limit).collect();
    let more = rest.next().is_some();
    let next = match (more, page.last()) {
        (true, Some((key, seq, _))) => Some(Cursor {
            sort: sort.to_owned(),
            desc: order == SortOrder::Desc,
            key: key.clone(),
            seq: *seq,
        }),
        _ => None,
    };
    Page {
        items: page.into_iter().map(|(_, _, item)| item).collect(),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_pages_survive_inserts() {
        let mut map: BTreeMap<u64, u64> = (1..=5).map(|seq| (seq, seq)).collect();
        let first = page_by_creation(&map, "created_at", SortOrder::Asc, None, 2, |_, v| Some(v));
        assert_eq!(first.items, vec![&1, &2]);
        let cursor = Cursor::decode(
            &first.next.clone().map(|c| c.encode()).unwrap_or_default(),
            "created_at",
            SortOrder::Asc,
        )
        .expect("own cursor decodes");
        map.insert(6, 6);
        let second = page_by_creation(
            &map,
            "created_at",
            SortOrder::Asc,
            Some(&cursor),
            2,
            |_, v| Some(v),
        );
        assert_eq!(second.items, vec![&3, &4]);
    }

    #[test]
    fn keyed_pages_walk_everything_once_both_ways() {
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let items: Vec<(String, u64, u64)> = (1..=7)
                .map(|seq| (format!("k{}", seq % 3), seq, seq))
                .collect();
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = page_by_key(items.clone(), "status", order, after.as_ref(), 3);
                seen.extend(page.items);
                match page.next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
            seen.sort();
            assert_eq!(seen, (1..=7).collect::<Vec<_>>());
        }
    }

    #[test]
    fn ranked_pages_walk_everything_once_both_ways_in_a_shuffled_order() {
        let items: Vec<(u64, u64, u64)> = (1..=50)
            .map(|seq| (seeded_rank(3, seq, "Open"), seq, seq))
            .collect();
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = page_by_rank(
                    items.iter().cloned(),
                    SEEDED_ORDER,
                    order,
                    after.as_ref(),
                    7,
                );
                assert!(page.items.len() <= 7);
                seen.extend(page.items);
                match page.next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
            assert_ne!(seen, (1..=50).collect::<Vec<_>>(), "not creation order");
            seen.sort();
            assert_eq!(seen, (1..=50).collect::<Vec<_>>(), "each once");
        }
        assert_ne!(
            seeded_rank(3, 1, "Open"),
            seeded_rank(3, 1, "Allocated"),
            "a status change moves the item"
        );
        assert_ne!(seeded_rank(3, 1, "Open"), seeded_rank(4, 1, "Open"));
    }

    #[test]
    fn cursors_are_bound_to_their_order() {
        let cursor = Cursor {
            sort: "created_at".into(),
            desc: false,
            key: String::new(),
            seq: 3,
        }
        .encode();
        assert_eq!(
            Cursor::decode(&cursor, "status", SortOrder::Asc),
            Err(CursorError::OtherOrder)
        );
        assert_eq!(
            Cursor::decode("not a cursor", "status", SortOrder::Asc),
            Err(CursorError::Malformed)
        );
    }
}
