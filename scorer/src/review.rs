//! Analyst labels: a REVIEW verdict of the review queue ([`crate::live::review`]) marked fraud or
//! legit becomes a [`Label`] on the labels topic (`--labels-topic`, with the topic prefix) with
//! `source = "analyst"`, the transaction's event time, and the verdict's key — the origin account
//! on PaySim, the spec's key otherwise — so that it lands on the partition of its verdict, where
//! `aegis-outcomes` joins the two (the reliable producer puts keys where Java's murmur2 does).
//! A label is answered for only once the broker has acknowledged it, within [`LABEL_TIMEOUT`].

use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Label, Verdict};
use aegis_kafka::produce::delivered;
use aegis_kafka::registry::SchemaRegistry;
use anyhow::{Context, Result};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::ScorerConfig;
use crate::stream::clients::producer_settings;
use crate::stream::produce::enqueue;

/// The `source` of an analyst's label.
pub const ANALYST: &str = "analyst";
/// Longest wait for the broker to acknowledge a label (librdkafka's `message.timeout.ms` too):
/// past it the analyst is told to retry, and the verdict stays in the queue.
pub const LABEL_TIMEOUT: Duration = Duration::from_secs(10);

/// The labels topic's writer.
pub struct Labeller {
    producer: FutureProducer,
    /// The topic, prefixed.
    topic: String,
    /// Confluent wire format with `--schema-registry-url`, else single-object encoding.
    framing: Framing,
}

/// Where a label was written.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    /// The labels partition (its key's).
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// Why a label was not written; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The label could not be encoded (a bug).
    #[error("cannot encode the label: {0}")]
    Encode(String),
    /// The broker did not take it in time.
    #[error("the labels topic {topic} did not acknowledge the label: {reason}; retry")]
    NotAcknowledged {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}

impl Labeller {
    /// The writer of `--labels-topic`, or `None` when it is turned off (`--labels-topic ""`).
    /// With `--schema-registry-url`, registers the label schema under `<labels>-value`.
    pub fn connect(config: &ScorerConfig) -> Result<Option<Labeller>> {
        let topic = config.entities.labels_topic.clone();
        if topic.is_empty() {
            return Ok(None);
        }
        let framing = match &config.schema_registry_url {
            Some(url) => SchemaRegistry::new(url)?
                .framing_for(&topic, AvroCodec::label())
                .with_context(|| format!("--labels-topic {topic}: cannot register its schema"))?,
            None => Framing::SingleObject,
        };
        let producer = producer_settings()
            .set("message.timeout.ms", LABEL_TIMEOUT.as_millis())
            .client_config(&config.brokers, &config.kafka.properties())
            .create()
            .context(
                "cannot create the labels producer (check --brokers and the -X / --kafka-config properties)",
            )?;
        Ok(Some(Labeller {
            producer,
            topic,
            framing,
        }))
    }

    /// The topic labels go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `label` under `key` and waits for the broker's acknowledgement.
    pub async fn write(&self, label: &Label, key: &str) -> Result<Written, LabelError> {
        let value = AvroCodec::label()
            .encode(label, self.framing)
            .map_err(|e| LabelError::Encode(e.to_string()))?;
        let not_acknowledged = |reason: String| LabelError::NotAcknowledged {
            topic: self.topic.clone(),
            reason,
        };
        let record = FutureRecord::to(&self.topic)
            .key(key.as_bytes())
            .payload(value.as_slice());
        let sent = async {
            let delivery = enqueue(&self.producer, record)
                .await
                .map_err(|e| e.to_string())?;
            delivered(delivery).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(LABEL_TIMEOUT, sent).await {
            Ok(Ok((partition, offset))) => Ok(Written { partition, offset }),
            Ok(Err(reason)) => Err(not_acknowledged(reason)),
            Err(_) => Err(not_acknowledged(format!(
                "no acknowledgement within {} s",
                LABEL_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// An analyst's label of `verdict`'s transaction, known at `now_ms`.
pub fn analyst_label(verdict: &Verdict, is_fraud: bool, now_ms: i64) -> Label {
    Label {
        tx_id: verdict.tx_id.clone(),
        is_fraud,
        labelled_at: now_ms,
        source: Some(ANALYST.to_owned()),
        event_time: Some(verdict.event_time),
    }
}
