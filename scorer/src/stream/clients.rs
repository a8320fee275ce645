//! The replica's Kafka clients — built from `aegis_kafka::Settings`, with the scorer's own tuning
//! beside its reasons — and the Schema Registry set-up.

use std::sync::Arc;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::Transaction;
use aegis_kafka::registry::{RegistryDecoder, SchemaRegistry};
use aegis_kafka::Settings;
use anyhow::{Context, Result};
use rdkafka::producer::FutureProducer;
use tokio::sync::mpsc;

use super::assignment::{AssignmentContext, Rebalanced};
use super::ScorerConsumer;
use crate::config::ScorerConfig;
use crate::replica::ReplicaState;

/// The scorer's consumer: a group member that stores offsets after acknowledgement (see
/// [`Settings::group_consumer`]), with librdkafka's statistics every 5 s for the consumer-lag
/// metric.
pub fn consumer_settings(group_id: &str) -> Settings {
    Settings::group_consumer(group_id).set("statistics.interval.ms", 5000)
}

/// The producer of verdicts, dead letters and shadow verdicts: reliable, lz4-compressed, batches
/// lingering 2 ms.
pub fn producer_settings() -> Settings {
    Settings::reliable_producer()
        .set("compression.type", "lz4")
        .set("linger.ms", 2)
}

/// The producer of account states: a changelog producer ([`Settings::changelog_producer`]),
/// lz4-compressed, batches waiting up to `--state-linger` to fill.
pub fn state_producer_settings(linger_ms: u64) -> Settings {
    Settings::changelog_producer()
        .set("compression.type", "lz4")
        .set("linger.ms", linger_ms)
}

/// The group consumer; `rebalances`, when state is kept in a changelog, hears of every
/// partition assigned (paused until restored) and revoked.
pub(super) fn create_consumer(
    config: &ScorerConfig,
    replica: &ReplicaState,
    rebalances: Option<mpsc::UnboundedSender<Rebalanced>>,
) -> Result<ScorerConsumer> {
    consumer_settings(&config.group_id)
        .client_config(&config.brokers, &config.kafka.properties())
        .create_with_context(AssignmentContext {
            assignment: replica.assignment.clone(),
            metrics: replica.metrics.clone(),
            rebalances,
            input_topic: config.input_topic.clone(),
        })
        .context(
            "cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)",
        )
}

/// A producer with `settings` and the user's properties.
pub(super) fn create_producer(
    config: &ScorerConfig,
    settings: &Settings,
) -> Result<FutureProducer> {
    settings
        .client_config(&config.brokers, &config.kafka.properties())
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
    fn the_scorers_clients_keep_their_tuning_over_the_shared_settings() {
        let states = state_producer_settings(100);
        assert_eq!(states.get("linger.ms"), Some("100"));
        assert_eq!(states.get("enable.idempotence"), Some("false"));
        assert_eq!(producer_settings().get("enable.idempotence"), Some("true"));
        assert_eq!(
            consumer_settings("g").get("statistics.interval.ms"),
            Some("5000")
        );
    }
}
