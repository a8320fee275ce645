//! Publishing: an idempotent producer (`acks=all`, lz4) whose delivery reports are counted —
//! transactions and labels apart. A full
//! local queue means wait and retry the same record, never drop; failed deliveries are counted,
//! logged (at most one line a second) and reported.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aegis_kafka::{self as kafka, produce, ClusterCheck, Property};
use anyhow::{bail, Context, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::{ClientContext, Message};
use tokio_util::sync::CancellationToken;

use crate::metrics::Counters;

/// Aegis's producer settings: reliable ([`kafka::Settings::reliable_producer`]), lz4-compressed,
/// with the tuning below; any of them can be overridden with `-X key=value`.
pub fn settings() -> kafka::Settings {
    kafka::Settings::reliable_producer()
        .set("compression.type", "lz4")
        // Idempotent, librdkafka busy-loops while a partition has its five requests in flight and
        // its next batch is ready (bench/repro/idempotent-spin.sh): with 5 ms that took 0.67 of a
        // core at 4,000 tx/s on the local broker; 20 ms lets batches fill instead
        // (docs/benchmarks.md).
        .set("linger.ms", 20)
        // A few seconds of traffic at 50k/s: beyond that, sends wait for the broker.
        .set("queue.buffering.max.messages", 200_000)
}

/// How long to wait between two tries of a record the full local queue refused.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);
/// After this long on a full queue, say so (and again every as long).
const QUEUE_FULL_WARNING: Duration = Duration::from_secs(10);
/// How long purged records may take to report back after a flush timed out.
const PURGE_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// What librdkafka reports back: delivery reports (counted, failures logged at most once a
/// second) and its own logs and errors. The producer exists only once [`Publisher::connect`]'s
/// cluster check has passed, so an unreachable broker at start is that check's one error line.
pub struct Reports {
    counters: Arc<Counters>,
    /// The labels topic, whose deliveries count as labels.
    labels_topic: Option<String>,
}

impl Reports {
    fn is_label(&self, message: &impl Message) -> bool {
        self.labels_topic.as_deref() == Some(message.topic())
    }
}

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "{facility} {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "{facility} {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{facility} {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{facility} {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counters = &self.counters;
        match result {
            Ok(m) if self.is_label(m) => counters.labels_delivered.inc(),
            Ok(_) => counters.delivered.inc(),
            Err((e, m)) => {
                if self.is_label(m) {
                    counters.labels_failed.inc();
                } else {
                    counters.failed.inc();
                }
                let second = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if counters.last_error_log.swap(second, Relaxed) != second {
                    tracing::warn!(error = %e, failed = counters.failed.get(), "delivery failed");
                }
            }
        }
    }
}

/// What [`Publisher::send`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Enqueued: it will be delivered or counted as failed.
    Enqueued,
    /// Not enqueued: the stop request came while waiting for room in the queue.
    Stopped,
}

/// The Kafka side of the producer.
pub struct Publisher {
    producer: ThreadedProducer<Reports>,
    topic: String,
    labels_topic: Option<String>,
    counters: Arc<Counters>,
}

impl Publisher {
    /// Checks, waiting up to `timeout` (`--connect-timeout`) as the scorer does, that the brokers
    /// answer and know `topic` — an unreachable broker or a missing topic is one clear error at
    /// the start, not a queue of messages that time out minutes later — then creates the producer
    /// ([`settings`], then `-X` properties). With `labels_topic` (`--label-delay`), that topic
    /// must exist too. `Ok(None)`: `cancel` fired while waiting.
    pub fn connect(
        brokers: &str,
        topic: &str,
        labels_topic: Option<&str>,
        properties: &[Property],
        counters: Arc<Counters>,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Option<Self>> {
        let check = ClusterCheck::new(brokers, properties)?;
        let mut topics = vec![(topic, "--transactions-topic")];
        topics.extend(labels_topic.map(|t| (t, "--labels-topic")));
        if !check.wait_for_topics(&topics, timeout, cancel)? {
            return Ok(None);
        }
        let producer: ThreadedProducer<Reports> =
            settings()
                .client_config(brokers, properties)
                .create_with_context(Reports {
                    counters: counters.clone(),
                    labels_topic: labels_topic.map(str::to_owned),
                })
                .context("cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)")?;
        Ok(Some(Publisher {
            producer,
            topic: topic.to_owned(),
            labels_topic: labels_topic.map(str::to_owned),
            counters,
        }))
    }

    /// Enqueues one record. While the local queue is full it waits and retries the same record
    /// (never drops it), until there is room or `cancel` fires.
    pub fn send(&self, key: &str, payload: &[u8], cancel: &CancellationToken) -> Result<Sent> {
        let sent = self.send_to(&self.topic, key, payload, cancel)?;
        if sent == Sent::Enqueued {
            self.counters.sent.inc();
        }
        Ok(sent)
    }

    /// Enqueues one label on the labels topic, as [`send`](Self::send) does a transaction.
    ///
    /// # Errors
    /// Also when the publisher was connected without a labels topic.
    pub fn send_label(
        &self,
        key: &str,
        payload: &[u8],
        cancel: &CancellationToken,
    ) -> Result<Sent> {
        let topic = self
            .labels_topic
            .as_deref()
            .context("no labels topic: connect with --label-delay")?;
        let sent = self.send_to(topic, key, payload, cancel)?;
        if sent == Sent::Enqueued {
            self.counters.labels_sent.inc();
        }
        Ok(sent)
    }

    #[allow(clippy::result_large_err)] // rdkafka's send hands the record back in its Err
    fn send_to(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        cancel: &CancellationToken,
    ) -> Result<Sent> {
        let record = BaseRecord::to(topic).key(key).payload(payload);
        let mut full_since: Option<Instant> = None;
        let wait = || {
            if cancel.is_cancelled() {
                return ControlFlow::Break(());
            }
            let since = *full_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= QUEUE_FULL_WARNING {
                tracing::warn!(
                    waited = ?since.elapsed(),
                    "the local queue is still full: the broker is not acknowledging; waiting"
                );
                full_since = Some(Instant::now());
            }
            std::thread::sleep(QUEUE_FULL_BACKOFF);
            ControlFlow::Continue(())
        };
        match produce::enqueue(record, |r| self.producer.send(r), wait) {
            Ok(Some(())) => Ok(Sent::Enqueued),
            Ok(None) => Ok(Sent::Stopped),
            Err(e) => bail!("cannot enqueue a record for {topic:?}: {e}"),
        }
    }

    /// Waits at most `timeout` for every enqueued record to be delivered or to fail. Records still
    /// unacknowledged then are purged and so counted as failed: when this returns, every record
    /// sent has been counted exactly once, as delivered or as failed.
    pub fn finish(self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::error!(
                error = %e,
                pending = self.producer.in_flight_count(),
                "not every transaction was acknowledged within {timeout:?}; counting the rest as failed"
            );
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            // The purged records report (as failed) through the delivery callback.
            let _ = self.producer.flush(PURGE_REPORT_TIMEOUT);
        }
    }
}
