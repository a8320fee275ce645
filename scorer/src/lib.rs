//! # aegis-scorer
//!
//! A consumer-group member that turns every transaction on the input topic into a verdict on the
//! output topic (key = origin account, so one account's verdicts stay in order on one partition),
//! and every undecodable or invalid message into a dead letter that carries its reason and source
//! topic/partition/offset in headers.
//!
//! Guarantees: **at least once** — an input offset is stored only after the broker acknowledged
//! the verdict or dead letter for it, and never for a partition revoked meanwhile; a crash may
//! repeat verdicts, never lose one. Any number of replicas share the partitions. On SIGINT/SIGTERM
//! a replica stops intake, drains, flushes and commits within a bounded time.
//!
//! A replica is a few parts around one shared [`ReplicaState`], each writing only its own part of
//! it:
//!
//! - [`entities`]: the stream on any other spec — a stage per entity, exact across replicas;
//! - [`stream`]: the consumer-group pipeline, as stages (intake, processing, acknowledgement,
//!   offset storing, restore), and the partition assignment and account states it keeps;
//! - [`control`]: the models and rules topics, followed into the [`models`] and [`rules`] slots;
//! - [`live`]: the live page's view of the verdicts and outcomes, and the review queue;
//! - [`review`]: analysts' decisions on the review queue, written to the labels topic;
//! - [`http`]: the HTTP server — metrics, health, the scoring API and its document, the live page
//!   and its assets — which only reads.

pub mod config;
pub mod control;
pub mod entities;
pub mod http;
pub mod live;
pub mod metrics;
pub mod models;
pub mod replica;
pub mod review;
pub mod rules;
pub mod stream;
pub mod trust;

use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

pub use config::{HttpFlags, LiveView, ScorerConfig};
pub use replica::{load_model, ReplicaState};

/// Starts the HTTP server and runs one replica with the live model `live` (the `--model` file
/// from [`load_model`], or the models topic's from [`control::first_live_model`]) until `cancel`
/// fires; returns the replica's metrics.
pub async fn run(
    config: ScorerConfig,
    live: models::Installed,
    cancel: CancellationToken,
) -> Result<Arc<metrics::Metrics>> {
    let spec_model = (!live.model.is_paysim()).then(|| live.model.clone());
    let settings = http::Settings::from_flags(&config.http)?
        .with_labeller(review::Labeller::connect(&config)?);
    let replica = Arc::new(ReplicaState::with_live(&config, live)?);
    let listener = aegis_kafka::service::listen(config.http_addr, "--http-addr").await?;
    let addr = listener.local_addr().unwrap_or(config.http_addr);
    tracing::info!(%addr, "HTTP server listening");
    if settings.access.tokens.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "POST /v1/score and /v1/labels, /api/live, /api/review and /v1/model are open to \
             anyone who can reach this address: give --api-token-file to require a bearer token (docs/api.md)"
        );
    }
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(http::serve(
        listener,
        replica.clone(),
        settings,
        http_stop.clone(),
    ));
    let live = {
        let (config, feed, stop) = (config.clone(), replica.live.clone(), http_stop.clone());
        tokio::spawn(async move {
            if config.live_view != LiveView::All {
                return; // the pipeline records this replica's own verdicts
            }
            if let Err(e) = live::follow(&config, feed, stop).await {
                tracing::warn!(error = %e, "live view stopped");
            }
        })
    };
    let result = match spec_model {
        Some(model) => entities::run(config, replica.clone(), model, cancel).await,
        None => stream::run(config, replica.clone(), cancel).await,
    };
    http_stop.cancel();
    let _ = tokio::join!(http, live);
    tracing::info!("{}", replica.metrics.summary());
    result.map(|()| replica.metrics.clone())
}
