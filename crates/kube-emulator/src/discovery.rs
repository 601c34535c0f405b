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

/// The verbs as kube-apiserver lists them: custom resources in the apiextensions server's order,
/// namespaces without deletecollection.
fn verbs(t: &ResourceType) -> &'static [&'static str] {
    if t.custom {
        &[
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ]
    } else if t.group.is_empty() && t.plural == "namespaces" {
        &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
    } else {
        VERBS
    }
}

/// kube-apiserver's `storageVersionHash`: base64 of the first 8 bytes of the SHA-256 of the
/// stored form's `group/version/Kind`.
fn storage_version_hash(gvk: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(&sha256(gvk.as_bytes())[..8])
}

/// SHA-256 (FIPS 180-4), for the one short digest above.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut digest = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        digest[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    digest
}

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
            "verbs": verbs(t),
        });
        if !t.short_names.is_empty() {
            resource["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            resource["categories"] = json!(t.categories);
        }
        resource["storageVersionHash"] = json!(storage_version_hash(&t.storage_gvk));
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
        if t.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
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
                                "verbs": verbs(t),
                            });
                            if !t.short_names.is_empty() {
                                resource["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                resource["categories"] = json!(t.categories);
                            }
                            let mut subresources = Vec::new();
                            if t.status_subresource {
                                subresources.push(json!({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}));
                            }
                            if t.scale.is_some() {
                                subresources.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                            }
                            if !subresources.is_empty() {
                                resource["subresources"] = json!(subresources);
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

#[cfg(test)]
mod hash_tests {
    use super::*;

    #[test]
    fn storage_version_hashes_are_kube_apiservers() {
        // As kube-apiserver v1.37 lists them.
        assert_eq!(
            storage_version_hash("mithril.ai/v1alpha1/SpotBid"),
            "Om4l2gl1xCg="
        );
        assert_eq!(storage_version_hash("/v1/ConfigMap"), "qFsyl6wFWjQ=");
        assert_eq!(storage_version_hash("/v1/Event"), "r2yiGXH7wu8=");
    }
}
