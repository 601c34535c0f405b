//! Projects and instance types, and resolving a user-facing name or FID to a FID.

use crate::client::{Call, MithrilClient};
use crate::endpoint::{Endpoint, LIST_INSTANCE_TYPES, LIST_PROJECTS};
use crate::error::MithrilError;
use crate::models::errors::ErrorDetail;
use crate::models::{InstanceType, Project};

impl MithrilClient {
    /// `GET /v2/projects`: projects the key can access.
    pub async fn list_projects(&self) -> Result<Vec<Project>, MithrilError> {
        self.call_json(Call::new(LIST_PROJECTS)).await
    }

    /// `GET /v2/instance-types`: every instance type.
    pub async fn list_instance_types(&self) -> Result<Vec<InstanceType>, MithrilError> {
        self.call_json(Call::new(LIST_INSTANCE_TYPES)).await
    }

    /// The FID of the project named or identified by `name_or_fid`. One `GET /v2/projects` per
    /// call; cache the answer if calling per reconcile.
    pub async fn resolve_project(&self, name_or_fid: &str) -> Result<String, MithrilError> {
        let projects = self.list_projects().await?;
        resolve_name_or_fid(
            &LIST_PROJECTS,
            "project",
            name_or_fid,
            projects.iter().map(|p| (p.fid.as_str(), p.name.as_str())),
        )
    }

    /// The FID of the instance type named (e.g. `h100.80gb.sxm`) or identified by `name_or_fid`.
    pub async fn resolve_instance_type(&self, name_or_fid: &str) -> Result<String, MithrilError> {
        let types = self.list_instance_types().await?;
        resolve_name_or_fid(
            &LIST_INSTANCE_TYPES,
            "instance type",
            name_or_fid,
            types.iter().map(|t| (t.fid.as_str(), t.name.as_str())),
        )
    }
}

/// Picks the FID for `name_or_fid` among `(fid, name)` pairs: an exact FID match wins, then an
/// exact name match. A name shared by several objects is an error rather than a guess; no match
/// is a [`MithrilError::NotFound`] naming what was looked for.
pub fn resolve_name_or_fid<'a>(
    endpoint: &Endpoint,
    kind: &'static str,
    name_or_fid: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<String, MithrilError> {
    let mut by_name = Vec::new();
    for (fid, name) in candidates {
        if fid == name_or_fid {
            return Ok(fid.to_owned());
        }
        if name == name_or_fid {
            by_name.push(fid.to_owned());
        }
    }
    match by_name.len() {
        0 => Err(MithrilError::NotFound {
            endpoint: endpoint.clone(),
            detail: ErrorDetail::Message(format!("no {kind} has the name or FID {name_or_fid:?}")),
        }),
        1 => Ok(by_name.remove(0)),
        _ => Err(MithrilError::AmbiguousName {
            endpoint: endpoint.clone(),
            kind,
            name: name_or_fid.to_owned(),
            fids: by_name,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECTS: &[(&str, &str)] = &[
        ("proj_a", "research"),
        ("proj_b", "prod"),
        ("proj_c", "dup"),
        ("proj_d", "dup"),
    ];

    fn resolve(input: &str) -> Result<String, MithrilError> {
        resolve_name_or_fid(&LIST_PROJECTS, "project", input, PROJECTS.iter().copied())
    }

    #[test]
    fn resolves_fid_and_name() {
        assert_eq!(resolve("proj_b").unwrap(), "proj_b");
        assert_eq!(resolve("research").unwrap(), "proj_a");
    }

    #[test]
    fn unknown_and_ambiguous_names_are_errors() {
        let missing = resolve("nope").unwrap_err();
        assert!(missing.is_not_found());
        assert!(missing.to_string().contains("\"nope\""), "{missing}");
        let ambiguous = resolve("dup").unwrap_err();
        assert!(
            matches!(&ambiguous, MithrilError::AmbiguousName { fids, .. } if fids == &["proj_c", "proj_d"])
        );
        assert!(ambiguous.to_string().contains("proj_c, proj_d"));
    }
}
