//! The declarative description of a world (`--world FILE`, YAML or JSON); see the module documentation
//! of [`crate`] for the format. [`WorldSpec::default`] is the built-in world.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::error::SimError;

/// A whole world: catalogue, market, reservations, access and timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// Simulated time at start. Default: 2025-01-01T00:00:00Z with a manual clock, the wall clock when scaled.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    #[serde(default)]
    pub timings: Timings,
    pub projects: Vec<ProjectSpec>,
    /// Projects that any accepted `fkey_` key not listed in `api_keys` sees.
    #[serde(default)]
    pub any_key_projects: Vec<String>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeySpec>,
    pub regions: Vec<String>,
    pub instance_types: Vec<InstanceTypeSpec>,
    pub auctions: Vec<AuctionSpec>,
    #[serde(default)]
    pub reservations: Vec<ReservationSpec>,
    /// Bids already placed at the start, e.g. another party's in a shared project.
    #[serde(default)]
    pub bids: Vec<BidSpec>,
    /// Conveniences Mithril's spec does not promise; all off by default.
    #[serde(default)]
    pub conveniences: Conveniences,
}

/// Behaviours a client must not rely on against Mithril, for tests that still want them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conveniences {
    /// Refuse a bid whose name a live (not Terminated) bid of the project already has
    /// (`400 {"detail": "name already used"}`).
    pub unique_bid_names: bool,
}

/// A bid present from the start, placed by anyone (by default a user other than the keys' users).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidSpec {
    pub name: String,
    /// Default: derived from the name.
    #[serde(default)]
    pub fid: Option<String>,
    /// Project name.
    pub project: String,
    pub region: String,
    /// Instance type name (or FID).
    pub instance_type: String,
    /// Any string (the spec only says "string"), served verbatim. The market reads `$1,250.00`,
    /// `12.5` and the like leniently; a price it cannot read never wins.
    pub limit_price: String,
    pub quantity: u32,
    /// Shown as `created_by`. Default: `user_otherparty`.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Placed paused (out of the auction).
    #[serde(default)]
    pub paused: bool,
}

