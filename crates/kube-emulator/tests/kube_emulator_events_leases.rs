//! Conformance: kube's event Recorder (events.k8s.io/v1, series on repeats) and leader election
//! with kube-lease-manager on coordination.k8s.io/v1 Leases.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube_lease_manager::LeaseManagerBuilder;
use serde_json::json;

#[tokio::test]
async fn recorder_creates_events_then_series_on_repeats() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let w = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let reporter = Reporter {
        controller: "mithril-operator".into(),
        instance: Some("pod-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let event = Event {
        type_: EventType::Normal,
        reason: "Created".into(),
        note: Some("bid placed".into()),
        action: "CreateBid".into(),
        secondary: None,
    };
    let reference = w.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<KubeEvent> = Api::namespaced(client, "default");
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1, "a repeat is a series on the same Event");
    let stored = &listed[0];
    assert!(stored.metadata.name.as_deref().unwrap().starts_with("a."));
    assert_eq!(
        stored.reporting_controller.as_deref(),
        Some("mithril-operator")
    );
    assert_eq!(
        stored.regarding.as_ref().unwrap().name.as_deref(),
        Some("a")
    );
    assert_eq!(stored.series.as_ref().unwrap().count, 2);
}

#[tokio::test]
async fn invalid_events_are_rejected() {
    let (_emulator, client) = emulator_with_crds().await;
    let events: Api<KubeEvent> = Api::namespaced(client, "default");
    let event: KubeEvent =
        serde_json::from_value(json!({"metadata": {"name": "e"}, "type": "Sideways"})).unwrap();
    let error = api_error(
        events
            .create(&PostParams::default(), &event)
            .await
            .unwrap_err(),
    );
    assert_eq!(error.code, 422);
    let fields: Vec<String> = error
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(
        fields.contains(&"reportingController".to_string()) && fields.contains(&"type".to_string())
    );
}

#[tokio::test]
async fn lease_manager_elects_one_leader_and_hands_over_on_release() {
    let (_emulator, client) = emulator_with_crds().await;
    let manager = |identity: &str| {
        LeaseManagerBuilder::new(client.clone(), "mithril-operator")
            .with_namespace("default")
            .with_identity(identity)
            .with_duration(15)
            .with_grace(5)
            .build()
    };
    let first = manager("replica-a").await.unwrap();
    let second = manager("replica-b").await.unwrap();
    assert!(
        first.changed().await.unwrap(),
        "replica-a takes the free lease"
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease = leases.get("mithril-operator").await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
    first.release().await.unwrap();
    assert!(
        second.changed().await.unwrap(),
        "replica-b takes the released lease"
    );
    let holder = leases
        .get("mithril-operator")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert_eq!(holder.as_deref(), Some("replica-b"));
}

#[tokio::test]
async fn lease_create_conflicts_and_put_checks_resource_version() {
    let (_emulator, client) = emulator_with_crds().await;
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "l"},
        "spec": {"holderIdentity": "x", "renewTime": "2026-01-01T00:00:00.123456Z"}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(
        api_error(
            leases
                .create(&PostParams::default(), &lease)
                .await
                .unwrap_err()
        )
        .code,
        409
    );
    let stored = leases.get("l").await.unwrap();
    let renew =
        serde_json::to_value(stored.spec.as_ref().unwrap().renew_time.as_ref().unwrap()).unwrap();
    assert_eq!(
        renew, "2026-01-01T00:00:00.123456Z",
        "MicroTime kept verbatim"
    );
    let mut update = created.clone();
    update.spec.as_mut().unwrap().holder_identity = Some("y".into());
    leases
        .replace("l", &PostParams::default(), &update)
        .await
        .unwrap();
    assert_eq!(
        api_error(
            leases
                .replace("l", &PostParams::default(), &update)
                .await
                .unwrap_err()
        )
        .code,
        409
    );
}

#[tokio::test]
async fn core_v1_events_show_what_the_recorder_wrote() {
    let (_emulator, client) = emulator_with_crds().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let w = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "mithril-operator".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Warning,
        reason: "BidRejected".into(),
        note: Some("price too low".into()),
        action: "CreateBid".into(),
        secondary: None,
    };
    recorder.publish(&event, &w.object_ref(&())).await.unwrap();
    // kubectl describe lists core/v1 events by involvedObject.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let selector = format!(
        "involvedObject.name=a,involvedObject.uid={}",
        w.metadata.uid.clone().unwrap()
    );
    let listed = core
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message.as_deref(), Some("price too low"));
    assert_eq!(
        listed[0].reporting_component.as_deref(),
        Some("mithril-operator")
    );
    assert_eq!(listed[0].involved_object.kind.as_deref(), Some("Widget"));
    assert_eq!(listed[0].type_.as_deref(), Some("Warning"));
}

#[tokio::test]
async fn lease_server_side_apply_conflicts_unless_forced() {
    let (_emulator, client) = emulator_with_crds().await;
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let holder = |identity: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
               "spec": {"holderIdentity": identity, "leaseDurationSeconds": 15}})
    };
    leases
        .patch(
            "l",
            &kube::api::PatchParams::apply("a"),
            &kube::api::Patch::Apply(holder("a")),
        )
        .await
        .unwrap();
    let conflict = api_error(
        leases
            .patch(
                "l",
                &kube::api::PatchParams::apply("b"),
                &kube::api::Patch::Apply(holder("b")),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let forced = leases
        .patch(
            "l",
            &kube::api::PatchParams::apply("b").force(),
            &kube::api::Patch::Apply(holder("b")),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().holder_identity.as_deref(), Some("b"));
    leases.delete("l", &Default::default()).await.unwrap();
    assert_eq!(api_error(leases.get("l").await.unwrap_err()).code, 404);
}
