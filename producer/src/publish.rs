//! Publishing: an idempotent producer (`acks=all`, lz4) whose delivery reports are counted. A full
//! local queue means wait and retry the same record, never drop; failed deliveries are counted,
//! logged (at most one line a second) and reported.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use aegis_core::kafka::{self, Property};
use anyhow::{Context, Result};
use prometheus::{IntCounter, Registry};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

/// What the producer has done; also its Prometheus metrics.
pub struct Counters {
    /// Records handed to librdkafka.
    pub sent: IntCounter,
    /// Records the broker acknowledged.
    pub delivered: IntCounter,
    /// Records that failed for good.
    pub failed: IntCounter,
    /// Achieved rate over the whole run, tx/s.
    pub rate: prometheus::Gauge,
    last_error_log: AtomicU64,
    /// The registry `/metrics` serves.
    pub registry: Registry,
}

impl Counters {
    #[allow(clippy::expect_used)] // fixed, valid metric names
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let sent = counter(
            "aegis_producer_sent_total",
            "Transactions handed to the Kafka client.",
        );
        let delivered = counter(
            "aegis_producer_delivered_total",
            "Transactions the broker acknowledged.",
        );
        let failed = counter(
            "aegis_producer_failed_total",
            "Transactions that could not be delivered.",
        );
        let rate = prometheus::Gauge::new(
            "aegis_producer_rate",
            "Achieved send rate since start, transactions per second.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(rate.clone()))
            .expect("unique metric");
        Arc::new(Counters {
            sent,
            delivered,
            failed,
            rate,
            last_error_log: AtomicU64::new(0),
            registry,
        })
    }
}

/// Counts delivery reports.
pub struct DeliveryCounter(pub Arc<Counters>);

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.inc(),
            Err((e, _)) => {
                self.0.failed.inc();
                // At most one log line a second.
                let second = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if self.0.last_error_log.swap(second, Relaxed) != second {
                    tracing::warn!(error = %e, failed = self.0.failed.get(), "delivery failed");
                }
            }
        }
    }
}

/// The Kafka side of the producer.
pub struct Publisher {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
    counters: Arc<Counters>,
}

impl Publisher {
    /// Connects (lazily: librdkafka connects in the background) with Aegis's producer defaults,
    /// overridable by `-X`.
    pub fn new(
        brokers: &str,
        topic: &str,
        properties: &[Property],
        counters: Arc<Counters>,
    ) -> Result<Self> {
        let producer = kafka::client_config(
            brokers,
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("compression.type", "lz4"),
                ("linger.ms", "5"),
                ("queue.buffering.max.messages", "200000"),
            ],
            properties,
        )
        .create_with_context(DeliveryCounter(counters.clone()))
        .context("cannot create the Kafka producer (check --brokers and -X properties)")?;
        Ok(Publisher {
            producer,
            topic: topic.to_owned(),
            counters,
        })
    }

    /// Enqueues one record; waits while the local queue is full.
    pub fn send(&self, key: &str, payload: &[u8]) -> Result<()> {
        let mut record = BaseRecord::to(&self.topic).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.counters.sent.inc();
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(anyhow::anyhow!("cannot enqueue a transaction: {e}")),
            }
        }
    }

    /// Waits (at most `timeout`) for every enqueued record to be delivered or failed.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(timeout)
            .with_context(|| format!("not every transaction was delivered within {timeout:?}"))
    }
}
