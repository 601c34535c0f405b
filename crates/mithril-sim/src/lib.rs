//! Mithril simulator: the Mithril API on an in-memory world with a driven clock and market.
//! Depends on no other crate of the project, so it could be published on its own.
//!
//! It serves the 13 endpoints the operator uses (`/v2/spot/bids...`, `/v2/spot/availability`,
//! `/v2/instances...`) plus `GET /v2/projects` and `GET /v2/instance-types`, with its own wire types
//! ([`wire`]) matching Mithril's OpenAPI schemas field for field, and a control API under `/_sim/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mithril_sim::SimError> {
//! use mithril_sim::{Sim, SimConfig};
//! let sim = Sim::new(SimConfig::default()); // default world, seed 0, any fkey_ key, manual clock
//! let server = sim.serve("127.0.0.1:0".parse().expect("address")).await?;
//! // ... point a client at server.url() with `Authorization: Bearer fkey_...` ...
//! sim.advance(std::time::Duration::from_secs(120)); // one clearing
//! let demand = sim.add_demand("us-central1-a", "h100-80gb.sxm.8x", 4, 3_000)?; // 4 instances at $30.00
//! # Ok(()) }
//! ```
//!
//! # Time
//! Simulated time starts at 2025-01-01T00:00:00Z with [`ClockMode::Manual`] (nothing moves unless
//! [`Sim::advance`] or `POST /_sim/advance` moves it), at the wall clock with
//! [`ClockMode::Scaled`] (simulated time runs X times real time; `mithril-dev sim` uses it with
//! X = `--time-scale`, 1 by default), or at the world's `start_time`. Advancing runs, in time order,
//! every lifecycle step and every clearing due; a step due at the instant of a clearing runs first.
//!
//! # The market
//! One auction per (region, instance type), with a capacity (instances) and a floor price. Clearings
//! run every `tick_seconds` (120) of simulated time, on a grid from the start. Each clearing takes
//! the bids that are Open or Allocated and walks them by limit price, highest first, older first
//! among equal limits:
//! - a bid asking for more instances than the auction's whole capacity takes no part (it can never
//!   win, so it neither blocks others nor sets the price);
//! - a bid whose limit is below the floor ends the walk (it and every later bid lose);
//! - a bid whose whole quantity fits in the capacity left wins it (all or nothing);
//! - the first bid that does not fit ends the walk: it and every later bid lose.
//!
//! Every winner pays the same clearing price: the larger of the floor and the highest losing limit
//! (the limit of the bid that ended the walk, if one did). Winners all precede that bid, so no
//! winner ever pays more than its limit. `GET /v2/spot/availability` shows, per auction, the free
//! capacity (capacity minus instances held by Allocated and Preempting bids, never below zero), the
//! last clearing price and the lowest limit among the current winners.
//!
//! # Bids
//! - **Open** after `POST` (taking part from the next clearing), and again after a preemption.
//! - **Allocated** when it wins: `instance_quantity` new instances walk NEW → CONFIRMED →
//!   INITIALIZING → STARTING → RUNNING (30 s, 30 s, 120 s, 60 s; plus a seeded jitter in
//!   `0..=jitter_seconds`, 0 by default). While it keeps winning, its instances follow the clearing
//!   price (a new price period each time the price changes).
//! - **Preempting** when an Allocated bid loses a clearing (more demand, less capacity, or its own
//!   lower limit after `PATCH`): its instances go PREEMPTING and keep running, at the price they
//!   had, for `preemption_notice_seconds` (300); they hold capacity meanwhile, while the winners are
//!   allocated at once. Then the instances are PREEMPTED (their price period closes), the bid is Open
//!   again and can win again, with new instances.
//! - **Paused** by `PATCH {"paused": true}`: the bid leaves the auction at once and holds no
//!   capacity and pays nothing; its live instances go STOPPING then PAUSED (60 s) and stay attached
//!   to it. `{"paused": false}` makes it Open; when it wins again its PAUSED instances come back
//!   (CONFIRMED, then RUNNING after 60 s) instead of new ones.
//! - **Terminated** by `DELETE` (204; again: still 204): its instances are TERMINATED,
//!   `deactivated_at` is set (with `unique_bid_names`, its name is free again). `PATCH` on it
//!   answers 400.
//!
//! A new limit price takes effect at the next clearing. Names are not unique: the spec promises
//! nothing about them, so two live bids of a project may share one (the world option
//! `conveniences.unique_bid_names` refuses the second with `400 {"detail": "name already used"}`).
//! The `Idempotency-Key` header is accepted and ignored (the spec does not define it): a POST sent
//! twice places two bids. Bid history records Placed, Allocated, Preempted (when the notice
//! starts), Paused, Resumed, Terminated, Limit Price Changed, Memory Adjusted and Volumes
//! Attached/Removed.
//!
//! # Reserved instances
//! Reservations hold instances RUNNING from the start (or PAUSED, as many as a reservation's
//! `paused` says: paused before the start, not charged until resumed). `PATCH /v2/instances` pauses
//! (`STATUS_PAUSED`: RUNNING → STOPPING → PAUSED) or resumes (`STATUS_RUNNING`: PAUSED → CONFIRMED →
//! RUNNING) a set of them, all or none: an unknown or unseen FID answers 404, a spot instance 501, an
//! instance in transition 409 (pausing one still coming up; resuming one still stopping). Otherwise
//! the answer maps every FID to its status after the request: STOPPING or CONFIRMED when it acts, the
//! prior status when the instance is already there or cannot stop (e.g. TERMINATED, or RUNNING in a
//! reservation marked `stoppable: false`; [`Sim::set_stoppable`] marks one instance). Paused time
//! is not charged: the price period closes on pause and a new one opens on resume.
//! [`Sim::forget_instance`] makes the world forget a reserved instance, as Mithril does once it has
//! removed one: no listing shows it and every request naming it answers 404.
//!
//! # Histories
//! Instance status history records every transition; pricing history records price periods in
//! integer cents (`end_time` null while open). Both page over instances (oldest first) and filter
//! events by `start_time`/`end_time` (a period is kept when it overlaps the window).
//!
//! # Access and errors
//! `Authorization: Bearer fkey_...` is required on every Mithril route (401 `{"detail": ...}`
//! otherwise); with an API key configured only that key passes. A key sees the projects the world
//! gives it; bids, instances and projects it does not see answer 404 like unknown FIDs. Lists page
//! with `limit` (1..=100, default 100) and an opaque `next_cursor` (null on the last page). With
//! `sort_by` the documented order holds (`sort_dir` ascending by default, creation order among
//! equal keys). Without it, the order is one the spec does not fix: a seeded shuffle, not creation
//! order, in which an item moves when its status changes, so pages may skip or repeat an item whose
//! status changed meanwhile; through an unchanged world, paging still serves each item once. A
//! cursor is bound to its order and stays valid when items are created between pages. Array query
//! parameters (`status_in`, `order_type_in`, `bid_fid_in`, `reservation_fid_in`) take repeated
//! keys (the schema's form/explode encoding), comma-separated values (the descriptions' wording),
//! or a mix. Validation errors answer 422 in FastAPI's shape with pydantic v2 types
//! and wording (`missing`, `greater_than_equal`, `string_pattern_mismatch`, `enum`, `value_error`
//! for unknown regions and instance types, ...). Unknown paths answer 404 `{"detail": "Not Found"}`.
//!
//! # Faults and counters
//! [`Sim::faults`] (or `PUT /_sim/faults`) sets, per route template (`GET /v2/spot/bids/{bid_fid}`)
//! or for every Mithril route, a share of 503 answers, a share of 429 with `Retry-After`, added
//! latency and a share of dropped connections, each before the request is carried out; and the
//! ambiguous kinds, a share carried out and then answered 503 or dropped (the bid is placed, the
//! answer is lost). `late_commit` drops a share of writes (POST, PATCH, DELETE) at once and carries
//! each out `late_commit_delay` ms later, in its own task (the client is gone by then), through the
//! same validation: a write refused then never lands. `list_lag` (ms) makes the lists answered
//! through the spec (`GET /v2/spot/bids`, `GET /v2/instances`) show bids and instances as they were
//! that long ago: new ones absent, changed ones in their previous state, filters and order applied
//! to that view; `GET /v2/spot/bids/{bid_fid}` stays current. Changes are remembered while some spec
//! has a `list_lag`. Draws come from a generator seeded by the seed.
//! [`Sim::counters`] counts requests per (method, route template, status or dropped); `/_sim/`
//! requests are neither faulted nor counted. See [`http`] for the control routes.
//!
//! # World files
//! `--world FILE` (YAML or JSON) replaces the default world ([`WorldSpec::default`]: project `demo`
//! seen by every key; regions us-central1-a, us-central1-b, us-central2-a, us-central5-a,
//! eu-central1-a; types h100-80gb.sxm.8x, a100-80gb.sxm.8x, a100-40gb.sxm.4x with an auction in
//! every region; three reservations of two instances in `demo`: `demo-reserved`, a100-80gb.sxm.8x
//! in us-central1-a, both RUNNING; `batch-h100`, h100-80gb.sxm.8x in us-central1-a, and
//! `office-a100`, a100-80gb.sxm.8x in eu-central1-a, each with one RUNNING and one PAUSED, so the
//! example InstanceSchedules have an instance to pause or resume whatever the time of day). FIDs not
//! given are derived from names, so they do not depend on the seed. Example
//! (`tests/fixtures/sim_world.yaml` is a complete one):
//!
//! ```yaml
//! start_time: 2025-06-01T08:00:00Z    # optional
//! timings:                            # optional, each field too (seconds; defaults shown)
//!   tick_seconds: 120
//!   preemption_notice_seconds: 300
//!   new_to_confirmed_seconds: 30
//!   confirmed_to_initializing_seconds: 30
//!   initializing_to_starting_seconds: 120
//!   starting_to_running_seconds: 60
//!   stopping_to_paused_seconds: 60
//!   resume_seconds: 60
//!   jitter_seconds: 0
//! projects:
//!   - name: research                  # fid: optional
//! any_key_projects: [research]        # what keys not listed below see (default: nothing)
//! api_keys:                           # optional
//!   - key: fkey_research_team
//!     user: user_research             # optional; shown as created_by and user_id
//!     projects: [research]
//! regions: [us-central1-a]
//! instance_types:
//!   - name: h100-80gb.sxm.8x          # fid: optional
//!     num_cpus: 192
//!     cpu_type: Intel
//!     ram_gb: 1800
//!     num_gpus: 8
//!     gpu_type: H100
//!     gpu_memory_gb: 80
//!     gpu_socket: SXM5
//!     local_storage_gb: 7800
//!     network_type: InfiniBand        # optional
//!     ib_count: 8
//!     bridge_count: 4
//!     hourly_price: 19.2
//! auctions:
//!   - region: us-central1-a
//!     instance_type: h100-80gb.sxm.8x # name or FID; fid: optional
//!     capacity: 8
//!     floor_price: "$10.00"
//! conveniences:                       # optional; what Mithril does not promise, off by default
//!   unique_bid_names: false
//! bids:                               # optional: bids placed at the start, e.g. another party's
//!   - name: someone-elses-bid         # fid: optional
//!     project: research
//!     region: us-central1-a
//!     instance_type: h100-80gb.sxm.8x
//!     limit_price: "$1,250.00"        # any string, served verbatim; read leniently by the market
//!     quantity: 1
//!     created_by: user_otherparty     # optional (this is the default)
//!     paused: false                   # optional: placed paused, out of the auction
//! reservations:                       # optional
//!   - name: research-reserved         # fid: optional
//!     project: research
//!     region: us-central1-a
//!     instance_type: h100-80gb.sxm.8x
//!     quantity: 2
//!     price: "$9.00"                  # per instance-hour, in the pricing history
//!     start_time: 2025-06-01T08:00:00Z  # optional: the world's start
//!     end_time: 2025-09-01T00:00:00Z    # optional: 30 days after the start
//!     stoppable: true                 # optional: false makes a pause answer RUNNING unchanged
//!     paused: 0                       # optional: how many (the last ones) start PAUSED
//! ```

pub mod cli;
pub mod error;
pub mod fid;
mod handle;
pub mod http;
pub mod money;
mod server;
pub mod wire;
pub(crate) mod world;
pub mod world_spec;

pub use error::SimError;
pub use handle::{ClockMode, FaultsHandle, Sim, SimConfig};
pub use http::counters::{CounterKey, Counters, Outcome};
pub use http::faults::FaultSpec;
pub use server::SimServer;
pub use world_spec::WorldSpec;
