//! Spot bids: placing, updating, cancelling, and what each clearing does to them.

use jiff::SignedDuration;
use std::cmp::Reverse;

use super::lifecycle::{Timer, Walk};
use super::market::{Contender, clear};
use super::{Bid, Owner, World};
use crate::error::SimError;
use crate::fid::{FidKind, random_fid};
use crate::money::format_price;
use crate::wire::{
    BidEventType, BidHistoryEventModel, BidStatus, InstanceStatus, LaunchSpecificationModel,
    PersistentDiskChange,
};

/// A validated request to place a bid.
#[derive(Debug, Clone)]
pub struct CreateBid {
    pub project: String,
    pub region: String,
    pub instance_type: String,
    pub limit_cents: u64,
    pub quantity: u32,
    pub name: String,
    pub launch_specification: LaunchSpecificationModel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateBidError {
    #[error("no auction for this instance type in this region")]
    NoAuction,
    #[error("name already used")]
    NameUsed,
}

/// A validated request to change a bid; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct BidUpdate {
    pub limit_cents: Option<u64>,
    pub paused: Option<bool>,
    pub volumes: Option<Vec<String>>,
    pub memory_gb: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateBidError {
    #[error("bid is terminated")]
    Terminated,
}

impl World {
    /// Places a bid (status Open; it takes part from the next clearing) and returns its sequence number.
    pub fn create_bid(&mut self, request: CreateBid, user: &str) -> Result<u64, CreateBidError> {
        self.place_bid(request, user, None)
    }

    /// Refuses a bid no clearing could take, or (with `unique_bid_names`) one whose name is in use.
    fn check_new_bid(&self, request: &CreateBid) -> Result<usize, CreateBidError> {
        let auction = self
            .auction_of(&request.region, &request.instance_type)
            .ok_or(CreateBidError::NoAuction)?;
        let name_key = (request.project.clone(), request.name.clone());
        if self.unique_bid_names && self.active_names.contains_key(&name_key) {
            return Err(CreateBidError::NameUsed);
        }
        Ok(auction)
    }

    /// Places a bid with a given FID, or a random one.
    pub(super) fn place_bid(
        &mut self,
        request: CreateBid,
        user: &str,
        fid: Option<String>,
    ) -> Result<u64, CreateBidError> {
        let auction = self.check_new_bid(&request)?;
        let name_key = (request.project.clone(), request.name.clone());
        let seq = self.next_seq();
        let fid = fid.unwrap_or_else(|| random_fid(FidKind::Bid, &mut self.rng));
        self.note_new_bid(seq);
        let now = self.now;
        let bid = Bid {
            seq,
            fid: fid.clone(),
            name: request.name,
            project: request.project,
            created_by: user.to_owned(),
            created_at: now,
            deactivated_at: None,
            limit_cents: request.limit_cents,
            limit_text: None,
            quantity: request.quantity,
            instance_type: request.instance_type,
            region: request.region,
            auction,
            instances: Vec::new(),
            launch_specification: request.launch_specification,
            status: BidStatus::Open,
            generation: 0,
            history: vec![event(
                now,
                BidEventType::Placed,
                Some(request.limit_cents),
                Some(user),
            )],
        };
        self.auctions[auction]
            .contenders
            .insert((Reverse(bid.limit_cents), seq));
        if self.unique_bid_names {
            self.active_names.insert(name_key, seq);
        }
        self.bid_index.insert(fid, seq);
        self.bids.insert(seq, bid);
        Ok(seq)
    }

    /// Shows the limit price as written (the market keeps reading its cents).
    pub(super) fn set_limit_text(&mut self, seq: u64, text: &str) {
        if let Some(bid) = self.bids.get_mut(&seq) {
            bid.limit_text = Some(text.to_owned());
            for placed in bid
                .history
                .iter_mut()
                .filter(|event| event.event_type == BidEventType::Placed)
            {
                placed.limit_price = Some(text.to_owned());
            }
        }
    }

