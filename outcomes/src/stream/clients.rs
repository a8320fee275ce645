//! The service's Kafka clients, their settings, the Schema Registry set-up and decoders, the
//! start-up co-partitioning check.

use std::sync::Arc;
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Label, Verdict};
use aegis_kafka::registry::{DecodeError, RegistryDecoder, SchemaRegistry};
use aegis_kafka::Settings;
use anyhow::{bail, Context, Result};

use super::OutcomesConsumer;
use crate::config::OutcomesConfig;
use crate::join::{Held, Side};

/// The consumer: a group member that stores offsets once an outcome is acknowledged (see
/// [`Settings::group_consumer`]; cooperative-sticky, see [`crate::assignment`]).
pub fn consumer_settings(group_id: &str) -> Settings {
    Settings::group_consumer(group_id)
}

/// The producer of outcomes: reliable, lz4-compressed, batches lingering 5 ms.
pub fn producer_settings() -> Settings {
    Settings::reliable_producer()
        .set("compression.type", "lz4")
        .set("linger.ms", 5)
}

/// Verdict and label decoders: the embedded schemas, or the registry's writer schemas.
#[derive(Clone)]
pub struct Decoders {
    registry: Option<(RegistryDecoder<Verdict>, RegistryDecoder<Label>)>,
}

impl Decoders {
    /// Decodes a verdict (live or shadow); a registry lookup blocks (once per schema id).
    pub fn decode_verdict(&self, bytes: &[u8]) -> Result<Verdict, DecodeError> {
        match &self.registry {
            None => Ok(AvroCodec::verdict().decode(bytes)?.0),
            Some((verdicts, _)) => tokio::task::block_in_place(|| Ok(verdicts.decode(bytes)?.0)),
        }
    }

    pub(super) fn decode(&self, side: Side, bytes: &[u8]) -> Result<Held, DecodeError> {
        match (&self.registry, side) {
            (None, Side::Verdict | Side::ShadowVerdict) => {
                Ok(Held::Verdict(AvroCodec::verdict().decode(bytes)?.0))
            }
            (None, Side::Label) => Ok(Held::Label(AvroCodec::label().decode(bytes)?.0)),
            // A registry lookup is blocking HTTP (once per schema id).
            (Some((verdicts, _)), Side::Verdict | Side::ShadowVerdict) => {
                tokio::task::block_in_place(|| Ok(Held::Verdict(verdicts.decode(bytes)?.0)))
            }
            (Some((_, labels)), Side::Label) => {
                tokio::task::block_in_place(|| Ok(Held::Label(labels.decode(bytes)?.0)))
            }
        }
    }
}

/// Labels and shadow verdicts must have as many partitions as verdicts: all are keyed by account,
/// so one account's verdicts, shadow verdicts and labels then meet on the same partition number.
/// Checks that labels (and shadow verdicts) have as many partitions as verdicts; returns that
/// count.
pub(super) fn check_co_partitioned(
    consumer: &OutcomesConsumer,
    config: &OutcomesConfig,
) -> Result<i32> {
    let count = |topic: &str| -> Result<usize> {
        let partitions = aegis_kafka::topic_partitions(consumer, topic, Duration::from_secs(10))
            .with_context(|| format!("cannot read the metadata of {topic}"))?;
        Ok(partitions.map_or(0, |p| p.len()))
    };
    let verdicts = count(&config.verdicts_topic)?;
    let mut followers = vec![("--labels-topic", config.labels_topic.as_str(), "labels")];
    if let Some(shadow) = config.shadow_verdicts() {
        followers.push(("--shadow-verdicts-topic", shadow, "shadow verdicts"));
    }
    for (flag, topic, what) in followers {
        let n = count(topic)?;
        if n != verdicts {
            bail!(
                "{flag} {topic} has {n} partitions but --verdicts-topic {} has {verdicts}: \
                 {what} must be co-partitioned with verdicts (same key, same partition count)",
                config.verdicts_topic
            );
        }
    }
    Ok(i32::try_from(verdicts).unwrap_or(i32::MAX))
}

/// With `--schema-registry-url`: registers the outcome schema under `<outcomes>-value`, writes
/// the Confluent wire format, and reads inputs written with any registered schema.
pub(super) fn registry(config: &OutcomesConfig) -> Result<(Framing, Decoders)> {
    let Some(url) = &config.schema_registry_url else {
        return Ok((Framing::SingleObject, Decoders { registry: None }));
    };
    let client = Arc::new(SchemaRegistry::new(url)?);
    let framing = client.framing_for(&config.outcomes_topic, AvroCodec::outcome())?;
    tracing::info!(registry = %url, ?framing, "outcome schema registered");
    let decoders = Decoders {
        registry: Some((
            RegistryDecoder::new(AvroCodec::verdict(), client.clone()),
            RegistryDecoder::new(AvroCodec::label(), client),
        )),
    };
    Ok((framing, decoders))
}

/// Warns when the verdicts topic keeps its messages for less than `--label-horizon`: a label
/// later than its retention cannot meet its verdict (docs/outcomes.md, late labels). Best effort:
/// a broker that does not say is logged at debug.
pub(super) async fn warn_if_retention_short(config: &OutcomesConfig) {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    if config.label_horizon == 0 {
        return;
    }
    let admin: AdminClient<DefaultClientContext> = match Settings::default()
        .client_config(&config.brokers, &config.kafka.properties())
        .create()
    {
        Ok(admin) => admin,
        Err(e) => {
            tracing::debug!(error = %e, "cannot create an admin client to read the verdicts' retention");
            return;
        }
    };
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let topic = config.verdicts_topic.as_str();
    let retention_ms = match admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
        .await
    {
        Ok(results) => results
            .into_iter()
            .flatten()
            .flat_map(|resource| resource.entries)
            .find(|entry| entry.name == "retention.ms")
            .and_then(|entry| entry.value)
            .and_then(|value| value.parse::<i64>().ok()),
        Err(e) => {
            tracing::debug!(topic, error = %e, "cannot read the verdicts' retention");
            None
        }
    };
    let horizon_ms = i64::try_from(config.label_horizon.saturating_mul(1000)).unwrap_or(i64::MAX);
    match retention_ms {
        Some(retention) if retention >= 0 && retention < horizon_ms => tracing::warn!(
            topic, retention_ms = retention, label_horizon_ms = horizon_ms,
            "the verdicts topic keeps verdicts for less than --label-horizon: labels later than its retention.ms will not meet their verdicts (counted not_found). Raise the topic's retention.ms or lower --label-horizon (docs/outcomes.md, late labels)"
        ),
        Some(retention) => tracing::debug!(topic, retention_ms = retention, "verdicts retention covers --label-horizon"),
        None => tracing::debug!(topic, "the broker did not say the verdicts' retention.ms"),
    }
}
