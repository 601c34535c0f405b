//! Instance types: `GET /v2/instance-types`.

use serde::{Deserialize, Serialize};

/// `InstanceTypeModel`: a machine shape, e.g. `h100.80gb.sxm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceType {
    /// `it_...`.
    pub fid: String,
    /// Human name, e.g. `h100.80gb.sxm`.
    pub name: String,
    pub num_cpus: i64,
    pub cpu_type: String,
    pub ram_gb: i64,
    pub num_gpus: i64,
    pub gpu_type: String,
    pub gpu_memory_gb: i64,
    pub gpu_socket: String,
    pub local_storage_gb: i64,
    #[serde(default)]
    pub network_type: Option<String>,
    pub ib_count: i64,
    pub bridge_count: i64,
    /// A list price the API publishes as a JSON number (not a money string); informational only,
    /// never used for bidding.
    pub hourly_price: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_example() {
        let json = r#"{"fid":"it_abc123456","name":"h100.80gb.sxm","num_cpus":192,"cpu_type":"Intel","ram_gb":1800,
            "num_gpus":8,"gpu_type":"H100","gpu_memory_gb":80,"gpu_socket":"SXM5","local_storage_gb":7800,
            "network_type":"InfiniBand","ib_count":8,"bridge_count":4,"hourly_price":0.12}"#;
        let it: InstanceType = serde_json::from_str(json).unwrap();
        assert_eq!(it.name, "h100.80gb.sxm");
        assert_eq!(it.network_type.as_deref(), Some("InfiniBand"));
    }
}
