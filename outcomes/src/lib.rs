//! # aegis-outcomes
//!
//! A consumer-group service that joins each verdict with the label of its transaction — learnt
//! late: a chargeback, an analyst, or the producer's `--label-delay` — and writes the pair to the
//! outcomes topic (`schemas/outcome.avsc`: decision, probability, amount, type, model version,
//! label, verdict-to-label latency; key = account). Its metrics are what the fraud team asks of a
//! live model: confusion counts by decision and label, money stopped, lost and wrongly blocked,
//! and precision and recall of BLOCK and of REVIEW-or-BLOCK over a sliding window; and of each rule
//! that fired, so a rule in monitor mode (action ALLOW) is judged by outcomes ([`rules`]).
//!
//! Guarantees:
//! - **Co-partitioned join.** Verdicts and labels are both keyed by account and have as many
//!   partitions (checked at start), so partition `p` of each holds the same accounts; the group
//!   assigns verdicts partitions and each member follows them with the labels partitions of the
//!   same numbers ([`assignment`]).
//! - **Bounded memory.** A verdict or label waits for its counterpart at most `--join-window`
//!   seconds, and at most `--max-pending` wait at once; what is given up on is counted
//!   (`aegis_outcomes_evicted_total`) ([`join`]).
//! - **Late labels.** A label the live join gave up on is looked for in the verdicts topic from
//!   the transaction's event time, one verdict at a time (memory bounded whatever the horizon),
//!   up to `--label-horizon` (event time) old; what is beyond it, or not found, is counted
//!   (`aegis_outcomes_late_labels_total`) ([`late`]).
//! - **At least once.** A source offset is stored only when everything at or below it is finished
//!   — joined with its outcome acknowledged by the broker, or evicted — ([`ledger`]), so after a
//!   crash or SIGKILL every unfinished message is read again and no outcome is lost; outcomes
//!   acknowledged after the last commit are written again (consumers dedupe by `tx_id`).
//!   Waiting entries are not persisted: a restart rebuilds them by re-reading, at most a window's
//!   worth.
//! - **Ordered shutdown** on SIGINT/SIGTERM: stop reading, await the outcomes in flight, flush,
//!   commit, within `--shutdown-timeout`.

pub mod assignment;
pub mod config;
pub mod http;
pub mod join;
pub mod late;
pub mod ledger;
pub mod metrics;
pub mod quality;
pub mod rules;
pub mod stream;

use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

pub use config::OutcomesConfig;
pub use metrics::Metrics;

/// Starts the HTTP server and runs the service until `cancel` fires; returns its metrics.
pub async fn run(config: OutcomesConfig, cancel: CancellationToken) -> Result<Arc<Metrics>> {
    let metrics = Arc::new(Metrics::new(
        config.quality_window,
        config.precision_floor,
        config.recall_floor,
        config.card_precision_k as usize,
    ));
    let listener = aegis_kafka::service::listen(config.http_addr, "--http-addr").await?;
    let addr = listener.local_addr().unwrap_or(config.http_addr);
    tracing::info!(%addr, "HTTP server listening (/metrics, /healthz)");
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(http::serve(listener, metrics.clone(), http_stop.clone()));
    let result = stream::run(config, metrics.clone(), cancel).await;
    http_stop.cancel();
    let _ = http.await;
    result.map(|()| metrics)
}
