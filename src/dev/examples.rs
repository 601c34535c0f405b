//! The example resources and CRDs `demo` installs, embedded so the binary works from any directory.

use crate::crd::{self, InstanceSchedule, SpotBid, SpotPool};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

/// The field manager of what `demo` writes.
const FIELD_MANAGER: &str = "mithril-operator-demo";

/// The manifests of `examples/`, by file name.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "spotbid-h100.yaml",
        include_str!("../../examples/spotbid-h100.yaml"),
    ),
    (
        "spotbid-a100-paused.yaml",
        include_str!("../../examples/spotbid-a100-paused.yaml"),
    ),
    (
        "spotbid-orphan.yaml",
        include_str!("../../examples/spotbid-orphan.yaml"),
    ),
    (
        "spotbid-h100-market.yaml",
        include_str!("../../examples/spotbid-h100-market.yaml"),
    ),
    (
        "spotpool-h100.yaml",
        include_str!("../../examples/spotpool-h100.yaml"),
    ),
    (
        "instanceschedule-nightly-batch.yaml",
        include_str!("../../examples/instanceschedule-nightly-batch.yaml"),
    ),
    (
        "instanceschedule-working-hours.yaml",
        include_str!("../../examples/instanceschedule-working-hours.yaml"),
    ),
];

/// Why installing the CRDs or the examples failed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("example {file} is not a manifest: {source}")]
    Parse {
        file: &'static str,
        // Boxed: serde-saphyr's error is large, and this one is rare.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    #[error("example {file} has kind {kind:?}, which is not a kind of this operator")]
    UnknownKind { file: &'static str, kind: String },
    #[error("cannot apply {what}: {source}")]
    Apply {
        what: String,
        #[source]
        source: kube::Error,
    },
}

/// Installs (or updates) every CustomResourceDefinition by server-side apply.
pub async fn install_crds(client: &Client) -> Result<(), ManifestError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for definition in crd::crds() {
        let name = definition.name_any();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&definition),
        )
        .await
        .map_err(|source| ManifestError::Apply {
            what: format!("CustomResourceDefinition {name}"),
            source,
        })?;
    }
    Ok(())
}

/// Applies every example as written (server-side apply); returns `kind/name` of each.
pub async fn apply_examples(client: &Client) -> Result<Vec<String>, ManifestError> {
    let mut applied = Vec::new();
    for &(file, text) in EXAMPLES {
        let object: DynamicObject =
            serde_saphyr::from_str(text).map_err(|source| ManifestError::Parse {
                file,
                source: Box::new(source),
            })?;
        let kind = object
            .types
            .as_ref()
            .map(|types| types.kind.clone())
            .unwrap_or_default();
        let resource = match kind.as_str() {
            "SpotBid" => ApiResource::erase::<SpotBid>(&()),
            "InstanceSchedule" => ApiResource::erase::<InstanceSchedule>(&()),
            "SpotPool" => ApiResource::erase::<SpotPool>(&()),
            _ => return Err(ManifestError::UnknownKind { file, kind }),
        };
        let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
        let name = object.name_any();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|source| ManifestError::Apply {
            what: format!("{file} ({kind} {namespace}/{name})"),
            source,
        })?;
        applied.push(format!("{}/{name}", resource.plural));
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".yaml"))
            .collect();
        let mut embedded: Vec<String> = EXAMPLES.iter().map(|(f, _)| f.to_string()).collect();
        on_disk.sort();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
