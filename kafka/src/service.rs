//! Process plumbing the long-running binaries share: logs to stderr (filter from `AEGIS_LOG`), a
//! cancellation token fired by SIGINT or SIGTERM — shutdown as a value passed down, not a global —
//! and the `GET /metrics` answer.

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

/// What every long-running binary starts with: logs to stderr (see [`init_logging`]), a
/// multi-threaded runtime, and a token cancelled by SIGINT or SIGTERM (see [`cancel_on_signal`]).
pub fn start(
    default_filter: &str,
) -> std::io::Result<(tokio::runtime::Runtime, CancellationToken)> {
    init_logging(default_filter);
    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = cancel_on_signal(&runtime);
    Ok((runtime, cancel))
}

/// The whole `main` of a long-running binary: [`start`], then `work` on the runtime until it ends
/// (or a signal cancels its token), then the exit code — an error printed as one line by
/// [`exit_with_error`].
pub fn run_main<Work, Done, E>(binary: &str, work: Work) -> std::process::ExitCode
where
    Work: FnOnce(CancellationToken) -> Done,
    Done: std::future::Future<Output = Result<(), E>>,
    E: AsRef<dyn std::error::Error + 'static>,
{
    let (runtime, cancel) = match start("info,rdkafka=warn") {
        Ok(started) => started,
        Err(e) => return exit_with_error(binary, &e),
    };
    let result = runtime.block_on(work(cancel));
    // Work left on the blocking pool (a Kafka call waiting for a broker that is gone) must not
    // keep a stopped service alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit_with_error(binary, e.as_ref()),
    }
}

/// Prints `{binary}: error: {error and its causes on one line}` to stderr and returns the failing
/// exit code: how every binary ends on an error.
pub fn exit_with_error(
    binary: &str,
    error: &(dyn std::error::Error + 'static),
) -> std::process::ExitCode {
    eprintln!(
        "{binary}: error: {}",
        aegis_core::error_line::one_line(error)
    );
    std::process::ExitCode::FAILURE
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

/// The content type of Prometheus's text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// `registry` in Prometheus's text exposition format (an encoding failure is logged, and what was
/// encoded is kept).
pub fn render_metrics(registry: &prometheus::Registry) -> String {
    let mut buf = Vec::new();
    if let Err(e) = prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut buf,
    ) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// The answer to `GET /metrics`: `registry` rendered, with the exposition format's content type.
pub fn metrics_response(registry: &prometheus::Registry) -> warp::reply::Response {
    use warp::Reply;
    warp::reply::with_header(
        render_metrics(registry),
        "content-type",
        METRICS_CONTENT_TYPE,
    )
    .into_response()
}

/// Serves `GET /metrics` alone on `listener` until `shutdown` fires: for binaries whose only HTTP
/// is their metrics.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    registry: prometheus::Registry,
    shutdown: CancellationToken,
) {
    use warp::Filter;
    let route = warp::path!("metrics")
        .and(warp::get())
        .map(move || metrics_response(&registry));
    warp::serve(route)
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}
