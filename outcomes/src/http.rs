//! The HTTP server: `GET /metrics` (Prometheus) and `GET /healthz` (the process is up).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::metrics::Metrics;

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let metrics_route = warp::path!("metrics")
        .and(warp::get())
        .map(move || aegis_kafka::service::metrics_response(&metrics.registry));
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::with_header(String::from("ok\n"), "content-type", "text/plain"));
    warp::serve(metrics_route.or(health))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}
