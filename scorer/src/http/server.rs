//! The accept loop, bounded: at most `--http-max-connections` connections and
//! `--http-max-in-flight` requests at once (503 with `Retry-After` beyond either), HTTP/1.1 with a
//! 64 KiB request head and `--http-read-timeout` to send it (and as long for the client to
//! take each part of an answer), and a stop bounded in time.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use warp::http::{Request, StatusCode};
use warp::reply::{Reply, Response};

use super::api::ApiError;
use super::stall::StallLimited;
use super::Settings;
use crate::metrics::{HttpRejection, Metrics};
use crate::replica::ReplicaState;

/// Seconds a refused client is told to wait before trying again (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;
/// Largest request head (request line and headers) a connection buffers: past it, 431.
const MAX_HEAD_BYTES: usize = 64 << 10;
/// Connections being refused at once (their 503 written, what they sent drained briefly so that
/// the close does not reset the 503 away); past it, a connection over the cap is closed at once.
const MAX_REFUSING: usize = 256;
/// How long a refused connection is drained, at most.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Most bytes drained from a refused connection.
const REFUSAL_DRAIN_BYTES: usize = 64 << 10;

/// Paths served whatever the in-flight count: they read no body and answer from memory, and an
/// orchestrator that cannot reach them restarts a replica that is only busy.
const UNGATED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The 503 written, before closing, to a connection over `--http-max-connections`.
static CONNECTIONS_FULL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = format!(r#"{{"error":"too many connections; retry in {RETRY_AFTER_SECS} s"}}"#);
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Serves `replica` on `listener` until `shutdown` fires; then stops accepting and gives open
/// connections the read timeout (and a second) to finish.
pub async fn serve(
    listener: TcpListener,
    replica: Arc<ReplicaState>,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let mut server = Listener {
        listener,
        connections: Arc::new(Semaphore::new(settings.max_connections)),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        gate: Gate {
            requests: Arc::default(),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            metrics: replica.metrics.clone(),
            routes: TowerToHyperService::new(warp::service(super::routes_with(
                replica.clone(),
                settings.clone(),
            ))),
        },
        read_timeout: settings.read_timeout,
        metrics: replica.metrics.clone(),
        graceful: GracefulShutdown::new(),
    };
    server.run(&shutdown).await;
    let Listener {
        listener, graceful, ..
    } = server;
    drop(listener);
    let limit = settings.read_timeout + Duration::from_secs(1);
    if tokio::time::timeout(limit, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?limit,
            "HTTP connections still open at shutdown were dropped"
        );
    }
}

/// The accept loop's state.
struct Listener<S> {
    /// Where connections come from.
    listener: TcpListener,
    /// One permit per open connection (`--http-max-connections`).
    connections: Arc<Semaphore>,
    /// One permit per connection being refused ([`MAX_REFUSING`]).
    refusing: Arc<Semaphore>,
    /// What each connection's requests go through.
    gate: Gate<S>,
    /// Time to send a request head (`--http-read-timeout`).
    read_timeout: Duration,
    /// Where refusals are counted.
    metrics: Arc<Metrics>,
    /// Open connections, told to finish at shutdown.
    graceful: GracefulShutdown,
}

impl<S> Listener<S>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    /// Accepts until `shutdown` fires: each connection within the cap is served by a task of its
    /// own; one over it is refused.
    async fn run(&mut self, shutdown: &CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, typically: wait for some to close.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match self.connections.clone().try_acquire_owned() {
                Ok(permit) => self.serve_connection(stream, permit),
                Err(_) => self.refuse(stream),
            }
        }
    }

    /// Serves one connection's requests, holding `permit` until it closes.
    fn serve_connection(&self, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.read_timeout)
            .max_buf_size(MAX_HEAD_BYTES);
        let gate = Gate {
            requests: Arc::default(),
            ..self.gate.clone()
        };
        let requests = gate.requests.clone();
        let socket = StallLimited::new(TokioIo::new(stream), self.read_timeout);
        let connection = http.serve_connection(socket, gate);
        let connection = self.graceful.watch(connection);
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let _open = metrics.http_connection_opened();
            if let Err(e) = connection.await {
                // A head that did not come in time. An idle keep-alive connection closed so,
                // having served its requests, is no abuse and is not counted.
                if e.is_timeout() && requests.load(Ordering::Relaxed) == 0 {
                    metrics.http_rejected(HttpRejection::ReadTimeout);
                } else if stalled(&e) {
                    metrics.http_rejected(HttpRejection::WriteTimeout);
                } else {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
            }
            drop(permit);
        });
    }

    /// Answers a connection over the cap with a 503 and closes it — without reading a request
    /// into memory, and without a task of its own when [`MAX_REFUSING`] are already being refused.
    fn refuse(&self, stream: TcpStream) {
        self.metrics.http_rejected(HttpRejection::Connections);
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return; // dropped: closed at once
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(REFUSAL_LINGER, refuse(stream)).await;
        });
    }
}

/// Whether a connection ended because its client stopped taking its answer ([`StallLimited`]).
fn stalled(error: &hyper::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
}

/// Writes the 503, then reads and drops what the client sends until it closes (or the caller's
/// time is up), so that closing does not reset the connection before the 503 is read.
async fn refuse(mut stream: TcpStream) {
    if stream.write_all(&CONNECTIONS_FULL).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut buffer = [0u8; 4096];
    let mut drained = 0;
    while drained < REFUSAL_DRAIN_BYTES {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Every request goes through here: within `--http-max-in-flight` (or to an [`UNGATED`] path)
/// it is routed, holding an in-flight permit until its response is ready — its body is read under
/// that permit; past it, a 503 with `Retry-After`.
#[derive(Clone)]
struct Gate<S> {
    /// Requests this connection has received (each connection has its own count).
    requests: Arc<AtomicU64>,
    /// One permit per request being read or answered.
    in_flight: Arc<Semaphore>,
    /// Where refusals are counted.
    metrics: Arc<Metrics>,
    /// The routes.
    routes: S,
}

impl<S> Service<Request<Incoming>> for Gate<S>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let permit = if UNGATED.contains(&request.uri().path()) {
            None
        } else {
            match self.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.metrics.http_rejected(HttpRejection::InFlight);
                    return Box::pin(std::future::ready(Ok(busy("too many requests in flight"))));
                }
            }
        };
        let counted = permit.as_ref().map(|_| self.metrics.http_request_started());
        let response = self.routes.call(request);
        Box::pin(async move {
            let response = response.await;
            drop((counted, permit));
            response
        })
    }
}

/// A 503 telling the client to retry after [`RETRY_AFTER_SECS`].
pub fn busy(what: &str) -> Response {
    let error = ApiError {
        error: format!("{what}; retry in {RETRY_AFTER_SECS} s"),
    };
    let reply =
        warp::reply::with_status(warp::reply::json(&error), StatusCode::SERVICE_UNAVAILABLE);
    warp::reply::with_header(reply, "retry-after", RETRY_AFTER_SECS.to_string()).into_response()
}
