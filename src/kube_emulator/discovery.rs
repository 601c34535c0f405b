//! Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`) and the
//! OpenAPI v3 index and group-version documents, built from the registry.

use super::openapi::{ResourceDoc, document_hash, group_version_document, index_document};
use super::registry::Registry;
use super::resources::{ResourceType, api_version};
use serde_json::{Value, json};

/// The Kubernetes version the emulator answers as.
pub const KUBERNETES_MINOR: &str = "33";

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0-mithril-kube-emulator"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// Groups (other than core) in registration order, each with its versions in registration order.
fn groups(registry: &Registry) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for t in registry.all().iter().filter(|t| !t.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, versions)) if !versions.contains(&t.version) => {
                versions.push(t.version.clone())
            }
            Some(_) => {}
            None => groups.push((t.group.clone(), vec![t.version.clone()])),
        }
    }
    groups
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": api_version(group, v), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = groups(registry)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let (name, versions) = groups(registry).into_iter().find(|(g, _)| g == group)?;
    let mut document = group_json(&name, &versions);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    Some(document)
}

fn served_in<'a>(
    registry: &'a Registry,
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ResourceType> {
    registry
        .all()
        .iter()
        .map(AsRef::as_ref)
        .filter(move |t| t.group == group && t.version == version)
}

pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for t in served_in(registry, group, version) {
        let mut resource = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": VERBS,
        });
        if !t.short_names.is_empty() {
            resource["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            resource["categories"] = json!(t.categories);
        }
        resources.push(resource);
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(group, version),
        "resources": resources,
    }))
}

/// The media type of aggregated discovery documents (what kubectl asks for first).
pub const AGGREGATED_MEDIA_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Aggregated discovery (`apidiscovery.k8s.io/v2`): every group, version and resource in one
/// document, for `/api` (`core`) or `/apis`.
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups(registry)
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = served_in(registry, group, version)
                        .map(|t| {
                            let kind = json!({"group": t.group, "version": t.version, "kind": t.kind});
                            let mut resource = json!({
                                "resource": t.plural,
                                "responseKind": kind,
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular,
                                "verbs": VERBS,
                            });
                            if !t.short_names.is_empty() {
                                resource["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                resource["categories"] = json!(t.categories);
                            }
                            if t.status_subresource {
                                resource["subresources"] = json!([
                                    {"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}
                                ]);
                            }
                            resource
                        })
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// Group-versions served, as OpenAPI v3 paths (`api/v1`, `apis/{g}/{v}`).
fn openapi_paths(registry: &Registry) -> Vec<(String, String, String)> {
    let mut paths = vec![(String::new(), "v1".to_string(), "api/v1".to_string())];
    for (group, versions) in groups(registry) {
        for version in versions {
            paths.push((
                group.clone(),
                version.clone(),
                format!("apis/{group}/{version}"),
            ));
        }
    }
    paths
}

/// `/openapi/v3`: one entry per group-version, with a hash that changes with its content.
pub fn openapi_index(registry: &Registry) -> Value {
    let paths: Vec<(String, String)> = openapi_paths(registry)
        .into_iter()
        .map(|(group, version, path)| {
            (
                path,
                document_hash(&openapi_document(registry, &group, &version)),
            )
        })
        .collect();
    index_document(&paths)
}

/// `/openapi/v3/{api/v1 | apis/g/v}`: the custom resources' schemas; built-ins are schemaless here
/// (their objects accept any fields), described enough for kubectl to find their operations.
pub fn openapi_document(registry: &Registry, group: &str, version: &str) -> Value {
    let types: Vec<&ResourceType> = served_in(registry, group, version).collect();
    let docs: Vec<ResourceDoc<'_>> = types
        .iter()
        .filter_map(|t| {
            let schema = t.raw_schema.as_deref()?;
            Some(ResourceDoc {
                group: &t.group,
                version: &t.version,
                kind: &t.kind,
                list_kind: &t.list_kind,
                plural: &t.plural,
                namespaced: t.namespaced,
                schema,
            })
        })
        .collect();
    let mut document = if docs.is_empty() {
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v1.{KUBERNETES_MINOR}.0")}, "paths": {}, "components": {"schemas": {}}})
    } else {
        group_version_document(group, version, &docs)
    };
    for t in types.iter().filter(|t| t.raw_schema.is_none()) {
        add_schemaless(&mut document, t);
    }
    document
}

/// A built-in kind as an open object, with its paths and operations (kubectl reads the
/// `fieldValidation` parameter there to decide on server-side field validation).
fn add_schemaless(document: &mut Value, t: &ResourceType) {
    let definition = format!(
        "io.k8s.emulated.{}.{}.{}",
        if t.group.is_empty() { "core" } else { &t.group },
        t.version,
        t.kind
    );
    let gvk = json!([{"group": t.group, "version": t.version, "kind": t.kind}]);
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            definition.clone(),
            json!({
                "type": "object",
                "description": format!("{} (served schemaless by the emulator)", t.kind),
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": gvk,
            }),
        );
    }
    let reference = json!({"$ref": format!("#/components/schemas/{definition}")});
    let body = json!({"content": {"application/json": {"schema": reference}}});
    let response = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let write_params = json!([
        query("dryRun"),
        query("fieldManager"),
        query("fieldValidation")
    ]);
    let prefix = if t.group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{}/{}", t.group, t.version)
    };
    let collection = if t.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
    } else {
        format!("{prefix}/{}", t.plural)
    };
    let action = |verb: &str| json!({"x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk[0]});
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        let mut post = action("post");
        post["parameters"] = write_params.clone();
        post["requestBody"] = body.clone();
        post["responses"] = response.clone();
        paths.insert(
            collection.clone(),
            json!({"post": post, "get": action("list")}),
        );
        let mut patch = action("patch");
        patch["parameters"] = json!([
            query("dryRun"),
            query("fieldManager"),
            query("fieldValidation"),
            query("force")
        ]);
        patch["requestBody"] = json!({"content": {"application/merge-patch+json": {"schema": {"type": "object"}}, "application/apply-patch+yaml": {"schema": {"type": "object"}}}});
        patch["responses"] = response.clone();
        let mut put = action("put");
        put["parameters"] = write_params;
        put["requestBody"] = body;
        put["responses"] = response;
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": action("get"), "put": put, "patch": patch, "delete": action("delete")}),
        );
    }
}
