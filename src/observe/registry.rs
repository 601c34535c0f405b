//! [`ObserverRegistry`]: one client per API key, one observer per (key, project), so every
//! resource with the same key and project shares one poller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use mithril_api::{ApiKey, MithrilClient, MithrilError};

use super::auctions::AuctionFeed;
use super::catalog::{Catalog, CatalogTimes};
use super::change::{Change, ChangeStream, change_stream};
use super::config::ObserverConfig;
use super::error::ObserveError;
use super::health::PollReport;
use super::observer::MithrilObserver;

/// Builds the Mithril client of a key (base URL, limits, metrics observer are the caller's).
pub type ClientFactory = Arc<dyn Fn(&ApiKey) -> Result<MithrilClient, MithrilError> + Send + Sync>;

/// Told of what the observers' polling loops do, for metrics.
pub trait CycleListener: Send + Sync {
    /// An observer of (`key`, `project`) completed a cycle, which ended `at`.
    fn cycle_completed(&self, key: &ApiKey, project: &str, report: &PollReport, at: Timestamp);
    /// The observer of (`key`, `project`) stopped: no resource uses it any more.
    fn observer_stopped(&self, key: &ApiKey, project: &str);
}

/// Whether observers poll by themselves.
#[derive(Debug, Clone)]
pub enum Polling {
    /// Each observer started runs [`MithrilObserver::run`] on the current Tokio runtime until
    /// this token (or [`ObserverRegistry::stop_observer`]) stops it.
    Background(CancellationToken),
    /// Nobody polls unless told to ([`MithrilObserver::poll_once`]): tests and benchmarks.
    Manual,
}

/// Settings of a registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Settings of every observer started.
    pub observer: ObserverConfig,
    /// How long a list of projects or instance types is trusted.
    pub catalog_ttl: Duration,
    /// A name missing from a list at least this old makes the list be read again.
    pub catalog_miss_refresh: Duration,
    /// Capacity of the registry-wide change channel.
    pub change_capacity: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            observer: ObserverConfig::default(),
            catalog_ttl: Duration::from_secs(3600),
            catalog_miss_refresh: Duration::from_secs(60),
            change_capacity: 16_384,
        }
    }
}

/// Shared observers and clients, keyed by API key (compared by value, never logged).
#[derive(Clone)]
pub struct ObserverRegistry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    connect: ClientFactory,
    config: RegistryConfig,
    polling: Polling,
    /// Few keys per cluster, and [`ApiKey`] deliberately offers no hash: a list is enough.
    keys: Mutex<Vec<Arc<KeyEntry>>>,
    changes: broadcast::Sender<Change>,
    listener: Option<Arc<dyn CycleListener>>,
}

/// Everything shared by the users of one key.
struct KeyEntry {
    key: ApiKey,
    client: MithrilClient,
    auctions: Arc<AuctionFeed>,
    catalog: Catalog,
    observers: Mutex<HashMap<String, Running>>,
}

struct Running {
    observer: MithrilObserver,
    stop: Option<CancellationToken>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.cancel();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps: a panic elsewhere cannot leave them half-updated.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for ObserverRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserverRegistry")
            .field("keys", &lock(&self.inner.keys).len())
            .field("polling", &self.inner.polling)
            .finish_non_exhaustive()
    }
}

impl ObserverRegistry {
    /// A registry building clients with `connect`.
    pub fn new(connect: ClientFactory, config: RegistryConfig, polling: Polling) -> Self {
        Self::with_listener(connect, config, polling, None)
    }

    /// A registry whose observers tell `listener` of every cycle their polling loop completes
    /// and of their stop.
    pub fn with_listener(
        connect: ClientFactory,
        config: RegistryConfig,
        polling: Polling,
        listener: Option<Arc<dyn CycleListener>>,
    ) -> Self {
        let (changes, _) = broadcast::channel(config.change_capacity.max(16));
        ObserverRegistry {
            inner: Arc::new(RegistryInner {
                connect,
                config,
                polling,
                keys: Mutex::new(Vec::new()),
                changes,
                listener,
            }),
        }
    }

    /// The changes of every observer of the registry, those started later included. A subscriber
    /// that falls behind gets [`Change::Resync`].
    pub fn subscribe(&self) -> ChangeStream {
        change_stream(self.inner.changes.subscribe())
    }

    /// The client of `key`, built on first use and shared (with its rate limiter) afterwards.
    pub fn client(&self, key: &ApiKey) -> Result<MithrilClient, ObserveError> {
        Ok(self.entry(key)?.client.clone())
    }

