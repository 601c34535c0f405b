use super::*;

fn spot_bid_schema() -> Value {
    json!({
        "type": "object",
        "description": "SpotBid is a bid for Mithril spot instances.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "What to bid for.",
                "properties": {"limitPrice": {"type": "string", "description": "Highest hourly price, e.g. $2.50."}}
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

fn document() -> Value {
    let schema = spot_bid_schema();
    let resources = [ResourceDoc {
        group: "mithril.ai",
        version: "v1alpha1",
        kind: "SpotBid",
        list_kind: "SpotBidList",
        plural: "spotbids",
        namespaced: true,
        schema: &schema,
    }];
    group_version_document("mithril.ai", "v1alpha1", &resources)
}

#[test]
fn kinds_are_named_reverse_domain_with_their_gvk() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let kind = &schemas["ai.mithril.v1alpha1.SpotBid"];
    assert_eq!(
        kind["x-kubernetes-group-version-kind"],
        json!([{"group": "mithril.ai", "kind": "SpotBid", "version": "v1alpha1"}])
    );
    assert_eq!(
        kind["description"],
        "SpotBid is a bid for Mithril spot instances."
    );
    assert_eq!(
        kind["properties"]["spec"]["properties"]["limitPrice"]["description"],
        "Highest hourly price, e.g. $2.50."
    );
    assert_eq!(
        kind["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(
        kind["properties"]["apiVersion"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("APIVersion defines"))
    );

    let list = &schemas["ai.mithril.v1alpha1.SpotBidList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "SpotBidList"
    );
    assert_eq!(
        list["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/ai.mithril.v1alpha1.SpotBid"
    );
}

#[test]
fn every_reference_resolves_within_the_document() {
    let document = document();
    let text = document.to_string();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut rest = text.as_str();
    let mut checked = 0;
    while let Some(start) = rest.find("#/components/schemas/") {
        let after = &rest[start + "#/components/schemas/".len()..];
        let end = after.find('"').expect("reference ends");
        assert!(
            schemas.contains_key(&after[..end]),
            "dangling reference to {}",
            &after[..end]
        );
        checked += 1;
        rest = &after[end..];
    }
    assert!(checked > 10);
    let object_meta = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"];
    for field in [
        "name",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "managedFields",
    ] {
        assert!(
            object_meta["properties"][field]["description"].is_string(),
            "ObjectMeta.{field} is described"
        );
    }
}

#[test]
fn patch_operations_advertise_server_side_field_validation() {
    let document = document();
    let item =
        &document["paths"]["/apis/mithril.ai/v1alpha1/namespaces/{namespace}/spotbids/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "mithril.ai", "version": "v1alpha1", "kind": "SpotBid"})
    );
    assert_eq!(
        patch["operationId"],
        "patchMithrilAiV1alpha1NamespacedSpotBid"
    );
    let names: Vec<&str> = patch["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["dryRun", "fieldManager", "fieldValidation", "force"]
    );
    assert!(
        patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .all(|p| p["in"] == "query")
    );
    assert!(patch["requestBody"]["content"]["application/apply-patch+yaml"].is_object());
    let path_parameters: Vec<&str> = item["parameters"]
        .as_array()
        .expect("path parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(path_parameters, vec!["name", "namespace", "pretty"]);
    for verb in ["get", "put", "delete"] {
        assert!(item[verb].is_object(), "{verb} on the item URL");
    }
    let collection =
        &document["paths"]["/apis/mithril.ai/v1alpha1/namespaces/{namespace}/spotbids"];
    assert_eq!(collection["get"]["x-kubernetes-action"], "list");
    assert_eq!(collection["post"]["x-kubernetes-action"], "post");
    assert_eq!(
        collection["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
    assert_eq!(
        document["paths"]["/apis/mithril.ai/v1alpha1/spotbids"]["get"]["operationId"],
        "listMithrilAiV1alpha1SpotBidForAllNamespaces"
    );
}

#[test]
fn cluster_scoped_resources_have_no_namespace_in_their_paths() {
    let schema = json!({"type": "object"});
    let resources = [ResourceDoc {
        group: "mithril.ai",
        version: "v1",
        kind: "Region",
        list_kind: "RegionList",
        plural: "regions",
        namespaced: false,
        schema: &schema,
    }];
    let document = group_version_document("mithril.ai", "v1", &resources);
    let paths: Vec<&String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .collect();
    assert_eq!(
        paths,
        vec![
            "/apis/mithril.ai/v1/regions",
            "/apis/mithril.ai/v1/regions/{name}"
        ]
    );
    assert_eq!(
        document["paths"]["/apis/mithril.ai/v1/regions/{name}"]["patch"]["operationId"],
        "patchMithrilAiV1Region"
    );
}

#[test]
fn the_index_points_at_hashed_documents() {
    let document = document();
    let hash = document_hash(&document);
    assert_eq!(hash, document_hash(&document.clone()), "stable");
    assert_eq!(hash.len(), 32);
    assert_ne!(hash, document_hash(&json!({})));
    let index = index_document(&[("apis/mithril.ai/v1alpha1".to_owned(), hash.clone())]);
    assert_eq!(
        index,
        json!({"paths": {"apis/mithril.ai/v1alpha1": {"serverRelativeURL": format!("/openapi/v3/apis/mithril.ai/v1alpha1?hash={hash}")}}})
    );
    assert_eq!(
        schema_name("coordination.k8s.io", "v1", "Lease"),
        "io.k8s.coordination.v1.Lease"
    );
}
