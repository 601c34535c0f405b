//! Shutdown on SIGTERM (Kubernetes stopping the pod) and Ctrl-C (a person at a terminal).

/// Completes when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM stops the process: never stop at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupted; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
