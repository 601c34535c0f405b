//! The in-memory picture of one project on Mithril: bids, instances and market prices, with the
//! indexes the read API needs.

use std::collections::{BTreeSet, HashMap};

use mithril_api::{Auction, Bid, BidStatus, Instance, InstanceStatus, Price};

use super::change::BidFingerprint;
use super::pages::Listing;
use crate::digest::digest;

/// Bids, instances and auctions as last observed (or written through).
///
/// Bids and instances are boxed: a hash table keeps spare slots (up to half of them at 10,000
/// entries), and a spare slot costs a pointer instead of a whole API model.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    bids: HashMap<String, Box<Bid>>,
    /// Digest of a bid name → FIDs of every bid with that name (a name is reused once a bid is
    /// terminated). A digest, not the name: one string fewer per bid; lookups compare the name.
    names: HashMap<u64, Vec<String>>,
    instances: HashMap<String, Box<Instance>>,
    /// (FID, name) of the bids removed since [`Self::take_vanished`]: their changes name them.
    vanished: Vec<(String, String)>,
    /// (region, instance type FID) → market.
    auctions: HashMap<(String, String), Auction>,
}

impl Snapshot {
    pub(crate) fn bid(&self, fid: &str) -> Option<&Bid> {
        self.bids.get(fid).map(Box::as_ref)
    }

    pub(crate) fn bid_count(&self) -> usize {
        self.bids.len()
    }

    pub(crate) fn instance(&self, fid: &str) -> Option<&Instance> {
        self.instances.get(fid).map(Box::as_ref)
    }