    /// The observer of (`key`, `project_fid`), started on first use.
    ///
    /// With [`Polling::Background`], this must run inside a Tokio runtime.
    pub fn observer(
        &self,
        key: &ApiKey,
        project_fid: &str,
    ) -> Result<MithrilObserver, ObserveError> {
        let stop = match &self.inner.polling {
            Polling::Background(shutdown) if shutdown.is_cancelled() => {
                return Err(ObserveError::ShutDown);
            }
            Polling::Background(shutdown) => Some(shutdown),
            Polling::Manual => None,
        };
        let entry = self.entry(key)?;
        let mut observers = lock(&entry.observers);
        if let Some(running) = observers.get(project_fid) {
            return Ok(running.observer.clone());
        }
        let runtime = match stop {
            Some(_) => {
                Some(tokio::runtime::Handle::try_current().map_err(|_| ObserveError::NoRuntime)?)
            }
            None => None,
        };
        let observer = MithrilObserver::shared(
            entry.client.clone(),
            project_fid.to_owned(),
            self.inner.config.observer.clone(),
            entry.auctions.clone(),
            Some(self.inner.changes.clone()),
        );
        let stop = match (stop, runtime) {
            (Some(shutdown), Some(runtime)) => {
                let token = shutdown.child_token();
                let listener = self.inner.listener.clone();
                let (key, project, stopped) = (key.clone(), project_fid.to_owned(), token.clone());
                let report = move |report: &PollReport, at| {
                    // A cycle that ends as the observer stops must not bring its series back.
                    if let Some(listener) = listener.as_ref().filter(|_| !stopped.is_cancelled()) {
                        listener.cycle_completed(&key, &project, report, at);
                    }
                };
                runtime.spawn(observer.clone().run_reporting(token.clone(), report));
                tracing::info!(project = project_fid, "started Mithril observer");
                Some(token)
            }
            _ => None,
        };
        observers.insert(
            project_fid.to_owned(),
            Running {
                observer: observer.clone(),
                stop,
            },
        );
        Ok(observer)
    }

    /// The observer of the project named or identified by `project`, for `key`.
    pub async fn observer_for_project(
        &self,
        key: &ApiKey,
        project: &str,
    ) -> Result<MithrilObserver, ObserveError> {
        let fid = self.resolve_project(key, project).await?;
        self.observer(key, &fid)
    }

    /// The FID of the project named or identified by `name_or_fid`, cached per key.
    pub async fn resolve_project(
        &self,
        key: &ApiKey,
        name_or_fid: &str,
    ) -> Result<String, ObserveError> {
        let entry = self.entry(key)?;
        let clock = self.inner.config.observer.clock.clone();
        Ok(entry
            .catalog
            .resolve_project(
                &entry.client,
                clock.as_ref(),
                self.catalog_times(),
                name_or_fid,
            )
            .await?)
    }

    /// The FID of the instance type named or identified by `name_or_fid`, cached per key.
    pub async fn resolve_instance_type(
        &self,
        key: &ApiKey,
        name_or_fid: &str,
    ) -> Result<String, ObserveError> {
        let entry = self.entry(key)?;
        let clock = self.inner.config.observer.clock.clone();
        Ok(entry
            .catalog
            .resolve_instance_type(
                &entry.client,
                clock.as_ref(),
                self.catalog_times(),
                name_or_fid,
            )
            .await?)
    }

    /// Stops and forgets the observer of (`key`, `project_fid`) once no resource needs it;
    /// true when there was one.
    pub fn stop_observer(&self, key: &ApiKey, project_fid: &str) -> bool {
        let entry = lock(&self.inner.keys)
            .iter()
            .find(|entry| entry.key == *key)
            .cloned();
        let stopped =
            entry.is_some_and(|entry| lock(&entry.observers).remove(project_fid).is_some());
        if stopped {
            self.stopped(key, project_fid);
        }
        stopped
    }

    /// Stops every observer of `key` and drops its client and cached names (e.g. after the
    /// Secret holding it changed); true when the key was known.
    pub fn forget_key(&self, key: &ApiKey) -> bool {
        let mut keys = lock(&self.inner.keys);
        let (gone, kept): (Vec<_>, Vec<_>) = keys.drain(..).partition(|entry| entry.key == *key);
        *keys = kept;
        drop(keys);
        for entry in &gone {
            let projects: Vec<String> = lock(&entry.observers).keys().cloned().collect();
            for project in projects {
                self.stopped(key, &project);
            }
        }
        !gone.is_empty()
    }

    fn stopped(&self, key: &ApiKey, project_fid: &str) {
        if let Some(listener) = &self.inner.listener {
            listener.observer_stopped(key, project_fid);
        }
    }

    /// Every running observer (for health and metrics).
    pub fn observers(&self) -> Vec<MithrilObserver> {
        let keys: Vec<Arc<KeyEntry>> = lock(&self.inner.keys).clone();
        keys.iter()
            .flat_map(|entry| {
                lock(&entry.observers)
                    .values()
                    .map(|running| running.observer.clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn catalog_times(&self) -> CatalogTimes {
        CatalogTimes {
            ttl: self.inner.config.catalog_ttl,
            miss_refresh: self.inner.config.catalog_miss_refresh,
        }
    }

    /// The shared state of `key`, created (with its client) on first use.
    fn entry(&self, key: &ApiKey) -> Result<Arc<KeyEntry>, ObserveError> {
        let mut keys = lock(&self.inner.keys);
        if let Some(entry) = keys.iter().find(|entry| entry.key == *key) {
            return Ok(entry.clone());
        }
        let client = (self.inner.connect)(key).map_err(ObserveError::Client)?;
        let entry = Arc::new(KeyEntry {
            key: key.clone(),
            client,
            auctions: Arc::default(),
            catalog: Catalog::default(),
            observers: Mutex::new(HashMap::new()),
        });
        keys.push(entry.clone());
        Ok(entry)
    }
}
