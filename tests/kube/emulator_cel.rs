//! CRD validation rules (`x-kubernetes-validations`): evaluated by the emulator at every level of
//! the schema, transition rules only against an old value, failures in kube-apiserver's 422
//! shape, and rules that do not compile refusing the CRD.

use crate::support::emulator::{api_error, crd_resource, install_crd};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::core::Status;
use kube_emulator::Emulator;
use serde_json::{Value, json};

/// A CRD with rules at the root, on an object, on a string, on the items of an atomic list, on
/// the values of a map, on the items of a list map, with transition rules among them.
fn sprocket_crd(extra_rules: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "sprockets.test.mithril.ai"},
        "spec": {
            "group": "test.mithril.ai",
            "scope": "Namespaced",
            "names": {"plural": "sprockets", "kind": "Sprocket"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-validations": [
                        {"rule": "self.metadata.name.startsWith('sp-')", "message": "names start with sp-"}
                    ],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["region"],
                            "x-kubernetes-validations": extra_rules,
                            "properties": {
                                "region": {
                                    "type": "string",
                                    "x-kubernetes-validations": [
                                        {"rule": "self == oldSelf", "message": "region is immutable"}
                                    ]
                                },
                                "min": {"type": "integer"},
                                "max": {"type": "integer"},
                                "ratio": {"type": "number"},
                                "tags": {
                                    "type": "array",
                                    "items": {
                                        "type": "string",
                                        "x-kubernetes-validations": [
                                            {"rule": "self.lowerAscii() == self", "message": "tags are lower case"}
                                        ]
                                    }
                                },
                                "limits": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "integer",
                                        "x-kubernetes-validations": [
                                            {"rule": "self >= 0", "messageExpression": "'limit ' + string(self) + ' is negative'"}
                                        ]
                                    }
                                },
                                "ports": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["name"],
                                    "items": {
                                        "type": "object",
                                        "required": ["name"],
                                        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                                        "x-kubernetes-validations": [
                                            {"rule": "self.port == oldSelf.port", "message": "a named port keeps its number"}
                                        ]
                                    }
                                },
                                "retry-after": {"type": "integer"},
                            }
                        },
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                    }
                }}
            }]
        }
    })
}

fn spec_rules() -> Value {
    json!([
        {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max", "message": "min must not exceed max"},
        {"rule": "!has(self.retry__dash__after) || self.retry__dash__after < 60", "message": "retry-after is under a minute", "fieldPath": ".retry-after", "reason": "FieldValueForbidden"},
        {"rule": "!has(self.ratio) || self.ratio < 1.0", "messageExpression": "'ratio ' + string(self.ratio) + ' is not below 1'"},
        {"rule": "has(oldSelf.min) == has(self.min)", "message": "min cannot be added or removed", "reason": "FieldValueRequired"}
    ])
}

fn sprockets() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.mithril.ai", "v1", "Sprocket"),
        "sprockets",
    )
}

async fn cluster() -> (Emulator, Api<DynamicObject>) {
    let emulator = Emulator::new();
    let client = emulator.client();
    install_crd(&client, sprocket_crd(spec_rules())).await;
    (
        emulator,
        Api::namespaced_with(client, "default", &sprockets()),
    )
}