    /// Applies an update: limit first (it takes effect at the next clearing), then pause or resume,
    /// then the launch specification.
    pub fn update_bid(
        &mut self,
        seq: u64,
        update: BidUpdate,
        user: &str,
    ) -> Result<(), UpdateBidError> {
        let now = self.now;
        if self
            .bids
            .get(&seq)
            .is_some_and(|bid| bid.status == BidStatus::Terminated)
        {
            return Err(UpdateBidError::Terminated);
        }
        self.note_bid(seq);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return Ok(());
        };
        if update.limit_cents.is_some() {
            // A limit set through the API is shown as the API writes prices.
            bid.limit_text = None;
        }
        if let Some(limit) = update.limit_cents.filter(|limit| *limit != bid.limit_cents) {
            let auction = bid.auction;
            let was_contending = self.auctions[auction]
                .contenders
                .remove(&(Reverse(bid.limit_cents), seq));
            bid.limit_cents = limit;
            bid.history.push(event(
                now,
                BidEventType::LimitPriceChanged,
                Some(limit),
                Some(user),
            ));
            if was_contending {
                self.auctions[auction]
                    .contenders
                    .insert((Reverse(limit), seq));
            }
        }
        match update.paused {
            Some(true) => self.pause_bid(seq, user),
            Some(false) => self.resume_bid(seq, user),
            None => {}
        }
        let Some(bid) = self.bids.get_mut(&seq) else {
            return Ok(());
        };
        if let Some(volumes) = update.volumes {
            let before = std::mem::take(&mut bid.launch_specification.volumes);
            for attached in volumes.iter().filter(|volume| !before.contains(volume)) {
                let mut change = event(now, BidEventType::VolumesAttached, None, Some(user));
                change.persistent_disk_change = Some(PersistentDiskChange {
                    attached: Some(attached.clone()),
                    removed: None,
                });
                bid.history.push(change);
            }
            for removed in before.iter().filter(|volume| !volumes.contains(volume)) {
                let mut change = event(now, BidEventType::VolumesRemoved, None, Some(user));
                change.persistent_disk_change = Some(PersistentDiskChange {
                    attached: None,
                    removed: Some(removed.clone()),
                });
                bid.history.push(change);
            }
            bid.launch_specification.volumes = volumes;
        }
        if let Some(memory_gb) = update
            .memory_gb
            .filter(|memory| Some(*memory) != bid.launch_specification.memory_gb)
        {
            bid.launch_specification.memory_gb = Some(memory_gb);
            let mut adjusted = event(now, BidEventType::MemoryAdjusted, None, Some(user));
            adjusted.memory_gb = Some(memory_gb);
            bid.history.push(adjusted);
        }
        Ok(())
    }

