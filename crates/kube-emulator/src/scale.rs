//! Scale measurement: N custom resources through the real kube client, in process. Creates them,
//! lists them in pages, syncs a streaming-list watch, then applies a change to every object while a
//! watcher receives the changes. Checks every count and returns the timings (for benchmarks and
//! reports; tests assert the counts only).

use super::Emulator;
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use serde_json::json;
use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

/// Requests kept in flight at once while creating and applying.
const CONCURRENCY: usize = 32;

/// Page size of the paged list (kube-runtime's watcher uses 500).
const PAGE_SIZE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("kube API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the emulator answered inconsistently: {0}")]
    Inconsistent(String),
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct ScaleFigures {
    pub objects: usize,
    /// Creating every object (POST, `CONCURRENCY` in flight).
    pub create: Duration,
    /// Listing every object in pages of `PAGE_SIZE`.
    pub list_paged: Duration,
    pub pages: usize,
    /// The slowest single page request of the paged list.
    pub slowest_page: Duration,
    /// A streaming-list watch: every initial ADDED event and the initial-events-end bookmark.
    pub watch_initial_sync: Duration,
    /// Server-side applying a change to every object (`CONCURRENCY` in flight).
    pub apply: Duration,
    /// From the first apply until a watcher received every resulting MODIFIED event.
    pub watch_delivery: Duration,
}

impl fmt::Display for ScaleFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |d: Duration| self.objects as f64 / d.as_secs_f64().max(f64::EPSILON);
        writeln!(f, "objects:            {}", self.objects)?;
        writeln!(
            f,
            "create:             {:?} ({:.0}/s)",
            self.create,
            rate(self.create)
        )?;
        writeln!(
            f,
            "list (paged):       {:?} ({} pages of {PAGE_SIZE}, slowest page {:?})",
            self.list_paged, self.pages, self.slowest_page
        )?;
        writeln!(f, "watch initial sync: {:?}", self.watch_initial_sync)?;
        writeln!(
            f,
            "apply:              {:?} ({:.0}/s)",
            self.apply,
            rate(self.apply)
        )?;
        write!(f, "watch delivery:     {:?}", self.watch_delivery)
    }
}

fn probe_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("scale.mithril.ai", "v1", "Probe"),
        "probes",
    )
}

fn probe_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "probes.scale.mithril.ai"},
        "spec": {
            "group": "scale.mithril.ai",
            "scope": "Namespaced",
            "names": {"plural": "probes", "kind": "Probe"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["index"], "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "round": {"type": "integer"},
                        "owner": {"type": "string"}
                    }},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}}
            }]
        }
    })
}

fn probe_name(index: usize) -> String {
    format!("probe-{index:06}")
}

/// Runs the measurement on a fresh emulator with `objects` objects.
pub async fn measure(objects: usize) -> Result<ScaleFigures, ScaleError> {
    let emulator = Emulator::new();
    let client = emulator.client();
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject =
        serde_json::from_value(probe_crd()).map_err(|e| ScaleError::Inconsistent(e.to_string()))?;
    crds.create(&PostParams::default(), &crd).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &probe_resource());

    let started = Instant::now();
    futures::stream::iter(0..objects)
        .map(|index| {
            let api = api.clone();
            async move {
                let probe = DynamicObject::new(&probe_name(index), &probe_resource())
                    .data(json!({"spec": {"index": index, "owner": "scale"}}));
                api.create(&PostParams::default(), &probe).await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let create = started.elapsed();

    let started = Instant::now();
    let (mut seen, mut token, mut pages, mut slowest_page) =
        (HashSet::new(), None::<String>, 0, Duration::ZERO);
    let mut snapshot_rv = None;
    loop {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page_started = Instant::now();
        let page = api.list(&params).await?;
        slowest_page = slowest_page.max(page_started.elapsed());
        pages += 1;
        snapshot_rv.get_or_insert(page.metadata.resource_version.clone());
        seen.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let list_paged = started.elapsed();
    if seen.len() != objects {
        return Err(ScaleError::Inconsistent(format!(
            "listed {} of {objects} objects",
            seen.len()
        )));
    }

    let started = Instant::now();
    let mut initial = api
        .watch(&WatchParams::streaming_lists(), "0")
        .await?
        .boxed();
    let mut added = 0;
    let sync_rv = loop {
        match initial.try_next().await? {
            Some(WatchEvent::Added(_)) => added += 1,
            Some(WatchEvent::Bookmark(bookmark)) => break bookmark.metadata.resource_version,
            other => {
                return Err(ScaleError::Inconsistent(format!(
                    "unexpected initial event {other:?}"
                )));
            }
        }
    };
    let watch_initial_sync = started.elapsed();
    drop(initial);
    if added != objects {
        return Err(ScaleError::Inconsistent(format!(
            "streaming list sent {added} of {objects} objects"
        )));
    }

    let mut changes = api.watch(&WatchParams::default(), &sync_rv).await?.boxed();
    let started = Instant::now();
    let receiving = async {
        let mut modified = HashSet::new();
        while modified.len() < objects {
            match changes.try_next().await? {
                Some(WatchEvent::Modified(object)) => {
                    modified.insert(object.metadata.name.unwrap_or_default());
                }
                Some(WatchEvent::Bookmark(_)) => {}
                other => {
                    return Err(ScaleError::Inconsistent(format!(
                        "unexpected change event {other:?}"
                    )));
                }
            }
        }
        Ok::<_, ScaleError>(started.elapsed())
    };
    let applying = async {
        let params = PatchParams::apply("scale-measure");
        futures::stream::iter(0..objects)
            .map(|index| {
                let (api, params) = (api.clone(), params.clone());
                async move {
                    let config = json!({
                        "apiVersion": "scale.mithril.ai/v1", "kind": "Probe",
                        "metadata": {"name": probe_name(index)},
                        "spec": {"index": index, "round": 1}
                    });
                    api.patch(&probe_name(index), &params, &Patch::Apply(config))
                        .await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        Ok::<_, ScaleError>(started.elapsed())
    };
    let (watch_delivery, apply) = futures::try_join!(receiving, applying)?;

    Ok(ScaleFigures {
        objects,
        create,
        list_paged,
        pages,
        slowest_page,
        watch_initial_sync,
        apply,
        watch_delivery,
    })
}
