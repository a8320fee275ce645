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

pub mod assignment;
pub mod config;
pub mod pipeline;
pub mod scoring;
pub mod stats;

use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

pub use config::ScorerConfig;
pub use pipeline::Scoring;

/// Loads the model and runs one replica until `cancel` fires; returns the replica's counters.
pub async fn run(config: ScorerConfig, cancel: CancellationToken) -> Result<Arc<stats::Stats>> {
    let scoring = Scoring::new(&config)?;
    let stats = scoring.stats.clone();
    let result = pipeline::run(config, scoring, cancel).await;
    tracing::info!("{}", stats.summary());
    result.map(|()| stats)
}
