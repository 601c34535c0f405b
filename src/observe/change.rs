//! What the observer tells controllers, and how it decides that something changed.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use mithril_api::{Bid, BidStatus, InstanceStatus, Price};

use crate::digest::digest;

/// One thing a controller may want to reconcile again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// Something a SpotBid reports about this bid changed: its status, limit price, instance set,
    /// one of its instances' statuses, or its market's clearing price (or the bid appeared or
    /// disappeared).
    BidChanged { fid: String, name: String },
    /// A reserved instance's status changed (or it appeared or disappeared).
    InstanceChanged { fid: String, reservation: String },
    /// Re-check everything: the observer has just synced, Mithril started or stopped rejecting
    /// the API key, more changed at once than is worth listing, or the subscriber fell behind.
    Resync,
}

/// The changes of one observer, as a stream that never ends while the observer lives.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Change> + Send + 'static>>;

/// Turns a broadcast receiver into a [`ChangeStream`]: a subscriber that lagged gets
/// [`Change::Resync`] in place of the changes it missed.
pub(crate) fn change_stream(receiver: broadcast::Receiver<Change>) -> ChangeStream {
    Box::pin(BroadcastStream::new(receiver).map(|item| match item {
        Ok(change) => change,
        Err(BroadcastStreamRecvError::Lagged(_)) => Change::Resync,
    }))
}

/// Everything about a bid whose change is worth a reconcile, as a digest compared cycle to cycle:
/// its status, limit price, quantity, instances (sorted) with their status as last seen, and its
/// market's clearing price (left out for terminated bids, which pay nothing and must not wake up
/// on every market move).
///
/// One is kept per bid for the observer's life; a 64-bit digest instead of a copy of those fields
/// keeps that to eight bytes (a collision would cost one missed wake-up, which the next resync
/// makes up for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BidFingerprint {
    digest: u64,
}

impl BidFingerprint {
    pub(crate) fn of(
        bid: &Bid,
        instance_status: impl Fn(&str) -> Option<InstanceStatus>,
        clearing_price: Option<Price>,
    ) -> Self {
        let mut instances: Vec<(&str, Option<InstanceStatus>)> = bid
            .instances
            .iter()
            .map(|fid| (fid.as_str(), instance_status(fid)))
            .collect();
        instances.sort();
        let clearing_price = if bid.status == BidStatus::Terminated {
            None
        } else {
            clearing_price
        };
        BidFingerprint {
            digest: digest(&(
                &bid.status,
                bid.limit_price,
                bid.instance_quantity,
                &instances,
                clearing_price,
            )),
        }
    }
}
