//! [`Sim`]: the simulator as a cheap, cloneable handle that tests, the demo and the benchmark drive.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::error::SimError;
use super::http::counters::{CounterKey, Counters};
use super::http::faults::{FaultSpec, FaultTable};
use super::world::World;
use super::world_spec::WorldSpec;

/// How simulated time flows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// Nothing moves unless [`Sim::advance`] (or `POST /_sim/advance`) moves it.
    Manual,
    /// Simulated time runs this many times as fast as real time (and can still be advanced).
    Scaled(f64),
}

/// Everything a simulator is built from.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds FIDs, lifecycle jitter and fault draws.
    pub seed: u64,
    pub world: WorldSpec,
    /// When set, this exact key is the only one accepted; otherwise any `fkey_` key is.
    pub api_key: Option<String>,
    pub clock: ClockMode,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            world: WorldSpec::default(),
            api_key: None,
            clock: ClockMode::Manual,
        }
    }
}

/// Ties simulated time to the wall clock in [`ClockMode::Scaled`].
struct ScaledClock {
    real_start: Instant,
    sim_start: Timestamp,
    factor: f64,
    /// Time added by explicit advances, on top of the scaled flow.
    skipped: SignedDuration,
}

impl ScaledClock {
    fn target(&self) -> Timestamp {
        let elapsed = self.real_start.elapsed().as_secs_f64() * self.factor;
        let flowed = SignedDuration::try_from_secs_f64(elapsed).unwrap_or(SignedDuration::MAX);
        let target = self
            .sim_start
            .checked_add(flowed.saturating_add(self.skipped))
            .unwrap_or(Timestamp::MAX);
        // Mithril's timestamps carry microseconds at most; so do ours.
        target.round(jiff::Unit::Microsecond).unwrap_or(target)
    }
}

struct WorldState {
    world: World,
    scaled: Option<ScaledClock>,
}

struct Inner {
    state: Mutex<WorldState>,
    api_key: Option<String>,
    clock: ClockMode,
    faults: Mutex<FaultTable>,
    counters: Mutex<BTreeMap<CounterKey, u64>>,
}