/// Durations of the market and of the instance lifecycle, in simulated seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timings {
    pub tick_seconds: u64,
    pub preemption_notice_seconds: u64,
    pub new_to_confirmed_seconds: u64,
    pub confirmed_to_initializing_seconds: u64,
    pub initializing_to_starting_seconds: u64,
    pub starting_to_running_seconds: u64,
    pub stopping_to_paused_seconds: u64,
    /// Resume of a paused instance: CONFIRMED to RUNNING.
    pub resume_seconds: u64,
    /// Each lifecycle step takes its duration plus a seeded draw in `0..=jitter_seconds`.
    pub jitter_seconds: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            tick_seconds: 120,
            preemption_notice_seconds: 300,
            new_to_confirmed_seconds: 30,
            confirmed_to_initializing_seconds: 30,
            initializing_to_starting_seconds: 120,
            starting_to_running_seconds: 60,
            stopping_to_paused_seconds: 60,
            resume_seconds: 60,
            jitter_seconds: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub name: String,
    /// Default: derived from the name.
    #[serde(default)]
    pub fid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    pub key: String,
    /// Shown as `created_by` and `user_id`. Default: derived from the key.
    #[serde(default)]
    pub user: Option<String>,
    /// Project names this key sees.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeSpec {
    pub name: String,
    #[serde(default)]
    pub fid: Option<String>,
    pub num_cpus: u32,
    pub cpu_type: String,
    pub ram_gb: u32,
    pub num_gpus: u32,
    pub gpu_type: String,
    pub gpu_memory_gb: u32,
    pub gpu_socket: String,
    pub local_storage_gb: u32,
    #[serde(default)]
    pub network_type: Option<String>,
    pub ib_count: u32,
    pub bridge_count: u32,
    pub hourly_price: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionSpec {
    pub region: String,
    /// Instance type name (or FID).
    pub instance_type: String,
    #[serde(default)]
    pub fid: Option<String>,
    /// Instances the auction can allocate.
    pub capacity: u32,
    /// Floor price, `"$D.CC"` per instance-hour: bids below it never win.
    pub floor_price: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationSpec {
    pub name: String,
    #[serde(default)]
    pub fid: Option<String>,
    /// Project name.
    pub project: String,
    pub region: String,
    /// Instance type name (or FID).
    pub instance_type: String,
    pub quantity: u32,
    /// `"$D.CC"` per instance-hour, recorded in the pricing history.
    pub price: String,
    /// Default: the world's start time.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// Shown as `end_time` of its instances' status. Default: 30 days after the start.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    /// Whether its instances can be stopped. With `false`, a pause leaves a RUNNING instance as it
    /// is and answers its prior status unchanged, as Mithril does for an instance it cannot stop.
    #[serde(default = "stoppable_by_default")]
    pub stoppable: bool,
    /// How many of its instances start PAUSED (paused before the start): the last ones. The
    /// others start RUNNING.
    #[serde(default)]
    pub paused: u32,
}

fn stoppable_by_default() -> bool {
    true
}

impl WorldSpec {
    /// Reads a world file; YAML, of which JSON is a subset.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadWorld {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Parses a world from YAML or JSON text.
    pub fn from_yaml(text: &str) -> Result<Self, SimError> {
        serde_saphyr::from_str(text).map_err(|error| SimError::InvalidWorld(error.to_string()))
    }
}

const DEFAULT_REGIONS: [&str; 5] = [
    "us-central1-a",
    "us-central1-b",
    "us-central2-a",
    "us-central5-a",
    "eu-central1-a",
];

impl Default for WorldSpec {
    /// Project `demo` seen by every key; five regions; three GPU types; an auction for each
    /// (region, type) with capacity and floor; three reservations of two instances each in `demo`:
    /// `demo-reserved` (a100-80gb.sxm.8x in us-central1-a, both RUNNING), `batch-h100`
    /// (h100-80gb.sxm.8x in us-central1-a) and `office-a100` (a100-80gb.sxm.8x in eu-central1-a),
    /// each of the last two with one instance RUNNING and one PAUSED.
    fn default() -> Self {
        let instance_types = vec![
            gpu_type("h100-80gb.sxm.8x", "H100", 80, "SXM5", 8, 2.40),
            gpu_type("a100-80gb.sxm.8x", "A100", 80, "SXM4", 8, 1.60),
            gpu_type("a100-40gb.sxm.4x", "A100", 40, "SXM4", 4, 1.10),
        ];
        let mut auctions = Vec::new();
        for (region_index, region) in DEFAULT_REGIONS.iter().enumerate() {
            for (type_index, instance_type) in instance_types.iter().enumerate() {
                let capacity = [16, 8, 4][(region_index + type_index) % 3];
                let floor_cents = [800, 500, 300][type_index];
                auctions.push(AuctionSpec {
                    region: (*region).to_owned(),
                    instance_type: instance_type.name.clone(),
                    fid: None,
                    capacity,
                    floor_price: super::money::format_price(floor_cents),
                });
            }
        }
        WorldSpec {
            start_time: None,
            timings: Timings::default(),
            projects: vec![ProjectSpec {
                name: "demo".into(),
                fid: None,
            }],
            any_key_projects: vec!["demo".into()],
            api_keys: Vec::new(),
            regions: DEFAULT_REGIONS
                .iter()
                .map(|region| (*region).to_owned())
                .collect(),
            instance_types,
            auctions,
            reservations: vec![
                reservation(
                    "demo-reserved",
                    "us-central1-a",
                    "a100-80gb.sxm.8x",
                    "$12.00",
                    0,
                ),
                // What the example InstanceSchedules select: one instance of each running and one
                // paused, so whichever state a schedule wants at start, it has one to move.
                reservation(
                    "batch-h100",
                    "us-central1-a",
                    "h100-80gb.sxm.8x",
                    "$18.00",
                    1,
                ),
                reservation(
                    "office-a100",
                    "eu-central1-a",
                    "a100-80gb.sxm.8x",
                    "$12.00",
                    1,
                ),
            ],
            bids: Vec::new(),
            conveniences: Conveniences::default(),
        }
    }
}

/// A reservation of two instances in project `demo`, the last `paused` of them PAUSED.
fn reservation(
    name: &str,
    region: &str,
    instance_type: &str,
    price: &str,
    paused: u32,
) -> ReservationSpec {
    ReservationSpec {
        name: name.into(),
        fid: None,
        project: "demo".into(),
        region: region.into(),
        instance_type: instance_type.into(),
        quantity: 2,
        price: price.into(),
        start_time: None,
        end_time: None,
        stoppable: true,
        paused,
    }
}

fn gpu_type(
    name: &str,
    gpu: &str,
    gpu_memory_gb: u32,
    socket: &str,
    gpus: u32,
    hourly_per_gpu: f64,
) -> InstanceTypeSpec {
    InstanceTypeSpec {
        name: name.to_owned(),
        fid: None,
        num_cpus: 24 * gpus,
        cpu_type: "Intel".into(),
        ram_gb: 225 * gpus,
        num_gpus: gpus,
        gpu_type: gpu.to_owned(),
        gpu_memory_gb,
        gpu_socket: socket.to_owned(),
        local_storage_gb: 975 * gpus,
        network_type: Some("InfiniBand".into()),
        ib_count: gpus,
        bridge_count: gpus / 2,
        hourly_price: hourly_per_gpu * f64::from(gpus),
    }
}
