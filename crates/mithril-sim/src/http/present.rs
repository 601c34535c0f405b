//! From the world's records to the wire types.

use crate::money::format_price;
use crate::wire::{AuctionModel, BidModel, InstanceModel, InstanceStatus, InstanceStatusResponse};
use crate::world::{Bid, Instance, Owner, World};

pub fn bid_model(world: &World, bid: &Bid) -> BidModel {
    BidModel {
        fid: bid.fid.clone(),
        name: bid.name.clone(),
        project: bid.project.clone(),
        created_by: bid.created_by.clone(),
        created_at: bid.created_at,
        deactivated_at: bid.deactivated_at,
        limit_price: bid
            .limit_text
            .clone()
            .unwrap_or_else(|| format_price(bid.limit_cents)),
        instance_quantity: bid.quantity,
        instance_type: bid.instance_type.clone(),
        region: Some(bid.region.clone()),
        instances: bid
            .instances
            .iter()
            .filter_map(|seq| world.instance_by_seq(*seq))
            .map(|instance| instance.fid.clone())
            .collect(),
        launch_specification: bid.launch_specification.clone(),
        status: bid.status,
    }
}

/// Addresses are handed out once an instance is up.
fn reachable(status: InstanceStatus) -> bool {
    matches!(
        status,
        InstanceStatus::Running | InstanceStatus::Stopping | InstanceStatus::Preempting
    )
}

pub fn instance_model(world: &World, instance: &Instance) -> InstanceModel {
    let (bid, reservation) = world.owner_fids(instance);
    let up = reachable(instance.status);
    InstanceModel {
        fid: instance.fid.clone(),
        name: instance.name.clone(),
        project: instance.project.clone(),
        created_at: instance.created_at,
        created_by: instance.created_by.clone(),
        instance_type: instance.instance_type.clone(),
        region: Some(instance.region.clone()),
        bid,
        reservation,
        ssh_destination: up.then(|| format!("{}:22", instance.private_ip)),
        private_ip: up.then(|| instance.private_ip.clone()),
        status: instance.status,
    }
}

pub fn instance_status(world: &World, instance: &Instance) -> InstanceStatusResponse {
    let (bid, reservation) = world.owner_fids(instance);
    let end_time = match instance.owner {
        Owner::Reservation(index) => world
            .reservation(index)
            .map(|reservation| reservation.end_time),
        Owner::Bid(seq) => world.bid_by_seq(seq).and_then(|bid| bid.deactivated_at),
    };
    InstanceStatusResponse {
        fid: instance.fid.clone(),
        name: instance.name.clone(),
        status: instance.status,
        bid,
        reservation,
        end_time,
    }
}

pub fn auction_model(world: &World, index: usize) -> Option<AuctionModel> {
    let auction = world.auctions().get(index)?;
    Some(AuctionModel {
        fid: auction.fid.clone(),
        instance_type: auction.instance_type.clone(),
        region: auction.region.clone(),
        capacity: auction.capacity.saturating_sub(world.held_instances(index)),
        last_instance_price: format_price(auction.last_price_cents),
        lowest_allocated_price: auction.lowest_allocated_cents.map(format_price),
        adjustable_memory: false,
        default_image_version: None,
    })
}