    pub(crate) fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values().map(Box::as_ref)
    }

    pub(crate) fn instance_count(&self) -> usize {
        self.instances.len()
    }

    pub(crate) fn auction(&self, region: &str, instance_type: &str) -> Option<&Auction> {
        self.auctions
            .get(&(region.to_owned(), instance_type.to_owned()))
    }

    /// Every bid with this name, the live one (not terminated) first, then newest first.
    pub(crate) fn bids_named(&self, name: &str) -> Vec<&Bid> {
        let mut bids: Vec<&Bid> = self
            .names
            .get(&digest(name))
            .into_iter()
            .flatten()
            .filter_map(|fid| self.bid(fid))
            .filter(|bid| bid.name == name)
            .collect();
        bids.sort_by(|a, b| {
            let a_dead = a.status == BidStatus::Terminated;
            let b_dead = b.status == BidStatus::Terminated;
            a_dead
                .cmp(&b_dead)
                .then(b.created_at.cmp(&a.created_at))
                .then(a.fid.cmp(&b.fid))
        });
        bids
    }

    /// The bid with this name that is not terminated (Mithril keeps names unique among those).
    pub(crate) fn live_bid_named(&self, name: &str) -> Option<&Bid> {
        self.bids_named(name)
            .into_iter()
            .find(|bid| bid.status != BidStatus::Terminated)
    }

    /// The cached instances of a bid's current allocation, in the bid's order.
    pub(crate) fn instances_of_bid(&self, fid: &str) -> Vec<&Instance> {
        self.bids
            .get(fid)
            .into_iter()
            .flat_map(|bid| bid.instances.iter())
            .filter_map(|instance| self.instance(instance))
            .collect()
    }

    /// Adds or replaces a bid.
    pub(crate) fn put_bid(&mut self, bid: Bid) {
        if let Some(old) = self.bids.get(&bid.fid)
            && old.name != bid.name
        {
            let (fid, old_name) = (old.fid.clone(), old.name.clone());
            self.unindex_name(&old_name, &fid);
        }
        let fids = self.names.entry(digest(&bid.name)).or_default();
        if !fids.contains(&bid.fid) {
            fids.push(bid.fid.clone());
        }
        self.bids.insert(bid.fid.clone(), Box::new(bid));
    }

    pub(crate) fn bid_mut(&mut self, fid: &str) -> Option<&mut Bid> {
        self.bids.get_mut(fid).map(Box::as_mut)
    }

    /// Takes what a cycle read of the bids: `listed`, the live lists, and `looked_up`, the bids
    /// cached as live that those lists did not name, each as its own read answered (`None`: not
    /// found). A bid is put unless `keep_cached` holds and a cached version exists: that version
    /// stays (it was written after the read). A bid goes only when its own read found nothing;
    /// one absent from the lists and not read (ended, or a write too new for them) stays.
    ///
    /// In place: the old and the new picture never both exist whole (at 10,000 bids that would
    /// be megabytes at every cycle).
    /// `keep_cached(fid, read)` says when the cache is newer than the read's view of a bid
    /// (`read`: `None` when not found).
    pub(crate) fn replace_bids(
        &mut self,
        listed: Listing<Bid>,
        looked_up: Vec<(String, Option<Bid>)>,
        keep_cached: impl Fn(&str, Option<&Bid>) -> bool,
    ) {
        let put = |snapshot: &mut Self, bid: Bid| {
            if !(keep_cached(&bid.fid, Some(&bid)) && snapshot.bids.contains_key(&bid.fid)) {
                snapshot.put_bid(bid);
            }
        };
        for (fid, answer) in looked_up {
            match answer {
                Some(bid) => put(self, bid),
                None if !keep_cached(&fid, None) => {
                    if let Some(bid) = self.bids.remove(&fid) {
                        self.unindex_name(&bid.name, &fid);
                        self.vanished.push((fid, bid.name));
                    }
                }
                None => {}
            }
        }
        for bid in listed.changed {
            put(self, bid);
        }
    }

    /// True when the cache holds `bid` as it is, and every instance it names: a cycle need not
    /// keep it (it changes nothing, and it asks for no instance list).
    pub(crate) fn holds_unchanged_bid(&self, bid: &Bid) -> bool {
        self.bid(&bid.fid) == Some(bid)
            && bid
                .instances
                .iter()
                .all(|fid| self.instances.contains_key(fid))
    }

    /// True when the cache holds `instance` as it is.
    pub(crate) fn holds_unchanged_instance(&self, instance: &Instance) -> bool {
        self.instance(&instance.fid) == Some(instance)
    }

    /// Every bid.
    pub(crate) fn bids(&self) -> impl Iterator<Item = &Bid> {
        self.bids.values().map(Box::as_ref)
    }

    /// Adds or replaces instances.
    pub(crate) fn put_instances(&mut self, instances: impl IntoIterator<Item = Instance>) {
        for instance in instances {
            self.instances
                .insert(instance.fid.clone(), Box::new(instance));
        }
    }

    pub(crate) fn set_instance_status(&mut self, fid: &str, status: InstanceStatus) -> bool {
        match self.instances.get_mut(fid) {
            Some(instance) => {
                instance.status = status;
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove_instance(&mut self, fid: &str) {
        self.instances.remove(fid);
    }

    /// Every region with at least one spot auction, or `None` before any auction was observed.
    pub(crate) fn auction_regions(&self) -> Option<std::collections::BTreeSet<&str>> {
        (!self.auctions.is_empty()).then(|| {
            self.auctions
                .keys()
                .map(|(region, _)| region.as_str())
                .collect()
        })
    }

    pub(crate) fn replace_auctions(&mut self, auctions: &[Auction]) {
        self.auctions = auctions
            .iter()
            .map(|auction| {
                (
                    (auction.region.clone(), auction.instance_type.clone()),
                    auction.clone(),
                )
            })
            .collect();
    }

    /// The clearing price of the market a bid takes part in.
    pub(crate) fn clearing_price(&self, bid: &Bid) -> Option<Price> {
        let region = bid.region.as_deref()?;
        self.auction(region, &bid.instance_type)
            .map(|auction| auction.last_instance_price)
    }

    pub(crate) fn fingerprint(&self, bid: &Bid) -> BidFingerprint {
        BidFingerprint::of(
            bid,
            |fid| self.instances.get(fid).map(|i| i.status.clone()),
            self.clearing_price(bid),
        )
    }

    /// The (FID, name) of every bid removed since the last call.
    pub(crate) fn take_vanished(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.vanished)
    }

    /// Fingerprints of every bid.
    pub(crate) fn fingerprints(&self) -> HashMap<String, BidFingerprint> {
        self.bids
            .values()
            .map(|bid| (bid.fid.clone(), self.fingerprint(bid)))
            .collect()
    }

    /// Status of every reserved instance, with its reservation.
    pub(crate) fn reserved_statuses(&self) -> HashMap<String, (String, InstanceStatus)> {
        self.instances
            .values()
            .filter_map(|instance| {
                instance.reservation.as_ref().map(|reservation| {
                    (
                        instance.fid.clone(),
                        (reservation.clone(), instance.status.clone()),
                    )
                })
            })
            .collect()
    }

    fn unindex_name(&mut self, name: &str, fid: &str) {
        let key = digest(name);
        if let Some(fids) = self.names.get_mut(&key) {
            fids.retain(|known| known != fid);
            if fids.is_empty() {
                self.names.remove(&key);
            }
        }
    }
}

/// Which instances [`crate::observe::MithrilObserver::instances_matching`] returns; every set
/// criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    /// Only these instance FIDs.
    pub fids: Option<BTreeSet<String>>,
    /// Only instances of these reservations.
    pub reservations: Option<BTreeSet<String>>,
    /// Only reserved instances (any reservation).
    pub reserved_only: bool,
    /// Only this instance type FID.
    pub instance_type: Option<String>,
    /// Only this region.
    pub region: Option<String>,
}