fn sprocket(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "test.mithril.ai/v1", "kind": "Sprocket",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

/// The (field, cause message) pairs of a 422, after checking its shape.
fn causes(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid", "{status:?}");
    status
        .details
        .as_ref()
        .expect("details")
        .causes
        .iter()
        .map(|cause| (cause.field.clone(), cause.message.clone()))
        .collect()
}

async fn refused(api: &Api<DynamicObject>, object: &DynamicObject) -> Status {
    api_error(
        api.create(&PostParams::default(), object)
            .await
            .expect_err("refused"),
    )
}

#[tokio::test]
async fn rules_run_at_every_level_of_the_schema() {
    let (_emulator, api) = cluster().await;
    api.create(
        &PostParams::default(),
        &sprocket(
            "sp-good",
            json!({"region": "eu", "min": 1, "max": 2, "ratio": 0.5, "tags": ["a"],
                   "limits": {"cpu": 4}, "ports": [{"name": "http", "port": 80}], "retry-after": 5}),
        ),
    )
    .await
    .expect("a valid sprocket");

    let root = refused(&api, &sprocket("bad-name", json!({"region": "eu"}))).await;
    assert_eq!(
        causes(&root),
        [(
            "<nil>".to_owned(),
            "Invalid value: names start with sp-".to_owned()
        )]
    );
    assert_eq!(
        root.message,
        "Sprocket.test.mithril.ai \"bad-name\" is invalid: <nil>: Invalid value: names start with sp-"
    );

    let object = refused(
        &api,
        &sprocket("sp-range", json!({"region": "eu", "min": 3, "max": 2})),
    )
    .await;
    assert_eq!(
        causes(&object),
        [(
            "spec".to_owned(),
            "Invalid value: min must not exceed max".to_owned()
        )]
    );

    let items_and_values = refused(
        &api,
        &sprocket(
            "sp-items",
            json!({"region": "eu", "tags": ["ok", "Loud"], "limits": {"cpu": 1, "gpu": -2}}),
        ),
    )
    .await;
    assert_eq!(
        causes(&items_and_values),
        [
            (
                "spec.limits.gpu".to_owned(),
                "Invalid value: -2: limit -2 is negative".to_owned()
            ),
            (
                "spec.tags[1]".to_owned(),
                "Invalid value: \"Loud\": tags are lower case".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn message_expressions_reasons_field_paths_and_escaped_names() {
    let (_emulator, api) = cluster().await;
    let status = refused(
        &api,
        &sprocket(
            "sp-many",
            json!({"region": "eu", "retry-after": 90, "ratio": 1.5}),
        ),
    )
    .await;
    assert_eq!(
        causes(&status),
        [
            (
                "spec.retry-after".to_owned(),
                "Forbidden: retry-after is under a minute".to_owned()
            ),
            (
                "spec".to_owned(),
                "Invalid value: ratio 1.5 is not below 1".to_owned()
            ),
        ]
    );
    // A `number` field is a double even when written as a whole number.
    api.create(
        &PostParams::default(),
        &sprocket("sp-double", json!({"region": "eu", "ratio": 0})),
    )
    .await
    .expect("0 is a double below 1.0");
}

#[tokio::test]
async fn transition_rules_compare_with_the_old_value_only_on_updates() {
    let (_emulator, api) = cluster().await;
    api.create(
        &PostParams::default(),
        &sprocket(
            "sp-live",
            json!({"region": "eu", "ports": [{"name": "http", "port": 80}]}),
        ),
    )
    .await
    .expect("a create has no old value: transition rules do not run");

    let moved = api
        .patch(
            "sp-live",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"region": "us"}})),
        )
        .await
        .expect_err("region is immutable");
    assert_eq!(
        causes(&api_error(moved)),
        [(
            "spec.region".to_owned(),
            "Invalid value: \"us\": region is immutable".to_owned()
        )]
    );

    let added = api
        .patch(
            "sp-live",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"min": 1}})),
        )
        .await
        .expect_err("min cannot be added");
    assert_eq!(
        causes(&api_error(added)),
        [(
            "spec".to_owned(),
            "Required value: min cannot be added or removed".to_owned()
        )]
    );

    // List-map items are compared with the old item of the same key; a new key has no old item.
    let renumbered = api
        .patch(
            "sp-live",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ports": [{"name": "http", "port": 81}]}})),
        )
        .await
        .expect_err("a named port keeps its number");
    assert_eq!(
        causes(&api_error(renumbered)),
        [(
            "spec.ports[0]".to_owned(),
            "Invalid value: a named port keeps its number".to_owned()
        )]
    );
    api.patch(
        "sp-live",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ports": [{"name": "admin", "port": 9000}, {"name": "http", "port": 80}]}})),
    )
    .await
    .expect("a new port and an unchanged one");

    // A status write leaves the spec as it was: its transition rules hold.
    api.patch_status(
        "sp-live",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Ready"}})),
    )
    .await
    .expect("status update");
}

#[tokio::test]
async fn schema_errors_that_block_rules_are_reported_instead_of_rule_failures() {
    let (_emulator, api) = cluster().await;
    let status = refused(&api, &sprocket("sp-no-region", json!({"min": 3, "max": 2}))).await;
    assert_eq!(
        causes(&status),
        [
            ("spec.region".to_owned(), "Required value".to_owned()),
            (
                "<nil>".to_owned(),
                "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn evaluation_errors_name_the_rule() {
    let emulator = Emulator::new();
    let client = emulator.client();
    install_crd(
        &client,
        sprocket_crd(json!([{"rule": "self.min > 0", "message": "min is positive"}])),
    )
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &sprockets());
    let status = refused(&api, &sprocket("sp-absent", json!({"region": "eu"}))).await;
    let found = causes(&status);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "spec");
    assert!(
        found[0].1.starts_with("Invalid value: No such key: min")
            && found[0].1.ends_with("evaluating rule: min is positive"),
        "{found:?}"
    );
}

#[tokio::test]
async fn rules_that_do_not_compile_refuse_the_crd() {
    let emulator = Emulator::new();
    let client = emulator.client();
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    let create = |crd: Value| {
        let crds = crds.clone();
        async move {
            let object: DynamicObject = serde_json::from_value(crd).unwrap();
            crds.create(&PostParams::default(), &object).await
        }
    };

    let syntax = api_error(
        create(sprocket_crd(
            json!([{"rule": "self.min <", "message": "broken"}]),
        ))
        .await
        .expect_err("a rule that does not parse"),
    );
    let found = causes(&syntax);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].0,
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    );
    assert!(found[0].1.contains("compilation failed"), "{}", found[0].1);

    let mut uncorrelatable = sprocket_crd(spec_rules());
    uncorrelatable["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["tags"]["items"]["x-kubernetes-validations"] = json!([{"rule": "self == oldSelf"}]);
    let found = causes(&api_error(
        create(uncorrelatable)
            .await
            .expect_err("oldSelf below an atomic list"),
    ));
    assert_eq!(
        found,
        [(
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[tags].items.x-kubernetes-validations[0].rule".to_owned(),
            "Forbidden: oldSelf cannot be used on the uncorrelatable portion of the schema".to_owned()
        )]
    );

    // Neither CRD was stored; a valid one is, and an update to a broken rule is refused too.
    install_crd(&client, sprocket_crd(spec_rules())).await;
    let mut stored = crds.get("sprockets.test.mithril.ai").await.unwrap();
    stored.data["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
        json!([{"rule": "has(", "message": "broken"}]);
    let update = crds
        .replace("sprockets.test.mithril.ai", &PostParams::default(), &stored)
        .await
        .expect_err("an update to a rule that does not parse");
    assert_eq!(api_error(update).code, 422);
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &sprockets());
    let status = refused(
        &api,
        &sprocket("sp-range", json!({"region": "eu", "min": 3, "max": 2})),
    )
    .await;
    assert_eq!(
        causes(&status)[0].1,
        "Invalid value: min must not exceed max",
        "the stored rules still apply"
    );
}

