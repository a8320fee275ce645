//! The replica's Kafka clients and Schema Registry set-up, with the settings at-least-once needs.

use std::sync::Arc;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::Transaction;
use aegis_kafka as kafka;
use aegis_kafka::registry::{RegistryDecoder, SchemaRegistry};
use anyhow::{Context, Result};
use rdkafka::producer::FutureProducer;
use tokio::sync::mpsc;

use super::assignment::AssignmentContext;
use super::ScorerConsumer;
use crate::config::ScorerConfig;
use crate::replica::ReplicaState;

/// The scorer's consumer settings (before `group.id` and the user's `-X` properties): offsets are
/// stored by the pipeline after acknowledgement and committed in the background. Partitions move
/// between replicas incrementally (cooperative-sticky): a replica joining or leaving takes or gives
/// only its share instead of stopping every replica, and a member that died without leaving is
/// recovered from on tansu too (see chaos/README.md). `Assignment` works with either protocol.
pub const CONSUMER_SETTINGS: &[(&str, &str)] = &[
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("enable.auto.commit", "true"),
    ("enable.auto.offset.store", "false"),
    ("auto.commit.interval.ms", "1000"),
    ("auto.offset.reset", "earliest"),
    ("session.timeout.ms", "10000"),
    ("fetch.wait.max.ms", "10"),
    // Consumer lag per partition comes from librdkafka's statistics.
    ("statistics.interval.ms", "5000"),
];

/// The scorer's producer settings (before the user's `-X` properties): idempotent, acknowledged by
/// all in-sync replicas.
pub const PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "2"),
];

/// The group consumer; `restores`, when state is kept in a changelog, is told of every partition
/// assigned (paused until restored).
pub(super) fn create_consumer(
    config: &ScorerConfig,
    replica: &ReplicaState,
    restores: Option<mpsc::UnboundedSender<(i32, u64)>>,
) -> Result<ScorerConsumer> {
    kafka::client_config(
        &config.brokers,
        CONSUMER_SETTINGS,
        &config.kafka.properties(),
    )
    .set("group.id", &config.group_id)
    .create_with_context(AssignmentContext {
        assignment: replica.assignment.clone(),
        metrics: replica.metrics.clone(),
        restores,
        input_topic: config.input_topic.clone(),
    })
    .context(
        "cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)",
    )
}

/// The producer of verdicts, dead letters and shadow verdicts.
pub(super) fn create_producer(config: &ScorerConfig) -> Result<FutureProducer> {
    producer(config, PRODUCER_SETTINGS)
}

/// The producer of account states (the changelog): acknowledged by all in-sync replicas like the
/// verdicts', but batches wait up to `--state-linger-ms` to fill, and it is not idempotent: one
/// request in flight at a time keeps each partition's records in order through retries, and a
/// record a retry writes twice is harmless in a compacted topic read back as the last value per
/// key. That spares the changelog the idempotent producer's busy wait while its five requests in
/// flight await the broker (docs/benchmarks.md). `-X` properties still override both producers.
pub(super) fn create_state_producer(config: &ScorerConfig) -> Result<FutureProducer> {
    let linger = config.state_linger_ms.to_string();
    producer(config, &state_producer_settings(&linger))
}

/// [`PRODUCER_SETTINGS`] for the changelog's producer, with `linger` milliseconds of linger.
pub fn state_producer_settings(linger: &str) -> Vec<(&'static str, &str)> {
    let mut settings: Vec<(&str, &str)> = PRODUCER_SETTINGS
        .iter()
        .filter(|(key, _)| !matches!(*key, "linger.ms" | "enable.idempotence"))
        .copied()
        .collect();
    settings.extend([
        ("enable.idempotence", "false"),
        ("max.in.flight.requests.per.connection", "1"),
        ("linger.ms", linger),
    ]);
    settings
}

fn producer(config: &ScorerConfig, settings: &[(&str, &str)]) -> Result<FutureProducer> {
    kafka::client_config(&config.brokers, settings, &config.kafka.properties())
        .create()
        .context(
            "cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)",
        )
}

/// With `--schema-registry-url`: registers the verdict schema under `<output>-value` and writes
/// verdicts in the Confluent wire format, and reads input written with any registered schema.
/// Without: single-object encoding.
pub(crate) fn registry(
    config: &ScorerConfig,
) -> Result<(Framing, Option<RegistryDecoder<Transaction>>)> {
    let Some(url) = &config.schema_registry_url else {
        return Ok((Framing::SingleObject, None));
    };
    let client = Arc::new(SchemaRegistry::new(url)?);
    let framing = client.framing_for(&config.output_topic, AvroCodec::verdict())?;
    tracing::info!(registry = %url, ?framing, "verdict schema registered");
    Ok((
        framing,
        Some(RegistryDecoder::new(AvroCodec::transaction(), client)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changelog_producer_keeps_order_and_acks_without_idempotence() {
        let settings: std::collections::HashMap<_, _> =
            state_producer_settings("100").into_iter().collect();
        assert_eq!(settings["acks"], "all");
        assert_eq!(settings["enable.idempotence"], "false");
        assert_eq!(settings["max.in.flight.requests.per.connection"], "1");
        assert_eq!(settings["linger.ms"], "100");
        assert_eq!(settings.len(), PRODUCER_SETTINGS.len() + 1);
    }
}
