//! Process plumbing the long-running binaries share: logs to stderr ([`crate::logs`]), a
//! cancellation token fired by SIGINT or SIGTERM — shutdown as a value passed down, not a global —
//! the bounded end of a consume-transform-produce service ([`finish`]), and the `GET /metrics`
//! answer.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use tokio_util::sync::CancellationToken;

use crate::logs::{LogFlags, LogFormat};

/// What every long-running binary starts with: logs to stderr in `format` (see
/// [`crate::logs::init`]: `AEGIS_LOG`, else `RUST_LOG`, else `default_filter`), a multi-threaded
/// runtime, and a token cancelled by SIGINT or SIGTERM (see [`cancel_on_signal`]).
pub fn start(
    default_filter: &str,
    format: LogFormat,
) -> std::io::Result<(tokio::runtime::Runtime, CancellationToken)> {
    crate::logs::init(default_filter, format);
    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = cancel_on_signal(&runtime);
    Ok((runtime, cancel))
}

/// The whole `main` of a long-running binary: [`start`] (logs as `logs` says), then `work` on the runtime until it ends
/// (or a signal cancels its token), then the exit code — an error printed as one line by
/// [`exit_with_error`].
pub fn run_main<Work, Done, E>(binary: &str, logs: &LogFlags, work: Work) -> std::process::ExitCode
where
    Work: FnOnce(CancellationToken) -> Done,
    Done: std::future::Future<Output = Result<(), E>>,
    E: AsRef<dyn std::error::Error + 'static>,
{
    let (runtime, cancel) = match start("info,rdkafka=warn", logs.log_format) {
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

/// A service's HTTP port could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}; pass another {flag}")]
pub struct ListenError {
    addr: std::net::SocketAddr,
    flag: String,
    #[source]
    source: std::io::Error,
}

/// Binds a service's HTTP listener on `addr`, given by `flag`; an error says which flag to change.
pub async fn listen(
    addr: std::net::SocketAddr,
    flag: &str,
) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError {
            addr,
            flag: flag.to_owned(),
            source,
        })
}

/// Why [`finish`] did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// A producer could not deliver what it held.
    #[error("flushing a producer: {0}")]
    Flush(KafkaError),
    /// The stored offsets could not be committed.
    #[error("committing offsets: {0}")]
    Commit(KafkaError),
    /// The shutdown thread could not start or did not report.
    #[error("{0}")]
    Thread(&'static str),
    /// The budget ran out (a broker gone): `redone` says what happens to uncommitted work.
    #[error(
        "could not commit offsets and close the Kafka clients within {timeout:?} \
         (--shutdown-timeout); is the broker reachable? Uncommitted work will be {redone} again"
    )]
    Timeout {
        /// The budget.
        timeout: Duration,
        /// What the next owner does with uncommitted work: "scored", "joined".
        redone: &'static str,
    },
}

/// The end of a consume-transform-produce service: flushes the producers, commits the stored
/// offsets and closes the clients, giving up after `timeout`. librdkafka's synchronous commit and
/// consumer close wait for the group coordinator without a limit, so they run on a thread of their
/// own that is left behind when the broker is gone: a service told to stop must stop, and offsets
/// not committed only mean work done again (`redone`, e.g. "scored", for the error). On success it
/// logs `offsets committed; {service} stopped` (operators and `scripts/chaos` look for it).
pub async fn finish<C, Ctx>(
    consumer: Arc<C>,
    producers: Vec<FutureProducer>,
    timeout: Duration,
    service: &'static str,
    redone: &'static str,
) -> Result<(), FinishError>
where
    C: Consumer<Ctx> + Send + Sync + 'static,
    Ctx: ConsumerContext + 'static,
{
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("aegis-finish".to_owned())
        .spawn(move || {
            let result = flush_and_commit(consumer.as_ref(), &producers, timeout);
            if result.is_ok() {
                tracing::info!("offsets committed; {service} stopped");
            }
            // The last references: dropping them closes the clients (and may wait, here only).
            drop((consumer, producers));
            let _ = done.send(result);
        })
        .map_err(|_| FinishError::Thread("cannot start the shutdown thread"))?;
    match tokio::time::timeout(timeout, finished).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(FinishError::Thread("the shutdown thread panicked")),
        Err(_) => Err(FinishError::Timeout { timeout, redone }),
    }
}

fn flush_and_commit<C, Ctx>(
    consumer: &C,
    producers: &[FutureProducer],
    timeout: Duration,
) -> Result<(), FinishError>
where
    C: Consumer<Ctx>,
    Ctx: ConsumerContext + 'static,
{
    for producer in producers {
        producer.flush(timeout).map_err(FinishError::Flush)?;
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last commit is not a failure.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => return Err(FinishError::Commit(e)),
    }
    consumer.unsubscribe();
    Ok(())
}

/// The content type of Prometheus's text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Quantile `q` of a histogram from its buckets — (upper bound, cumulative count), in order — and
/// its total count: the upper bound of the first bucket whose cumulative count reaches `q` of
/// the total, infinite past the last finite bound; `None` for an empty histogram. How the
/// scorer's shutdown line and `aegis-stack summary` read latency, alike.
pub fn bucket_quantile(buckets: &[(f64, f64)], total: f64, q: f64) -> Option<f64> {
    if total <= 0.0 {
        return None;
    }
    let rank = (q * total).ceil();
    Some(
        buckets
            .iter()
            .find(|(_, count)| *count >= rank)
            .map_or(f64::INFINITY, |(bound, _)| *bound),
    )
}

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
