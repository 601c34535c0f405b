//! The CRDs in `crds/` and in the Helm chart are exactly what the Rust types generate.
//!
//! After changing a type, regenerate them with:
//!     UPDATE_CRDS=1 cargo test --test checks -- crd_drift::

use mithril_operator::crd::{crd_file_name, crd_yaml, crds, crds_yaml};
use std::path::PathBuf;

fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds")
}

/// The Helm chart's copies (Helm installs CRDs only from the chart's own `crds/`).
fn chart_crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/mithril-operator/crds")
}

#[test]
fn crd_files_match_the_generated_crds() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    let mut drifted = Vec::new();
    for (crd, dir) in crds()
        .into_iter()
        .flat_map(|crd| [(crd.clone(), crds_dir()), (crd, chart_crds_dir())])
    {
        let path = dir.join(crd_file_name(&crd));
        let generated = crd_yaml(&crd);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != generated {
            drifted.push(path.display().to_string());
        }
    }
    assert!(
        drifted.is_empty(),
        "these CRD files differ from what the Rust types generate: {drifted:?}\n\
         regenerate them with: UPDATE_CRDS=1 cargo test --test checks -- crd_drift::"
    );
}

#[test]
fn crds_command_prints_every_file_in_order() {
    // The files themselves are checked above; here, that `crds` prints them all, in file order.
    let documents: String = crds().iter().map(crd_yaml).collect();
    assert_eq!(crds_yaml(), documents);
    let names: Vec<String> = crds().iter().map(crd_file_name).collect();
    assert_eq!(
        names,
        ["spotbid.yaml", "instanceschedule.yaml", "spotpool.yaml"]
    );
}

#[test]
fn crds_yaml_is_three_documents_that_read_back_as_crds() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let yaml = crds_yaml();
    let read: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&yaml).unwrap();
    let names: Vec<&str> = read
        .iter()
        .map(|c| c.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "spotbids.mithril.ai",
            "instanceschedules.mithril.ai",
            "spotpools.mithril.ai"
        ]
    );
    assert_eq!(read, crds());
}
