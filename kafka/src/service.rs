//! Process plumbing the long-running binaries share: logs to stderr (filter from `AEGIS_LOG`), and a
//! cancellation token fired by SIGINT or SIGTERM — shutdown as a value passed down, not a global.

use tokio_util::sync::CancellationToken;

/// Logs to stderr; `AEGIS_LOG` (e.g. `debug`, `info,rdkafka=warn`) overrides `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A token cancelled on the first SIGINT (Ctrl-C) or SIGTERM received while `runtime` runs.
pub fn cancel_on_signal(runtime: &tokio::runtime::Runtime) -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    runtime.spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
        tracing::info!("stop signal received: draining");
        token.cancel();
    });
    cancel
}
