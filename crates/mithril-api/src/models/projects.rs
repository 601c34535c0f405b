//! Projects: `GET /v2/projects`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// `ProjectModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// `proj_...`.
    pub fid: String,
    pub name: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: Timestamp,
}
