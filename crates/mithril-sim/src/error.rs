//! Errors of the simulator's Rust API (HTTP errors are answers, see `http::error`).

/// What can go wrong building, driving or serving a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read world file {path}: {source}")]
    ReadWorld {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid world: {0}")]
    InvalidWorld(String),
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    #[error("unknown instance type {0:?}")]
    UnknownInstanceType(String),
    #[error("no auction for instance type {instance_type:?} in region {region:?}")]
    UnknownAuction {
        region: String,
        instance_type: String,
    },
    #[error("unknown competing-demand bid {0:?}")]
    UnknownDemand(String),
    #[error("no reserved instance {0:?}")]
    UnknownReservedInstance(String),
    #[error("quantity must be at least 1")]
    ZeroQuantity,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