    /// Pausing leaves the auction at once: running or starting instances go STOPPING then PAUSED and
    /// stop paying; the bid keeps them (and their disks) but holds no capacity.
    fn pause_bid(&mut self, seq: u64, user: &str) {
        let now = self.now;
        self.note_bid(seq);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return;
        };
        if bid.status == BidStatus::Paused {
            return;
        }
        let auction = bid.auction;
        self.auctions[auction]
            .contenders
            .remove(&(Reverse(bid.limit_cents), seq));
        self.auctions[auction].preempting.remove(&seq);
        bid.status = BidStatus::Paused;
        bid.generation += 1;
        bid.history
            .push(event(now, BidEventType::Paused, None, Some(user)));
        let instances = bid.instances.clone();
        for instance in instances {
            if self
                .instances
                .get(&instance)
                .is_some_and(|i| is_live(i.status))
            {
                self.close_price_period(instance);
                self.start_walk(instance, InstanceStatus::Stopping, Walk::Stop);
            }
        }
    }

    /// Resuming puts the bid back in the auction (status Open); when it wins again, its paused
    /// instances come back (CONFIRMED then RUNNING).
    fn resume_bid(&mut self, seq: u64, user: &str) {
        let now = self.now;
        self.note_bid(seq);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return;
        };
        if bid.status != BidStatus::Paused {
            return;
        }
        bid.status = BidStatus::Open;
        bid.generation += 1;
        bid.history
            .push(event(now, BidEventType::Resumed, None, Some(user)));
        self.auctions[bid.auction]
            .contenders
            .insert((Reverse(bid.limit_cents), seq));
    }

    /// Cancels a bid: its instances are terminated, `deactivated_at` is set. Cancelling twice is a no-op.
    pub fn cancel_bid(&mut self, seq: u64, user: &str) {
        let now = self.now;
        self.note_bid(seq);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return;
        };
        if bid.status == BidStatus::Terminated {
            return;
        }
        let auction = bid.auction;
        self.auctions[auction]
            .contenders
            .remove(&(Reverse(bid.limit_cents), seq));
        self.auctions[auction].preempting.remove(&seq);
        if self
            .active_names
            .get(&(bid.project.clone(), bid.name.clone()))
            == Some(&seq)
        {
            self.active_names
                .remove(&(bid.project.clone(), bid.name.clone()));
        }
        bid.status = BidStatus::Terminated;
        bid.generation += 1;
        bid.deactivated_at = Some(now);
        bid.history
            .push(event(now, BidEventType::Terminated, None, Some(user)));
        let instances = bid.instances.clone();
        for instance in instances {
            if self.instances.get(&instance).is_some_and(|i| {
                !matches!(
                    i.status,
                    InstanceStatus::Terminated | InstanceStatus::Preempted
                )
            }) {
                self.close_price_period(instance);
                self.set_instance_status(instance, InstanceStatus::Terminated);
            }
        }
    }

    /// Adds competing demand: a bid from the hidden market project, placed now.
    pub fn add_demand(
        &mut self,
        region: &str,
        instance_type: &str,
        quantity: u32,
        limit_cents: u64,
    ) -> Result<String, SimError> {
        if quantity == 0 {
            return Err(SimError::ZeroQuantity);
        }
        if !self.has_region(region) {
            return Err(SimError::UnknownRegion(region.to_owned()));
        }
        let instance_type = self
            .instance_type_fid(instance_type)
            .ok_or_else(|| SimError::UnknownInstanceType(instance_type.to_owned()))?
            .to_owned();
        let request = CreateBid {
            project: self.market_project.clone(),
            region: region.to_owned(),
            name: format!("market-demand-{}", self.next_seq),
            instance_type: instance_type.clone(),
            limit_cents,
            quantity,
            launch_specification: LaunchSpecificationModel::default(),
        };
        let seq = self
            .create_bid(request, "market")
            .map_err(|_| SimError::UnknownAuction {
                region: region.to_owned(),
                instance_type,
            })?;
        Ok(self
            .bids
            .get(&seq)
            .map(|bid| bid.fid.clone())
            .unwrap_or_default())
    }

    /// Removes competing demand (cancels its bid, freeing its capacity at once).
    pub fn remove_demand(&mut self, bid_fid: &str) -> Result<(), SimError> {
        let seq = self
            .bid(bid_fid)
            .filter(|bid| bid.project == self.market_project)
            .map(|bid| bid.seq)
            .ok_or_else(|| SimError::UnknownDemand(bid_fid.to_owned()))?;
        self.cancel_bid(seq, "market");
        Ok(())
    }

    /// Changes an auction's capacity; it takes effect at the next clearing.
    pub fn set_capacity(
        &mut self,
        region: &str,
        instance_type: &str,
        capacity: u32,
    ) -> Result<(), SimError> {
        let fid = self
            .instance_type_fid(instance_type)
            .ok_or_else(|| SimError::UnknownInstanceType(instance_type.to_owned()))?
            .to_owned();
        let auction = self
            .auction_of(region, &fid)
            .ok_or_else(|| SimError::UnknownAuction {
                region: region.to_owned(),
                instance_type: instance_type.to_owned(),
            })?;
        self.auctions[auction].capacity = capacity;
        Ok(())
    }

    pub(super) fn clear_all_auctions(&mut self) {
        for auction in 0..self.auctions.len() {
            self.clear_auction(auction);
        }
    }

    /// One clearing: winners that were Open are allocated, winners already Allocated keep their
    /// instances at the new price, Allocated bids that lost are preempted.
    fn clear_auction(&mut self, auction: usize) {
        let ordered: Vec<u64> = self.auctions[auction]
            .contenders
            .iter()
            .map(|(_, seq)| *seq)
            .collect();
        let contenders: Vec<Contender> = ordered
            .iter()
            .filter_map(|seq| self.bids.get(seq))
            .map(|bid| Contender {
                limit_cents: bid.limit_cents,
                quantity: bid.quantity,
            })
            .collect();
        let a = &self.auctions[auction];
        let clearing = clear(&contenders, a.capacity, a.floor_cents);
        let price = clearing.price_cents;
        for (seq, won) in ordered.iter().zip(&clearing.won) {
            let status = self.bids.get(seq).map(|bid| bid.status);
            match (status, *won) {
                (Some(BidStatus::Open), true) => self.allocate(*seq, price),
                (Some(BidStatus::Allocated), true) => self.reprice(*seq, price),
                (Some(BidStatus::Allocated), false) => self.preempt(*seq),
                _ => {}
            }
        }
        let a = &mut self.auctions[auction];
        a.last_price_cents = price;
        a.lowest_allocated_cents = clearing.lowest_allocated_cents;
    }

    fn allocate(&mut self, seq: u64, price: u64) {
        let now = self.now;
        self.note_bid(seq);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return;
        };
        bid.status = BidStatus::Allocated;
        bid.generation += 1;
        bid.history.push(event(
            now,
            BidEventType::Allocated,
            Some(bid.limit_cents),
            None,
        ));
        let paused: Vec<u64> = bid.instances.clone();
        let resumable = !paused.is_empty()
            && paused.iter().all(|instance| {
                self.instances.get(instance).is_some_and(|i| {
                    matches!(i.status, InstanceStatus::Paused | InstanceStatus::Stopping)
                })
            });
        if resumable {
            for instance in paused {
                self.open_price_period(instance, price, now);
                self.start_walk(instance, InstanceStatus::Confirmed, Walk::Resume);
            }
            return;
        }
        let Some(bid) = self.bids.get(&seq) else {
            return;
        };
        let (name, project, created_by, instance_type, region, quantity) = (
            bid.name.clone(),
            bid.project.clone(),
            bid.created_by.clone(),
            bid.instance_type.clone(),
            bid.region.clone(),
            bid.quantity,
        );
        let mut instances = Vec::with_capacity(quantity as usize);
        for position in 0..quantity {
            let instance = self.create_instance(
                format!("{name}-{position}"),
                &project,
                &created_by,
                &instance_type,
                &region,
                Owner::Bid(seq),
                now,
                InstanceStatus::New,
            );
            self.open_price_period(instance, price, now);
            self.start_walk(instance, InstanceStatus::New, Walk::Boot);
            instances.push(instance);
        }
        if let Some(bid) = self.bids.get_mut(&seq) {
            bid.instances = instances;
        }
    }

    fn reprice(&mut self, seq: u64, price: u64) {
        let now = self.now;
        let instances = self
            .bids
            .get(&seq)
            .map(|bid| bid.instances.clone())
            .unwrap_or_default();
        for instance in instances {
            self.open_price_period(instance, price, now);
        }
    }

    /// The bid lost its allocation: notice starts; its instances keep running (and paying the price
    /// they had) until the notice ends.
    fn preempt(&mut self, seq: u64) {
        let now = self.now;
        self.note_bid(seq);
        let notice = SignedDuration::from_secs(self.timings.preemption_notice_seconds as i64);
        let Some(bid) = self.bids.get_mut(&seq) else {
            return;
        };
        bid.status = BidStatus::Preempting;
        bid.generation += 1;
        bid.history.push(event(
            now,
            BidEventType::Preempted,
            Some(bid.limit_cents),
            None,
        ));
        let (auction, limit, generation) = (bid.auction, bid.limit_cents, bid.generation);
        let instances = bid.instances.clone();
        self.auctions[auction]
            .contenders
            .remove(&(Reverse(limit), seq));
        self.auctions[auction].preempting.insert(seq);
        for instance in instances {
            self.set_instance_status(instance, InstanceStatus::Preempting);
        }
        self.schedule(
            now + notice,
            Timer::NoticeEnds {
                bid: seq,
                generation,
            },
        );
    }

    /// Notice over: instances are PREEMPTED and stop paying; the bid is Open and can win again.
    pub(super) fn end_notice(&mut self, seq: u64, generation: u64) {
        if self
            .bids
            .get(&seq)
            .is_some_and(|bid| bid.generation == generation && bid.status == BidStatus::Preempting)
        {
            self.note_bid(seq);
        }
        let Some(bid) = self
            .bids
            .get_mut(&seq)
            .filter(|bid| bid.generation == generation)
        else {
            return;
        };
        if bid.status != BidStatus::Preempting {
            return;
        }
        bid.status = BidStatus::Open;
        bid.generation += 1;
        let (auction, limit) = (bid.auction, bid.limit_cents);
        let instances = bid.instances.clone();
        self.auctions[auction].preempting.remove(&seq);
        self.auctions[auction]
            .contenders
            .insert((Reverse(limit), seq));
        for instance in instances {
            if self
                .instances
                .get(&instance)
                .is_some_and(|i| i.status == InstanceStatus::Preempting)
            {
                self.close_price_period(instance);
                self.set_instance_status(instance, InstanceStatus::Preempted);
            }
        }
    }
}

/// Statuses in which an instance is up or on its way up (it can be stopped).
fn is_live(status: InstanceStatus) -> bool {
    matches!(
        status,
        InstanceStatus::New
            | InstanceStatus::Confirmed
            | InstanceStatus::Initializing
            | InstanceStatus::Starting
            | InstanceStatus::Running
            | InstanceStatus::Preempting
    )
}

fn event(
    timestamp: jiff::Timestamp,
    event_type: BidEventType,
    limit_cents: Option<u64>,
    user: Option<&str>,
) -> BidHistoryEventModel {
    BidHistoryEventModel {
        timestamp,
        event_type,
        limit_price: limit_cents.map(format_price),
        user_id: user.map(str::to_owned),
        memory_gb: None,
        persistent_disk_change: None,
    }
}
