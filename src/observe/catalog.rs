//! Project and instance type names resolved to FIDs, cached per API key: they change rarely, and
//! resolving them on every reconcile would cost a request each time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;

use mithril_api::endpoint::{Endpoint, LIST_INSTANCE_TYPES, LIST_PROJECTS};
use mithril_api::{Clock, MithrilClient, MithrilError, resolve_name_or_fid};

/// How long resolutions are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatalogTimes {
    /// A list older than this is read again before use.
    pub ttl: Duration,
    /// A name missing from a list at least this old makes the list be read again (the project
    /// may just have been created); younger lists answer "not found" at once.
    pub miss_refresh: Duration,
}

/// (FID, name) pairs of one list and when it was read.
struct Listing {
    entries: Vec<(String, String)>,
    read_at: Duration,
}

/// The cached lists of one key.
#[derive(Default)]
pub(crate) struct Catalog {
    projects: Mutex<Option<Listing>>,
    instance_types: Mutex<Option<Listing>>,
}

impl Catalog {
    pub(crate) async fn resolve_project(
        &self,
        client: &MithrilClient,
        clock: &dyn Clock,
        times: CatalogTimes,
        name_or_fid: &str,
    ) -> Result<String, MithrilError> {
        let read = || async {
            let projects = client.list_projects().await?;
            Ok(projects.into_iter().map(|p| (p.fid, p.name)).collect())
        };
        resolve(
            &self.projects,
            &LIST_PROJECTS,
            "project",
            read,
            clock,
            times,
            name_or_fid,
        )
        .await
    }

    pub(crate) async fn resolve_instance_type(
        &self,
        client: &MithrilClient,
        clock: &dyn Clock,
        times: CatalogTimes,
        name_or_fid: &str,
    ) -> Result<String, MithrilError> {
        let read = || async {
            let types = client.list_instance_types().await?;
            Ok(types.into_iter().map(|t| (t.fid, t.name)).collect())
        };
        resolve(
            &self.instance_types,
            &LIST_INSTANCE_TYPES,
            "instance type",
            read,
            clock,
            times,
            name_or_fid,
        )
        .await
    }
}

async fn resolve<F, Fut>(
    slot: &Mutex<Option<Listing>>,
    endpoint: &Endpoint,
    kind: &'static str,
    read: F,
    clock: &dyn Clock,
    times: CatalogTimes,
    name_or_fid: &str,
) -> Result<String, MithrilError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<(String, String)>, MithrilError>>,
{
    // Held across the read so concurrent misses share one request.
    let mut slot = slot.lock().await;
    let now = clock.now();
    if let Some(listing) = slot.as_ref() {
        let age = now.saturating_sub(listing.read_at);
        if age < times.ttl {
            let found = lookup(endpoint, kind, &listing.entries, name_or_fid);
            let worth_rereading =
                matches!(&found, Err(error) if error.is_not_found()) && age >= times.miss_refresh;
            if !worth_rereading {
                return found;
            }
        }
    }
    let entries = read().await?;
    let found = lookup(endpoint, kind, &entries, name_or_fid);
    *slot = Some(Listing {
        entries,
        read_at: now,
    });
    found
}

fn lookup(
    endpoint: &Endpoint,
    kind: &'static str,
    entries: &[(String, String)],
    name_or_fid: &str,
) -> Result<String, MithrilError> {
    resolve_name_or_fid(
        endpoint,
        kind,
        name_or_fid,
        entries
            .iter()
            .map(|(fid, name)| (fid.as_str(), name.as_str())),
    )
}