impl InstanceFilter {
    /// Every instance.
    pub fn any() -> Self {
        InstanceFilter::default()
    }

    /// Only reserved instances.
    pub fn reserved() -> Self {
        InstanceFilter {
            reserved_only: true,
            ..InstanceFilter::default()
        }
    }

    /// Restricts to these instance FIDs.
    pub fn fids(mut self, fids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.fids = Some(fids.into_iter().map(Into::into).collect());
        self
    }

    /// Restricts to instances of these reservations.
    pub fn reservations(mut self, fids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.reservations = Some(fids.into_iter().map(Into::into).collect());
        self
    }

    /// Restricts to an instance type FID.
    pub fn instance_type(mut self, instance_type: impl Into<String>) -> Self {
        self.instance_type = Some(instance_type.into());
        self
    }

    /// Restricts to a region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// True when `instance` meets every criterion.
    pub fn matches(&self, instance: &Instance) -> bool {
        self.fids
            .as_ref()
            .is_none_or(|fids| fids.contains(&instance.fid))
            && self.reservations.as_ref().is_none_or(|reservations| {
                instance
                    .reservation
                    .as_ref()
                    .is_some_and(|reservation| reservations.contains(reservation))
            })
            && (!self.reserved_only || instance.reservation.is_some())
            && self
                .instance_type
                .as_ref()
                .is_none_or(|instance_type| &instance.instance_type == instance_type)
            && self
                .region
                .as_ref()
                .is_none_or(|region| instance.region.as_ref() == Some(region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithril_api::LaunchSpecification;

    fn bid(fid: &str, name: &str, created_at: &str, status: BidStatus) -> Bid {
        Bid {
            fid: fid.into(),
            name: name.into(),
            project: "proj_1".into(),
            created_by: "user_1".into(),
            created_at: created_at.parse().unwrap(),
            deactivated_at: None,
            limit_price: Price::from_cents(2000),
            instance_quantity: 1,
            instance_type: "it_1".into(),
            region: Some("us-central1-a".into()),
            instances: vec![],
            launch_specification: LaunchSpecification::default(),
            status,
        }
    }

    #[test]
    fn a_reused_name_prefers_the_live_bid_then_the_newest() {
        let mut snapshot = Snapshot::default();
        snapshot.put_bid(bid(
            "bid_old",
            "train",
            "2025-01-01T00:00:00Z",
            BidStatus::Terminated,
        ));
        snapshot.put_bid(bid(
            "bid_live",
            "train",
            "2025-01-01T01:00:00Z",
            BidStatus::Open,
        ));
        snapshot.put_bid(bid(
            "bid_mid",
            "train",
            "2025-01-01T02:00:00Z",
            BidStatus::Terminated,
        ));
        let order: Vec<&str> = snapshot
            .bids_named("train")
            .iter()
            .map(|bid| bid.fid.as_str())
            .collect();
        assert_eq!(order, ["bid_live", "bid_mid", "bid_old"]);
        assert_eq!(snapshot.live_bid_named("train").unwrap().fid, "bid_live");

        snapshot.bid_mut("bid_live").unwrap().status = BidStatus::Terminated;
        assert!(snapshot.live_bid_named("train").is_none());
        assert!(snapshot.live_bid_named("other").is_none());
    }

    #[test]
    fn replacing_bids_keeps_protected_entries_and_the_name_index() {
        let mut snapshot = Snapshot::default();
        snapshot.put_bid(bid("bid_a", "a", "2025-01-01T00:00:00Z", BidStatus::Open));
        snapshot.put_bid(bid(
            "bid_gone",
            "gone",
            "2025-01-01T00:00:00Z",
            BidStatus::Open,
        ));
        snapshot.put_bid(bid(
            "bid_ending",
            "ending",
            "2025-01-01T00:00:00Z",
            BidStatus::Allocated,
        ));
        snapshot.put_bid(bid(
            "bid_ended",
            "ended",
            "2025-01-01T00:00:00Z",
            BidStatus::Terminated,
        ));
        let mut written = bid("bid_w", "w", "2025-01-01T00:00:00Z", BidStatus::Open);
        snapshot.put_bid(written.clone());
        written.status = BidStatus::Allocated;
        snapshot.put_bid(written);
        snapshot.replace_bids(
            vec![
                bid("bid_a", "a", "2025-01-01T00:00:00Z", BidStatus::Allocated),
                bid("bid_w", "w", "2025-01-01T00:00:00Z", BidStatus::Open),
            ]
            .into(),
            vec![
                ("bid_gone".into(), None),
                (
                    "bid_ending".into(),
                    Some(bid(
                        "bid_ending",
                        "ending",
                        "2025-01-01T00:00:00Z",
                        BidStatus::Terminated,
                    )),
                ),
            ],
            |fid, _| fid == "bid_w",
        );
        assert_eq!(snapshot.bid("bid_a").unwrap().status, BidStatus::Allocated);
        assert_eq!(snapshot.bid("bid_w").unwrap().status, BidStatus::Allocated);
        assert!(snapshot.bid("bid_gone").is_none());
        assert!(snapshot.bids_named("gone").is_empty());
        assert_eq!(snapshot.live_bid_named("w").unwrap().fid, "bid_w");
        // Ended: read by FID once, then kept though no live list names it.
        assert_eq!(
            snapshot.bid("bid_ending").unwrap().status,
            BidStatus::Terminated
        );
        assert_eq!(snapshot.bids_named("ended")[0].fid, "bid_ended");
    }

    fn running(fid: &str) -> Instance {
        serde_json::from_value(serde_json::json!({
            "fid": fid, "name": fid, "project": "proj_1",
            "created_at": "2025-01-01T00:00:00Z", "created_by": "user_1",
            "instance_type": "it_1", "bid": "bid_a", "status": "STATUS_RUNNING"
        }))
        .unwrap()
    }

    #[test]
    fn a_listed_bid_is_unchanged_only_when_it_and_every_instance_it_names_are_cached() {
        let mut snapshot = Snapshot::default();
        let mut listed = bid("bid_a", "a", "2025-01-01T00:00:00Z", BidStatus::Allocated);
        listed.instances = vec!["inst_1".into()];
        assert!(!snapshot.holds_unchanged_bid(&listed));
        snapshot.put_bid(listed.clone());
        // Kept while its instance is unknown: the cycle must still list that instance.
        assert!(!snapshot.holds_unchanged_bid(&listed));
        snapshot.put_instances([running("inst_1")]);
        assert!(snapshot.holds_unchanged_bid(&listed));
        let mut preempting = listed.clone();
        preempting.status = BidStatus::Preempting;
        assert!(!snapshot.holds_unchanged_bid(&preempting));
        assert!(snapshot.holds_unchanged_instance(&running("inst_1")));
    }

    #[test]
    fn filters_combine_every_criterion() {
        let instance: Instance = serde_json::from_value(serde_json::json!({
            "fid": "inst_1", "name": "r-0", "project": "proj_1",
            "created_at": "2025-01-01T00:00:00Z", "created_by": "user_1",
            "instance_type": "it_1", "region": "us-central1-a",
            "reservation": "res_1", "status": "STATUS_RUNNING"
        }))
        .unwrap();
        assert!(InstanceFilter::any().matches(&instance));
        assert!(InstanceFilter::reserved().matches(&instance));
        let exact = InstanceFilter::reserved()
            .fids(["inst_1"])
            .reservations(["res_1"])
            .instance_type("it_1")
            .region("us-central1-a");
        assert!(exact.matches(&instance));
        assert!(!exact.clone().region("eu-central1-a").matches(&instance));
        assert!(!exact.clone().reservations(["res_2"]).matches(&instance));
        assert!(!InstanceFilter::any().fids(["inst_2"]).matches(&instance));
    }
}
