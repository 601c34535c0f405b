//! The part only the leader runs: Mithril observers and controllers, started together and
//! stopped in order (controllers finish their in-flight reconciles, then observers stop), or
//! aborted at once when leadership is lost.

use super::error::RunError;
use super::settings::Settings;
use crate::controller::{Context, ControllerConfig, instance_schedule, spot_bid, spot_pool};
use crate::observe::{ObserverConfig, ObserverRegistry, Polling, RegistryConfig};
use crate::runtime::leader::Fence;
use crate::runtime::metrics::Metrics;
use futures::future::select_all;
use kube::Client;
use mithril_api::{ApiKey, ClientConfig, ClientOptions, MithrilClient};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a requested stop waits for in-flight reconciles (each at most one Mithril write)
/// before aborting them; the pod's `terminationGracePeriodSeconds` must exceed it.
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Running controllers and observers.
pub struct Operator {
    controllers: Vec<(&'static str, JoinHandle<()>)>,
    stop_controllers: CancellationToken,
    stop_observers: CancellationToken,
}

impl Operator {
    /// Starts the observers' registry and one controller per kind and watched namespace. With a
    /// fence, every Mithril write asks it first.
    pub fn start(
        client: Client,
        settings: &Settings,
        default_key: Option<ApiKey>,
        metrics: Metrics,
        identity: &str,
        fence: Option<Fence>,
    ) -> Result<Self, RunError> {
        // Checked once here so a bad URL fails the start rather than every reconcile.
        if let Some(key) = &default_key {
            mithril_client(settings, key.clone(), &metrics, fence.clone())
                .map_err(RunError::MithrilClient)?;
        }
        let stop_observers = CancellationToken::new();
        let connect = {
            let (settings, metrics) = (settings.clone(), metrics.clone());
            Arc::new(move |key: &ApiKey| {
                mithril_client(&settings, key.clone(), &metrics, fence.clone())
            })
        };
        let registry = ObserverRegistry::with_listener(
            connect,
            RegistryConfig {
                observer: ObserverConfig {
                    resync: settings.mithril_poll_interval,
                    settle_interval: settings.mithril_settle_interval,
                    list_lag: settings.bid_safety.list_lag,
                    ..ObserverConfig::default()
                },
                ..RegistryConfig::default()
            },
            Polling::Background(stop_observers.clone()),
            Some(metrics.cycle_listener()),
        );
        let config = ControllerConfig {
            resync: settings.resync,
            concurrency: settings.concurrency,
            instance: identity.to_owned(),
            cluster: settings
                .cluster_name
                .clone()
                .unwrap_or_else(|| ControllerConfig::default().cluster),
            create_grace: settings.bid_safety.create_grace,
            orphan_grace: settings.bid_safety.orphan_grace,
            namespaces: settings.namespaces.clone(),
            default_key_namespaces: (!settings.default_key_namespaces.is_empty())
                .then(|| settings.default_key_namespaces.iter().cloned().collect()),
            ..ControllerConfig::default()
        };
        let context = Arc::new(Context::new(client, registry, default_key, metrics, config));
        let stop_controllers = CancellationToken::new();
        let namespaces: Vec<Option<String>> = if settings.namespaces.is_empty() {
            vec![None]
        } else {
            settings.namespaces.iter().cloned().map(Some).collect()
        };
        let mut controllers = Vec::new();
        for namespace in namespaces {
            if settings.spot_bids {
                let (context, stop) = (context.clone(), stop_controllers.clone());
                let namespace = namespace.clone();
                controllers.push((
                    "SpotBid",
                    tokio::spawn(async move {
                        spot_bid::run(context, namespace.as_deref(), async move {
                            stop.cancelled().await
                        })
                        .await;
                    }),
                ));
            }
            if settings.instance_schedules {
                let (context, stop) = (context.clone(), stop_controllers.clone());
                let namespace = namespace.clone();
                controllers.push((
                    "InstanceSchedule",
                    tokio::spawn(async move {
                        instance_schedule::run(context, namespace.as_deref(), async move {
                            stop.cancelled().await
                        })
                        .await;
                    }),
                ));
            }
            if settings.spot_pools {
                let (context, stop) = (context.clone(), stop_controllers.clone());
                let namespace = namespace.clone();
                controllers.push((
                    "SpotPool",
                    tokio::spawn(async move {
                        spot_pool::run(context, namespace.as_deref(), async move {
                            stop.cancelled().await
                        })
                        .await;
                    }),
                ));
            }
        }
        tracing::info!(
            controllers = controllers.len(),
            namespaces = ?settings.namespaces,
            "controllers started"
        );
        Ok(Self {
            controllers,
            stop_controllers,
            stop_observers,
        })
    }

    /// Completes when a controller ends before being told to: names it.
    pub async fn stopped_unexpectedly(&mut self) -> &'static str {
        if self.controllers.is_empty() {
            return std::future::pending().await;
        }
        let handles = self.controllers.iter_mut().map(|(_, handle)| handle);
        let (_, index, _) = select_all(handles).await;
        let (kind, _) = self.controllers.remove(index);
        kind
    }

    /// Stops the controllers (in-flight reconciles finish, for [`SHUTDOWN_DRAIN`] at most),
    /// then the observers.
    pub async fn stop(mut self) {
        self.stop_controllers.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_DRAIN, async {
            for (kind, handle) in &mut self.controllers {
                if let Err(error) = handle.await {
                    tracing::error!(controller = *kind, %error, "controller task failed");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(drain = ?SHUTDOWN_DRAIN, "reconciles still running after the drain; aborting them");
            return self.abort().await;
        }
        self.stop_observers.cancel();
        tracing::info!("controllers stopped");
    }

    /// Stops everything at once, in-flight reconciles included: after a lost lease not one more
    /// write may start.
    pub async fn abort(self) {
        self.stop_observers.cancel();
        self.stop_controllers.cancel();
        for (_, handle) in &self.controllers {
            handle.abort();
        }
        for (_, handle) in self.controllers {
            let _ = handle.await;
        }
        tracing::info!("controllers aborted");
    }
}

fn mithril_client(
    settings: &Settings,
    api_key: ApiKey,
    metrics: &Metrics,
    fence: Option<Fence>,
) -> Result<MithrilClient, mithril_api::MithrilError> {
    let config = ClientConfig {
        rate_limit: settings.rate_limit,
        ..ClientConfig::new(settings.mithril_url.clone(), api_key)
    };
    let mut options = ClientOptions::default().observer(metrics.mithril_observer());
    if let Some(fence) = fence {
        options = options.fence(Arc::new(fence));
    }
    MithrilClient::with_options(config, options)
}
