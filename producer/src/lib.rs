//! # aegis-producer
//!
//! Publishes transactions to Kafka — PaySim rows replayed in step order, or simulated PaySim-like
//! traffic with the account-takeover scenario on demand — at a steady rate.
//!
//! Guarantees: the key is the origin account, so one account's transactions stay in order on one
//! partition; the producer is idempotent with `acks=all`; a full local queue means waiting, never
//! dropping; every delivery failure is counted and reported in the summary (and the binary then
//! exits non-zero). Values are Avro (`schemas/transaction.avsc`): single-object encoded, or in the
//! Confluent wire format with `--schema-registry-url`.

pub mod config;
pub mod pace;
pub mod publish;
pub mod replay;
pub mod simulate;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::registry::SchemaRegistry;
use aegis_core::Transaction;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

pub use config::{ProducerConfig, Scenario};
use pace::Pacer;
pub use publish::Counters;
use publish::Publisher;
use simulate::{SimulationParams, Simulator};

/// How long the final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Transactions handed to Kafka.
    pub sent: u64,
    /// Transactions the broker acknowledged.
    pub delivered: u64,
    /// Transactions that failed for good.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Summary {
    /// Transactions sent per second.
    pub fn achieved_rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}, delivered {}, failed {}, {:.1} tx/s over {:.1} s",
            self.sent,
            self.delivered,
            self.failed,
            self.achieved_rate(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Runs until the source ends, `--count` or `--duration` is reached, or `cancel` fires; then
/// flushes and returns what was done. Blocking: call it from a thread of its own.
pub fn run(
    config: &ProducerConfig,
    counters: Arc<Counters>,
    cancel: &CancellationToken,
) -> Result<Summary> {
    config.check()?;
    let source: Box<dyn Iterator<Item = Transaction>> = match &config.replay {
        Some(path) => {
            // The file once, unless --count asks for more.
            let rows = replay::load(path)?;
            let limit = config.count.map_or(rows.len() as u64, |n| n);
            Box::new(replay::endless(rows).take(usize::try_from(limit).unwrap_or(usize::MAX)))
        }
        None => Box::new(Simulator::new(SimulationParams {
            seed: config.seed,
            fraud_rate: config.fraud_rate,
            takeover_every: config
                .scenario
                .map(|Scenario::AccountTakeover| config.takeover_every),
        })),
    };
    let codec = AvroCodec::transaction();
    let framing = match &config.schema_registry_url {
        Some(url) => {
            let framing = SchemaRegistry::new(url)?.framing_for(&config.topic, codec)?;
            tracing::info!(registry = %url, ?framing, "transaction schema registered");
            framing
        }
        None => Framing::SingleObject,
    };
    let publisher = Publisher::new(
        &config.brokers,
        &config.topic,
        &config.properties,
        counters.clone(),
    )?;
    tracing::info!(topic = %config.topic, properties = %aegis_core::kafka::describe(&config.properties), "producer started");

    let bar = progress_bar(config.count);
    let pacer = Pacer::new(config.rate);
    let deadline = config.duration.map(Duration::from_secs_f64);
    let mut buf = Vec::with_capacity(256);
    let mut sent = 0u64;
    for mut tx in source {
        if cancel.is_cancelled()
            || config.count.is_some_and(|n| sent >= n)
            || deadline.is_some_and(|d| pacer.elapsed() >= d)
        {
            break;
        }
        pacer.wait(sent);
        tx.event_time = now_ms();
        if config.simulate {
            tx.step = 1 + i32::try_from(pacer.elapsed().as_secs() / 3600).unwrap_or(i32::MAX - 1);
        }
        buf.clear();
        codec.encode_into(&tx, framing, &mut buf)?;
        publisher.send(&tx.name_orig, &buf)?;
        sent += 1;
        if sent % 1024 == 0 {
            bar.set_position(sent);
            counters
                .rate
                .set(sent as f64 / pacer.elapsed().as_secs_f64().max(1e-9));
        }
    }
    bar.finish_and_clear();
    let flushed = publisher.flush(FLUSH_TIMEOUT);
    let summary = Summary {
        sent,
        delivered: counters.delivered.get(),
        failed: counters.failed.get(),
        elapsed: pacer.elapsed(),
    };
    counters.rate.set(summary.achieved_rate());
    flushed.map(|()| summary)
}

fn progress_bar(count: Option<u64>) -> ProgressBar {
    let bar = match count {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} sent {pos} [{bar:30}] {per_sec} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