#[tokio::test]
async fn kubectl_apply_shows_the_rule_message() {
    let emulator = Emulator::new();
    install_crd(&emulator.client(), sprocket_crd(spec_rules())).await;
    let server = emulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, emulator.kubeconfig_yaml(server.addr)).unwrap();
    let apply = |region: &str| {
        let manifest = dir.path().join(format!("{region}.yaml"));
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: test.mithril.ai/v1\nkind: Sprocket\nmetadata:\n  name: sp-kubectl\nspec:\n  region: {region}\n"
            ),
        )
        .unwrap();
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["apply", "-n", "default", "-f"])
            .arg(&manifest)
            // kubectl caches discovery under $HOME: keep it inside the test's directory.
            .env("HOME", dir.path())
            .env("KUBECACHEDIR", dir.path().join("cache"))
            .kill_on_drop(true)
            .output()
    };
    let created = apply("eu").await.expect("kubectl is installed");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let moved = apply("us").await.expect("kubectl is installed");
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert!(!moved.status.success(), "the region moved");
    assert!(
        stderr.contains(
            "The Sprocket \"sp-kubectl\" is invalid: spec.region: Invalid value: \"us\": region is immutable"
        ),
        "{stderr}"
    );
}

/// The operator's own InstanceSchedule CRD: a cron of the wrong shape, and a zero duration, are
/// refused at admission with the field named; a good cron and a macro pass.
#[tokio::test]
async fn the_instance_schedule_crd_refuses_a_cron_of_the_wrong_shape() {
    use kube::CustomResourceExt;
    use mithril_operator::crd::InstanceSchedule;
    let emulator = Emulator::new();
    let client = emulator.client();
    install_crd(
        &client,
        serde_json::to_value(InstanceSchedule::crd()).unwrap(),
    )
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(
        client,
        "default",
        &ApiResource::erase::<InstanceSchedule>(&()),
    );
    let schedule = |name: &str, cron: &str, duration: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "mithril.ai/v1alpha1",
            "kind": "InstanceSchedule",
            "metadata": {"name": name},
            "spec": {
                "project": "demo",
                "selector": {"reservationFids": ["res_a"]},
                "timeZone": "UTC",
                "windows": [{"cron": cron, "duration": duration}]
            }
        }))
        .unwrap()
    };
    for (index, cron) in ["0 8 * *", "0 8 * * * *", "every day", "0 8 ? * MON#2", ""]
        .into_iter()
        .enumerate()
    {
        let status = refused(&api, &schedule(&format!("bad-{index}"), cron, "1h")).await;
        let causes = causes(&status);
        assert!(
            causes
                .iter()
                .any(|(field, message)| field == "spec.windows[0].cron"
                    && (message.contains("cron must be five fields")
                        || message.contains("at least 1 chars"))),
            "{cron:?}: {causes:?}"
        );
    }
    let status = refused(&api, &schedule("zero", "0 8 * * *", "0m")).await;
    assert_eq!(
        causes(&status),
        [(
            "spec.windows[0].duration".to_owned(),
            "Invalid value: \"0m\": duration must be at least 1s".to_owned()
        )]
    );
    for (index, cron) in [
        "0 22 * * 6",
        "*/15 8-18 1,15 JAN-MAR mon-fri",
        "0 0 * * 0/2",
        "@daily",
        " 5  4 * * * ",
    ]
    .into_iter()
    .enumerate()
    {
        api.create(
            &PostParams::default(),
            &schedule(&format!("good-{index}"), cron, "1h30m"),
        )
        .await
        .unwrap_or_else(|error| panic!("{cron:?} is accepted: {error}"));
    }
}