/// The simulator: a world behind a lock, its HTTP API, its clock and its fault table.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    /// Builds a simulator from a world known to be valid (the default world, a fixture).
    ///
    /// # Panics
    /// When the world is invalid (an unknown project, region or type, a malformed price); use
    /// [`Sim::try_new`] for worlds read at run time.
    pub fn new(config: SimConfig) -> Self {
        match Self::try_new(config) {
            Ok(sim) => sim,
            Err(error) => panic!("invalid simulator world: {error}"),
        }
    }

    /// Builds a simulator, reporting an invalid world.
    pub fn try_new(config: SimConfig) -> Result<Self, SimError> {
        let start = match (config.clock, config.world.start_time) {
            (_, Some(start)) => start,
            (ClockMode::Manual, None) => super::world::DEFAULT_START,
            (ClockMode::Scaled(_), None) => {
                let now = Timestamp::now();
                now.round(jiff::Unit::Second).unwrap_or(now)
            }
        };
        let world = World::new(&config.world, config.seed, start)?;
        let scaled = match config.clock {
            ClockMode::Manual => None,
            ClockMode::Scaled(factor) => Some(ScaledClock {
                real_start: Instant::now(),
                sim_start: world.now(),
                factor: factor.max(0.0),
                skipped: SignedDuration::ZERO,
            }),
        };
        Ok(Sim {
            inner: Arc::new(Inner {
                state: Mutex::new(WorldState { world, scaled }),
                api_key: config.api_key,
                clock: config.clock,
                faults: Mutex::new(FaultTable::new(config.seed)),
                counters: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// Locks the world, first bringing a scaled clock up to date.
    pub(crate) fn world(&self) -> WorldGuard<'_> {
        let mut state = lock(&self.inner.state);
        if let Some(target) = state.scaled.as_ref().map(ScaledClock::target) {
            state.world.advance_to(target);
        }
        WorldGuard(state)
    }

    pub(crate) fn api_key(&self) -> Option<&str> {
        self.inner.api_key.as_deref()
    }

    pub fn clock(&self) -> ClockMode {
        self.inner.clock
    }

    /// Moves simulated time forward by `d`, running every tick and transition due, in order.
    pub fn advance(&self, d: Duration) {
        let step = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        let mut state = lock(&self.inner.state);
        if let Some(scaled) = state.scaled.as_mut() {
            scaled.skipped = scaled.skipped.saturating_add(step);
        }
        let stepped = state
            .world
            .now()
            .checked_add(step)
            .unwrap_or(Timestamp::MAX);
        let target = state
            .scaled
            .as_ref()
            .map_or(stepped, |scaled| scaled.target().max(stepped));
        state.world.advance_to(target);
    }

    /// Current simulated time.
    pub fn now(&self) -> Timestamp {
        self.world().now()
    }

    /// Changes an auction's capacity (instance type by name or FID); effective at the next clearing.
    pub fn set_capacity(
        &self,
        region: &str,
        instance_type: &str,
        capacity: u32,
    ) -> Result<(), SimError> {
        self.world().set_capacity(region, instance_type, capacity)
    }

    /// Adds competing demand from a hidden project; returns its bid FID.
    pub fn add_demand(
        &self,
        region: &str,
        instance_type: &str,
        quantity: u32,
        limit_cents: u64,
    ) -> Result<String, SimError> {
        self.world()
            .add_demand(region, instance_type, quantity, limit_cents)
    }

    /// Every bid as Mithril holds it, with no fault or lag in the way: (FID, name, live). For tests
    /// that check what was placed.
    pub fn bids_as_held(&self) -> Vec<(String, String, bool)> {
        self.world()
            .bids()
            .values()
            .map(|bid| {
                let live = bid.status != super::wire::BidStatus::Terminated;
                (bid.fid.clone(), bid.name.clone(), live)
            })
            .collect()
    }

    /// Renames a project, as its owner may outside the API; whether a project had that name.
    pub fn rename_project(&self, from: &str, to: &str) -> bool {
        self.world().rename_project(from, to)
    }

    /// Removes competing demand added by [`Sim::add_demand`].
    pub fn remove_demand(&self, bid_fid: &str) -> Result<(), SimError> {
        self.world().remove_demand(bid_fid)
    }

    /// Makes Mithril forget a reserved instance (e.g. one removed from its reservation): every
    /// request naming it answers 404 from then on. Errors when no reserved instance has this FID.
    pub fn forget_instance(&self, fid: &str) -> Result<(), SimError> {
        if self.world().forget_reserved_instance(fid) {
            Ok(())
        } else {
            Err(SimError::UnknownReservedInstance(fid.to_owned()))
        }
    }

    /// Makes a reserved instance stoppable or not (as a world file's `stoppable: false` does for
    /// a whole reservation): a pause leaves one that is not as it is and answers its prior status
    /// unchanged. Errors when no reserved instance has this FID.
    pub fn set_stoppable(&self, fid: &str, stoppable: bool) -> Result<(), SimError> {
        if self.world().set_stoppable(fid, stoppable) {
            Ok(())
        } else {
            Err(SimError::UnknownReservedInstance(fid.to_owned()))
        }
    }

    pub fn faults(&self) -> FaultsHandle {
        FaultsHandle { sim: self.clone() }
    }

    pub(crate) fn with_faults<T>(&self, f: impl FnOnce(&mut FaultTable) -> T) -> T {
        f(&mut lock(&self.inner.faults))
    }

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        Counters {
            entries: lock(&self.inner.counters).clone(),
        }
    }

    pub fn reset_counters(&self) {
        lock(&self.inner.counters).clear();
    }

    pub(crate) fn record(&self, key: CounterKey) {
        *lock(&self.inner.counters).entry(key).or_insert(0) += 1;
    }
}

/// The locked world.
pub(crate) struct WorldGuard<'a>(MutexGuard<'a, WorldState>);

impl std::ops::Deref for WorldGuard<'_> {
    type Target = World;
    fn deref(&self) -> &World {
        &self.0.world
    }
}

impl std::ops::DerefMut for WorldGuard<'_> {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.0.world
    }
}

/// Sets and clears faults on a running simulator.
#[derive(Clone)]
pub struct FaultsHandle {
    pub(crate) sim: Sim,
}

impl FaultsHandle {
    /// Faults for one route, e.g. `("POST", "/v2/spot/bids")`; they take precedence over global ones.
    pub fn set_route(&self, method: &str, route: &str, spec: FaultSpec) {
        self.change(|table| {
            table
                .routes
                .insert((method.to_ascii_uppercase(), route.to_owned()), spec);
        });
    }

    /// Faults for every API route without its own.
    pub fn set_all(&self, spec: FaultSpec) {
        self.change(|table| table.global = Some(spec));
    }

    pub fn clear_route(&self, method: &str, route: &str) {
        self.change(|table| {
            table
                .routes
                .remove(&(method.to_ascii_uppercase(), route.to_owned()));
        });
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.change(|table| {
            table.global = None;
            table.routes.clear();
        });
    }

    /// Changes the table, then tells the world how long to remember changes for lagging lists
    /// (one lock at a time: requests take the fault table, then the world).
    fn change(&self, edit: impl FnOnce(&mut FaultTable)) {
        let window = self.sim.with_faults(|table| {
            edit(table);
            table.longest_list_lag()
        });
        self.sim.world().set_change_window(window);
    }
}
