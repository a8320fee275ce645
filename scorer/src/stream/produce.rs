//! Writing a batch's outputs: verdicts (key = account) to the verdicts topic, dead letters (the
//! original key and bytes, the reason in headers) to the dead-letter topic, shadow verdicts to the
//! shadow topic, all through one producer; and account states through the changelog's own
//! producer (lingering longer, [`super::clients`]). Each send waits while librdkafka's queue is
//! full and returns the delivery to await; none of them awaits it.

use std::time::Duration;

use aegis_kafka::produce;
use anyhow::{anyhow, Result};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::intake::Received;
use super::process::{Output, Shadowed};
use super::state::ChangelogRecord;
use crate::config::ScorerConfig;

/// How long to wait before trying again while the producer's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);

/// The replica's producers and the topics they write.
pub struct Outputs {
    /// Verdicts, dead letters and shadow verdicts.
    producer: FutureProducer,
    /// Account states, when they are kept in a changelog.
    states: Option<FutureProducer>,
    verdicts_topic: String,
    dlq_topic: String,
    shadow_topic: String,
    changelog_topic: String,
}

impl Outputs {
    /// Writes to `config`'s topics with `producer`, and to its changelog with `states`.
    pub fn new(
        config: &ScorerConfig,
        producer: FutureProducer,
        states: Option<FutureProducer>,
    ) -> Outputs {
        Outputs {
            producer,
            states,
            verdicts_topic: config.output_topic.clone(),
            dlq_topic: config.dlq_topic.clone(),
            shadow_topic: config.shadow_topic.clone(),
            changelog_topic: config.state_changelog_topic.clone(),
        }
    }

    /// Whether account states are written to a changelog.
    pub fn keeps_changelog(&self) -> bool {
        self.states.is_some()
    }

    /// Both producers, for the final flush.
    pub fn producers(&self) -> Vec<FutureProducer> {
        std::iter::once(self.producer.clone())
            .chain(self.states.clone())
            .collect()
    }

    /// Enqueues `message`'s output.
    pub async fn send(&self, message: &Received, output: &Output) -> Result<DeliveryFuture> {
        let record = match output {
            Output::Verdict { verdict, value, .. } => FutureRecord::to(&self.verdicts_topic)
                .key(verdict.account.as_bytes())
                .payload(value.as_slice()),
            Output::DeadLetter(letter) => {
                let mut record =
                    FutureRecord::to(&self.dlq_topic).headers(produce::dead_letter_headers(letter));
                if let Some(key) = &message.key {
                    record = record.key(key.as_slice());
                }
                if let Some(payload) = &message.payload {
                    record = record.payload(payload.as_slice());
                }
                record
            }
        };
        enqueue(&self.producer, record)
            .await
            .map_err(|e| anyhow!("cannot enqueue output of offset {}: {e}", message.offset))
    }

    /// Enqueues the shadow model's verdict.
    pub async fn send_shadow(&self, shadow: &Shadowed) -> Result<DeliveryFuture> {
        let record = FutureRecord::to(&self.shadow_topic)
            .key(shadow.verdict.account.as_bytes())
            .payload(shadow.value.as_slice());
        enqueue(&self.producer, record)
            .await
            .map_err(|e| anyhow!("cannot enqueue a shadow verdict: {e}"))
    }

    /// Enqueues an account's state (or its tombstone) to its partition of the changelog.
    pub async fn send_state(&self, record: &ChangelogRecord) -> Result<DeliveryFuture> {
        let producer = self
            .states
            .as_ref()
            .ok_or_else(|| anyhow!("no changelog to write account states to"))?;
        let value = record.value()?;
        let mut kafka_record = FutureRecord::to(&self.changelog_topic)
            .partition(record.partition)
            .key(record.key());
        if let Some(value) = &value {
            kafka_record = kafka_record.payload(value.as_slice());
        }
        enqueue(producer, kafka_record)
            .await
            .map_err(|e| anyhow!("cannot enqueue a state record: {e}"))
    }
}

/// Enqueues one record, waiting while the producer's queue is full.
#[allow(clippy::result_large_err)] // rdkafka's send_result hands the record back in its Err
pub(crate) async fn enqueue(
    producer: &FutureProducer,
    record: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture, rdkafka::error::KafkaError> {
    produce::enqueue_async(
        record,
        |record| producer.send_result(record),
        QUEUE_FULL_BACKOFF,
    )
    .await
}
