//! Serving the simulator on a TCP address.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::error::SimError;
use super::handle::{ClockMode, Sim};

/// How often a scaled clock is brought forward when no request does it.
const SCALED_TICK_INTERVAL: Duration = Duration::from_millis(100);

/// A running server; dropping it stops it too.
pub struct SimServer {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    clock_task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// `http://ADDR`, the base URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for the server.
    pub async fn shutdown(mut self) {
        self.stop_clock();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server ends (it runs until shut down).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_clock(&mut self) {
        if let Some(clock) = self.clock_task.take() {
            clock.abort();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop_clock();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Sim {
    /// Binds `addr` and serves the whole API (with `/_sim/`) in a background task. With a scaled
    /// clock, a background task also keeps simulated time flowing between requests.
    pub async fn serve(&self, addr: SocketAddr) -> Result<SimServer, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "simulator server failed");
            }
        });
        let clock_task = matches!(self.clock(), ClockMode::Scaled(_)).then(|| {
            let sim = self.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(SCALED_TICK_INTERVAL);
                loop {
                    interval.tick().await;
                    drop(sim.world());
                }
            })
        });
        Ok(SimServer {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
            clock_task,
        })
    }
}
