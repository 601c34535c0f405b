//! Pausing and resuming reserved instances (`PATCH /v2/instances`).

use std::collections::BTreeMap;

use super::lifecycle::Walk;
use super::{Caller, Owner, World};
use crate::wire::InstanceStatus;

/// The target a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedAction {
    Pause,
    Resume,
}

/// Why a whole request is refused; nothing is changed then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservedError {
    #[error("Instance {0} not found")]
    NotFound(String),
    #[error("Instance {0} belongs to a spot bid; spot bids are not yet supported")]
    Spot(String),
    #[error("Instance {0} is not yet ready for this operation")]
    NotReady(String),
}

/// What an action does to an instance in a given status.
enum Effect {
    Act,
    Unchanged,
    NotReady,
}

fn effect(action: ReservedAction, status: InstanceStatus) -> Effect {
    use InstanceStatus as S;
    match (action, status) {
        (ReservedAction::Pause, S::Running) | (ReservedAction::Resume, S::Paused) => Effect::Act,
        (
            ReservedAction::Pause,
            S::New | S::Confirmed | S::Initializing | S::Starting | S::Relocating,
        ) => Effect::NotReady,
        (ReservedAction::Resume, S::Stopping | S::Relocating) => Effect::NotReady,
        _ => Effect::Unchanged,
    }
}

impl World {
    /// The sequence number of the reserved instance of FID `fid`, if one has it.
    fn reserved_seq(&self, fid: &str) -> Option<u64> {
        let seq = *self.instance_index.get(fid)?;
        self.instances
            .get(&seq)
            .is_some_and(|instance| matches!(instance.owner, Owner::Reservation(_)))
            .then_some(seq)
    }

    /// Forgets a reserved instance, as Mithril does once it has removed one: every request that
    /// names it answers 404 from then on, and no listing shows it. False when no reserved
    /// instance has this FID (spot instances go with their bid, not alone).
    pub fn forget_reserved_instance(&mut self, fid: &str) -> bool {
        let Some(seq) = self.reserved_seq(fid) else {
            return false;
        };
        self.instance_index.remove(fid);
        // Pending lifecycle steps find no instance and do nothing.
        self.instances.remove(&seq);
        true
    }

    /// Makes a reserved instance stoppable or not. One that is not stays as it is on a pause,
    /// which answers its prior status unchanged. False when no reserved instance has this FID.
    pub fn set_stoppable(&mut self, fid: &str, stoppable: bool) -> bool {
        let Some(seq) = self.reserved_seq(fid) else {
            return false;
        };
        if stoppable {
            self.unstoppable.remove(&seq);
        } else {
            self.unstoppable.insert(seq);
        }
        true
    }

    /// Applies `action` to every instance or to none. Unknown (or unseen) FIDs answer first, then
    /// spot instances, then instances not ready; otherwise each instance that can act does
    /// (STOPPING on pause, CONFIRMED on resume) and the others keep their status, as does an
    /// instance that cannot be stopped on a pause.
    pub fn set_reserved_status(
        &mut self,
        caller: &Caller,
        fids: &[String],
        action: ReservedAction,
    ) -> Result<BTreeMap<String, InstanceStatus>, ReservedError> {
        let mut seqs = Vec::with_capacity(fids.len());
        for fid in fids {
            match self
                .instance(fid)
                .filter(|instance| caller.sees(&instance.project))
            {
                Some(instance) => seqs.push(instance.seq),
                None => return Err(ReservedError::NotFound(fid.clone())),
            }
        }
        let found: Vec<_> = seqs
            .iter()
            .filter_map(|seq| self.instances.get(seq))
            .collect();
        if let Some(spot) = found
            .iter()
            .find(|instance| matches!(instance.owner, Owner::Bid(_)))
        {
            return Err(ReservedError::Spot(spot.fid.clone()));
        }
        if let Some(busy) = found
            .iter()
            .find(|instance| matches!(effect(action, instance.status), Effect::NotReady))
        {
            return Err(ReservedError::NotReady(busy.fid.clone()));
        }
        let now = self.now;
        let mut answer = BTreeMap::new();
        for seq in seqs {
            let Some(instance) = self.instances.get(&seq) else {
                continue;
            };
            let (status, owner) = (instance.status, instance.owner);
            let held = action == ReservedAction::Pause && self.unstoppable.contains(&seq);
            if !held && matches!(effect(action, status), Effect::Act) {
                match action {
                    ReservedAction::Pause => {
                        self.close_price_period(seq);
                        self.start_walk(seq, InstanceStatus::Stopping, Walk::Stop);
                    }
                    ReservedAction::Resume => {
                        let price = match owner {
                            Owner::Reservation(index) => {
                                self.reservations.get(index).map_or(0, |r| r.price_cents)
                            }
                            Owner::Bid(_) => 0,
                        };
                        self.open_price_period(seq, price, now);
                        self.start_walk(seq, InstanceStatus::Confirmed, Walk::Resume);
                    }
                }
            }
            if let Some(instance) = self.instances.get(&seq) {
                answer.insert(instance.fid.clone(), instance.status);
            }
        }
        Ok(answer)
    }
}
