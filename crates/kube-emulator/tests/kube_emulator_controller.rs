//! Conformance: a kube_runtime Controller (with kube's finalizer helper) over a derived CRD
//! reconciles every create, update and delete, also across dropped watches and forced 410s.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod common_emulator;

use common_emulator::*;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kube_emulator::Emulator;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const FINALIZER: &str = "test.mithril.ai/cleanup";

struct Context {
    client: Client,
    /// Cleanups run per widget name.
    cleanups: Mutex<HashMap<String, u32>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

async fn reconcile(widget: Arc<Widget>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let api: Api<Widget> =
        Api::namespaced(ctx.client.clone(), &widget.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, widget, |event| async {
        match event {
            FinalizerEvent::Apply(widget) => {
                let wanted = WidgetStatus { phase: Some("Ready".into()), observed_size: Some(widget.spec.size) };
                if widget.status.as_ref() != Some(&wanted) {
                    let status = json!({"apiVersion": "test.mithril.ai/v1", "kind": "Widget", "status": wanted});
                    api.patch_status(&widget.name_any(), &PatchParams::apply("widget-controller").force(), &Patch::Apply(status))
                        .await
                        .map_err(|e| ReconcileError(e.to_string()))?;
                }
                Ok(Action::await_change())
            }
            FinalizerEvent::Cleanup(widget) => {
                *ctx.cleanups.lock().unwrap().entry(widget.name_any()).or_default() += 1;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e: kube::runtime::finalizer::Error<ReconcileError>| ReconcileError(e.to_string()))
}

/// Waits until `done` holds for the widget `name` (None: absent), through watch errors and expiries
/// (the faults injected for the controller may hit this watch too).
async fn wait_for(api: &Api<Widget>, name: &str, done: impl Fn(Option<&Widget>) -> bool) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api.clone(), config).default_backoff().boxed();
    let (mut current, mut listing) = (None, false);
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => (current, listing) = (None, true),
            Ok(watcher::Event::InitApply(widget)) => current = Some(widget),
            Ok(watcher::Event::InitDone) => listing = false,
            Ok(watcher::Event::Apply(widget)) => current = Some(widget),
            Ok(watcher::Event::Delete(_)) => current = None,
            Err(_) => continue,
        }
        if !listing && done(current.as_ref()) {
            return;
        }
    }
}

fn error_policy(_: Arc<Widget>, _: &ReconcileError, _: Arc<Context>) -> Action {
    Action::requeue(std::time::Duration::from_millis(20))
}

async fn converges_across_watch_faults(config: watcher::Config) {
    let (emulator, client) = emulator_with_crds().await;
    let ctx = Arc::new(Context {
        client: client.clone(),
        cleanups: Mutex::new(HashMap::new()),
    });
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let controller = tokio::spawn(
        Controller::new(Api::<Widget>::all(client.clone()), config)
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {}),
    );
    let faults = |emulator: &Emulator| {
        emulator.faults().expire_next_watch();
        emulator.faults().drop_all_watches();
    };
    for i in 0..20 {
        widgets
            .create(&PostParams::default(), &widget(&format!("w{i:02}"), i))
            .await
            .unwrap();
        if i % 7 == 3 {
            faults(&emulator);
        }
    }
    for i in (0..20).step_by(3) {
        let name = format!("w{i:02}");
        let size = json!({"spec": {"size": 100 + i}});
        widgets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&size))
            .await
            .unwrap();
        if i % 6 == 0 {
            faults(&emulator);
        }
    }
    // Every widget holds the controller's finalizer before deletions start, so each one is cleaned up.
    for i in 0..20 {
        let name = format!("w{i:02}");
        wait_for(&widgets, &name, |w| {
            w.is_some_and(|w| w.finalizers().iter().any(|f| f == FINALIZER))
        })
        .await;
    }
    let deleted: Vec<String> = (0..20).step_by(4).map(|i| format!("w{i:02}")).collect();
    for name in &deleted {
        widgets
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        faults(&emulator);
    }
    for i in 0..20 {
        let name = format!("w{i:02}");
        if deleted.contains(&name) {
            wait_for(&widgets, &name, |w| w.is_none()).await;
        } else {
            let size = if i % 3 == 0 { 100 + i } else { i };
            wait_for(&widgets, &name, |w| {
                w.and_then(|w| w.status.as_ref())
                    .and_then(|s| s.observed_size)
                    == Some(size)
            })
            .await;
        }
    }
    let cleanups = ctx.cleanups.lock().unwrap().clone();
    let expected: HashMap<String, u32> = deleted.iter().map(|n| (n.clone(), 1)).collect();
    assert_eq!(cleanups, expected, "one cleanup per deleted widget");
    for widget in widgets.list(&Default::default()).await.unwrap() {
        assert_eq!(widget.status.unwrap().phase.as_deref(), Some("Ready"));
    }
    controller.abort();
}

#[tokio::test]
async fn controller_converges_with_list_watch_across_drops_and_410s() {
    converges_across_watch_faults(watcher::Config::default()).await;
}

#[tokio::test]
async fn controller_converges_with_streaming_lists_across_drops_and_410s() {
    converges_across_watch_faults(watcher::Config::default().streaming_lists()).await;
}
