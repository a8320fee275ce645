//! `--live-view all`: the live view fed from the verdicts and outcomes topics, read by a consumer
//! assigned every partition by hand (no group, nothing committed) from the replica's start.

use std::sync::Arc;
use std::time::Duration;

use aegis_core::avro::AvroCodec;
use aegis_kafka as kafka;
use anyhow::{Context, Result};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::LiveFeed;
use crate::config::ScorerConfig;

/// Follows the verdicts topic into `feed`, from the feed's start time on, until `cancel` fires.
/// Partitions are assigned directly (no group membership, nothing committed), starting at the
/// first verdict at or after `since`; the topic is waited for if it does not exist yet.
pub async fn follow(
    config: &ScorerConfig,
    feed: Arc<LiveFeed>,
    cancel: CancellationToken,
) -> Result<()> {
    let consumer: StreamConsumer = kafka::Settings::reader("aegis-live-view")
        .client_config(&config.brokers, &config.kafka.properties())
        .create()
        .context("cannot create the live view's consumer")?;
    let since = feed.snapshot().since;
    while let Err(e) = assign_from(
        &consumer,
        &config.output_topic,
        &config.outcomes_topic,
        since,
    ) {
        tracing::debug!(error = %e, "live view waiting for the verdicts topic");
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    loop {
        let message = tokio::select! {
            () = cancel.cancelled() => break,
            m = consumer.recv() => m,
        };
        match message {
            Ok(m) if m.topic() == config.output_topic => {
                match AvroCodec::verdict().decode(m.payload().unwrap_or_default()) {
                    Ok((verdict, _)) => feed.record(&verdict),
                    Err(e) => {
                        tracing::debug!(error = %e, "live view skipped an undecodable verdict")
                    }
                }
            }
            Ok(m) => match AvroCodec::outcome().decode(m.payload().unwrap_or_default()) {
                Ok((outcome, _)) => feed.record_outcome(&outcome),
                Err(e) => tracing::debug!(error = %e, "live view skipped an undecodable outcome"),
            },
            Err(e) => {
                tracing::debug!(error = %e, "live view consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

/// Assigns every partition of `verdicts` (which must exist) and of `outcomes` (if it exists; `""`
/// for none) from the first message at or after `since_ms`.
fn assign_from(
    consumer: &StreamConsumer,
    verdicts: &str,
    outcomes: &str,
    since_ms: i64,
) -> Result<()> {
    let timeout = Duration::from_secs(5);
    let partitions = |topic: &str| -> Result<Vec<i32>> {
        kafka::topic_partitions(consumer, topic, timeout)?.context("no such topic yet")
    };
    let mut wanted = TopicPartitionList::new();
    for p in partitions(verdicts)? {
        wanted.add_partition_offset(verdicts, p, Offset::Offset(since_ms))?;
    }
    if !outcomes.is_empty() {
        match partitions(outcomes) {
            Ok(found) => {
                for p in found {
                    wanted.add_partition_offset(outcomes, p, Offset::Offset(since_ms))?;
                }
            }
            Err(e) => tracing::info!(topic = outcomes, error = %e, "live view without outcomes"),
        }
    }
    let start = consumer.offsets_for_times(wanted, timeout)?;
    consumer.assign(&start)?;
    Ok(())
}
