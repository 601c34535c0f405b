//! Simulated time: the timer queue, the market tick and the instance lifecycle walks.

use jiff::{SignedDuration, Timestamp};
use rand::RngExt;

use super::{Instance, Owner, World};
use crate::fid::{FidKind, random_fid};
use crate::wire::{InstancePricingEvent, InstanceStatus, InstanceStatusEvent};

/// Something due at a simulated instant.
#[derive(Debug, Clone, Copy)]
pub(super) enum Timer {
    /// Move an instance one step along a walk, if it has not changed status since.
    InstanceStep {
        instance: u64,
        generation: u64,
        to: InstanceStatus,
        walk: Walk,
    },
    /// End a bid's preemption notice, if it has not changed status since.
    NoticeEnds { bid: u64, generation: u64 },
}

/// The status sequences an instance walks through on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    /// NEW → CONFIRMED → INITIALIZING → STARTING → RUNNING.
    Boot,
    /// CONFIRMED → RUNNING (a paused instance coming back).
    Resume,
    /// STOPPING → PAUSED.
    Stop,
}

impl World {
    /// Moves simulated time to `target`, running every timer and tick due, in time order. A timer due
    /// at the same instant as a tick runs first (a notice that ends frees its capacity for the tick).
    pub fn advance_to(&mut self, target: Timestamp) {
        loop {
            let next_timer = self.timers.first_key_value().map(|((at, _), _)| *at);
            match next_timer {
                Some(at) if at <= self.next_tick && at <= target => {
                    self.now = self.now.max(at);
                    if let Some((_, timer)) = self.timers.pop_first() {
                        self.fire(timer);
                    }
                }
                _ if self.next_tick <= target => {
                    self.now = self.now.max(self.next_tick);
                    self.next_tick += SignedDuration::from_secs(self.timings.tick_seconds as i64);
                    self.clear_all_auctions();
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::InstanceStep {
                instance,
                generation,
                to,
                walk,
            } => {
                if self
                    .instances
                    .get(&instance)
                    .is_some_and(|i| i.generation == generation)
                {
                    self.start_walk(instance, to, walk);
                }
            }
            Timer::NoticeEnds { bid, generation } => self.end_notice(bid, generation),
        }
    }

    pub(super) fn schedule(&mut self, at: Timestamp, timer: Timer) {
        let seq = self.next_seq();
        self.timers.insert((at, seq), timer);
    }

    pub(super) fn after(&mut self, seconds: u64) -> Timestamp {
        let jitter = match self.timings.jitter_seconds {
            0 => 0,
            max => self.rng.random_range(0..=max),
        };
        self.now + SignedDuration::from_secs((seconds + jitter) as i64)
    }

    /// Creates an instance in `status` at `at` and returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_instance(
        &mut self,
        name: String,
        project: &str,
        created_by: &str,
        instance_type: &str,
        region: &str,
        owner: Owner,
        at: Timestamp,
        status: InstanceStatus,
    ) -> u64 {
        let seq = self.next_seq();
        let fid = random_fid(FidKind::Instance, &mut self.rng);
        self.note_new_instance(seq);
        let private_ip = format!(
            "10.{}.{}.{}",
            (seq >> 16) & 0xff,
            (seq >> 8) & 0xff,
            seq & 0xff
        );
        self.instance_index.insert(fid.clone(), seq);
        self.instances.insert(
            seq,
            Instance {
                seq,
                fid,
                name,
                project: project.to_owned(),
                created_by: created_by.to_owned(),
                created_at: at,
                instance_type: instance_type.to_owned(),
                region: region.to_owned(),
                owner,
                status,
                generation: 0,
                events: vec![InstanceStatusEvent {
                    timestamp: at,
                    status,
                }],
                pricing: Vec::new(),
                private_ip,
            },
        );
        seq
    }

    /// Records a status change now; pending lifecycle steps of the instance fall idle.
    pub(super) fn set_instance_status(&mut self, seq: u64, status: InstanceStatus) {
        let now = self.now;
        if self
            .instances
            .get(&seq)
            .is_some_and(|instance| instance.status != status)
        {
            self.note_instance(seq);
        }
        if let Some(instance) = self.instances.get_mut(&seq) {
            if instance.status != status {
                instance.status = status;
                instance.events.push(InstanceStatusEvent {
                    timestamp: now,
                    status,
                });
            }
            instance.generation += 1;
        }
    }

    /// Sets `status` now and schedules the walk's next step from it, if any.
    pub(super) fn start_walk(&mut self, seq: u64, status: InstanceStatus, walk: Walk) {
        self.set_instance_status(seq, status);
        let t = &self.timings;
        let next = match (walk, status) {
            (Walk::Boot, InstanceStatus::New) => {
                Some((InstanceStatus::Confirmed, t.new_to_confirmed_seconds))
            }
            (Walk::Boot, InstanceStatus::Confirmed) => Some((
                InstanceStatus::Initializing,
                t.confirmed_to_initializing_seconds,
            )),
            (Walk::Boot, InstanceStatus::Initializing) => {
                Some((InstanceStatus::Starting, t.initializing_to_starting_seconds))
            }
            (Walk::Boot, InstanceStatus::Starting) => {
                Some((InstanceStatus::Running, t.starting_to_running_seconds))
            }
            (Walk::Resume, InstanceStatus::Confirmed) => {
                Some((InstanceStatus::Running, t.resume_seconds))
            }
            (Walk::Stop, InstanceStatus::Stopping) => {
                Some((InstanceStatus::Paused, t.stopping_to_paused_seconds))
            }
            _ => None,
        };
        if let Some((to, seconds)) = next {
            let at = self.after(seconds);
            let generation = self
                .instances
                .get(&seq)
                .map_or(0, |instance| instance.generation);
            self.schedule(
                at,
                Timer::InstanceStep {
                    instance: seq,
                    generation,
                    to,
                    walk,
                },
            );
        }
    }

    /// Opens a price period unless one at the same price is already open.
    pub(super) fn open_price_period(&mut self, seq: u64, price_cents: u64, at: Timestamp) {
        if let Some(instance) = self.instances.get_mut(&seq) {
            match instance.pricing.last_mut() {
                Some(open) if open.end_time.is_none() && open.price_cents == price_cents => {}
                Some(open) if open.end_time.is_none() => {
                    open.end_time = Some(at);
                    instance.pricing.push(InstancePricingEvent {
                        price_cents,
                        start_time: at,
                        end_time: None,
                    });
                }
                _ => instance.pricing.push(InstancePricingEvent {
                    price_cents,
                    start_time: at,
                    end_time: None,
                }),
            }
        }
    }

    pub(super) fn close_price_period(&mut self, seq: u64) {
        let now = self.now;
        if let Some(open) = self
            .instances
            .get_mut(&seq)
            .and_then(|instance| instance.pricing.last_mut())
            .filter(|period| period.end_time.is_none())
        {
            open.end_time = Some(now);
        }
    }
}
