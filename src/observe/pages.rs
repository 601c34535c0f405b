//! Lists read page by page, kept as their pages, and full lists kept as what changed.
//!
//! A cycle's full lists (every live bid, and the instances of a full refresh) used to be the largest
//! single share of the operator's peak memory: a second copy of the whole cache beside it, in
//! one `Vec` that grew by doubling and copying (up to twice the list in spare capacity, and one
//! and a half lists at once while it moved). Now reads stay in the pages they were decoded into,
//! each trimmed to its items, and a full list keeps only the items that differ from the cache,
//! beside the set of FIDs it named (which is all the merge needs of the others).

use std::collections::HashSet;
use std::iter::Flatten;

use mithril_api::{Bid, Instance};

/// What a full list is keyed by.
pub(crate) trait Keyed {
    fn fid(&self) -> &str;
}

impl Keyed for Bid {
    fn fid(&self) -> &str {
        &self.fid
    }
}

impl Keyed for Instance {
    fn fid(&self) -> &str {
        &self.fid
    }
}

/// A full list: every FID it named, and the items that differ from the cache.
#[derive(Debug)]
pub(crate) struct Listing<T> {
    pub(crate) seen: HashSet<String>,
    pub(crate) changed: Pages<T>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            seen: HashSet::new(),
            changed: Pages::default(),
        }
    }
}

impl<T: Keyed> Listing<T> {
    /// Adds one page: its FIDs are seen, and its items for which `unchanged` holds are dropped.
    pub(crate) fn push_page(&mut self, mut items: Vec<T>, unchanged: impl FnOnce(&mut Vec<T>)) {
        self.seen
            .extend(items.iter().map(|item| item.fid().to_owned()));
        unchanged(&mut items);
        self.changed.push_page(items);
    }
}

impl<T: Keyed> From<Vec<T>> for Listing<T> {
    /// Every item as changed (for tests and one-off reads).
    fn from(items: Vec<T>) -> Self {
        let mut listing = Listing::default();
        listing.push_page(items, |_| {});
        listing
    }
}

/// The items of one or more lists, in the order read.
#[derive(Debug)]
pub(crate) struct Pages<T> {
    pages: Vec<Vec<T>>,
}

impl<T> Default for Pages<T> {
    fn default() -> Self {
        Pages { pages: Vec::new() }
    }
}

impl<T> Pages<T> {
    /// Adds one page (dropping its spare capacity; an empty page is not kept).
    pub(crate) fn push_page(&mut self, mut items: Vec<T>) {
        if !items.is_empty() {
            items.shrink_to_fit();
            self.pages.push(items);
        }
    }

    /// Adds every page of `other` after these.
    pub(crate) fn append(&mut self, other: Pages<T>) {
        self.pages.extend(other.pages);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }
}

impl<T> From<Vec<T>> for Pages<T> {
    fn from(items: Vec<T>) -> Self {
        let mut pages = Pages::default();
        pages.push_page(items);
        pages
    }
}

impl<T> IntoIterator for Pages<T> {
    type Item = T;
    type IntoIter = Flatten<std::vec::IntoIter<Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.pages.into_iter().flatten()
    }
}

impl<'a, T> IntoIterator for &'a Pages<T> {
    type Item = &'a T;
    type IntoIter = Flatten<std::slice::Iter<'a, Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.pages.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any keyed item will do: the listing only reads the FID.
    #[derive(Debug, PartialEq)]
    struct Item(&'static str);

    impl Keyed for Item {
        fn fid(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn a_listing_sees_every_fid_and_keeps_only_what_changed() {
        let mut listing = Listing::default();
        listing.push_page(vec![Item("bid_a"), Item("bid_b")], |page| {
            page.retain(|item| item.0 != "bid_a")
        });
        listing.push_page(vec![Item("bid_c")], |_| {});
        let mut seen: Vec<&str> = listing.seen.iter().map(String::as_str).collect();
        seen.sort();
        assert_eq!(seen, ["bid_a", "bid_b", "bid_c"]);
        let changed: Vec<Item> = listing.changed.into_iter().collect();
        assert_eq!(changed, [Item("bid_b"), Item("bid_c")]);
    }

    #[test]
    fn pages_read_back_in_order_and_empty_pages_are_dropped() {
        let mut pages = Pages::from(vec![1, 2]);
        pages.push_page(Vec::new());
        let mut more = Pages::default();
        more.push_page(vec![3]);
        pages.append(more);
        assert_eq!(pages.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(pages.pages.len(), 2);
        assert_eq!(pages.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
    }
}
