//! Shared fixtures of the emulator conformance tests: test CRDs and clients.
#![allow(dead_code)]

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, CustomResource, CustomResourceExt};
use kube_emulator::Emulator;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A namespaced test resource with a status subresource, defined with kube's derive.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "test.mithril.ai",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wg",
    printcolumn(name = "Size", type_ = "integer", json_path = ".spec.size"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase")
)]
pub struct WidgetSpec {
    pub size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_size: Option<i32>,
}

/// A hand-written CRD exercising defaults, validation, pruning, list types and printer columns.
pub fn gadget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.test.mithril.ai"},
        "spec": {
            "group": "test.mithril.ai",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Quantity", "type": "integer", "jsonPath": ".spec.quantity"},
                    {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A gadget of the test suite.",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "description": "What the gadget should be.",
                            "required": ["quantity"],
                            "properties": {
                                "quantity": {"type": "integer", "minimum": 1, "description": "How many gadgets to run."},
                                "tier": {"type": "string", "enum": ["gold", "silver"], "default": "silver", "description": "Service tier."},
                                "ports": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["name"],
                                    "items": {"type": "object", "required": ["name"], "properties": {
                                        "name": {"type": "string"}, "port": {"type": "integer"}
                                    }}
                                },
                                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                            }
                        },
                        "status": {"type": "object", "properties": {
                            "phase": {"type": "string"},
                            "ready": {"type": "integer"}
                        }}
                    }
                }}
            }]
        }
    })
}

/// A cluster-scoped CRD without a status subresource.
pub fn realm_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "realms.test.mithril.ai"},
        "spec": {
            "group": "test.mithril.ai",
            "scope": "Cluster",
            "names": {"plural": "realms", "kind": "Realm"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}}
            }]
        }
    })
}

pub fn gadget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.mithril.ai", "v1", "Gadget"),
        "gadgets",
    )
}

pub fn realm_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.mithril.ai", "v1", "Realm"),
        "realms",
    )
}

/// Creates a CRD (as JSON) through the API.
pub async fn install_crd(client: &Client, crd: Value) {
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    let object: DynamicObject = serde_json::from_value(crd).expect("CRD fixture");
    crds.create(&PostParams::default(), &object)
        .await
        .expect("CRD created");
}

pub fn crd_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    )
}

/// An emulator with the Widget, Gadget and Realm CRDs installed, and an in-process client.
pub async fn emulator_with_crds() -> (Emulator, Client) {
    let emulator = Emulator::new();
    let client = emulator.client();
    let widget_crd = serde_json::to_value(Widget::crd()).expect("Widget CRD");
    install_crd(&client, widget_crd).await;
    install_crd(&client, gadget_crd()).await;
    install_crd(&client, realm_crd()).await;
    (emulator, client)
}

pub fn widget(name: &str, size: i32) -> Widget {
    Widget::new(name, WidgetSpec { size, color: None })
}

pub fn gadget(name: &str, quantity: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "test.mithril.ai/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": {"quantity": quantity}
    }))
    .expect("gadget")
}

/// The Status of a failed request.
pub fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Sends a raw request through the client and returns (status code, body text).
pub async fn raw(client: &Client, request: http::Request<Vec<u8>>) -> (u16, String) {
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("response");
    let code = response.status().as_u16();
    let body = response.into_body().collect_bytes().await.expect("body");
    (code, String::from_utf8_lossy(&body).into_owned())
}

pub fn get(uri: &str) -> http::Request<Vec<u8>> {
    http::Request::get(uri).body(Vec::new()).expect("request")
}

/// A request with a JSON body: (status code, body as JSON, or as a string when not JSON).
pub async fn send_json(
    client: &Client,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(serde_json::to_vec(&body).expect("a JSON body"))
        .expect("request");
    let (code, text) = raw(client, request).await;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, body)
}
