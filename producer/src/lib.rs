//! # aegis-producer
//!
//! Publishes transactions to Kafka — PaySim rows replayed in step order, or simulated PaySim-like
//! traffic with the account-takeover scenario on demand — at a steady rate.
//!
//! Guarantees: the key is the origin account, so one account's transactions stay in order on one
//! partition; the producer is idempotent with `acks=all`; a full local queue means waiting, never
//! dropping; every transaction sent is counted once, as delivered or as failed (the final flush is
//! bounded: what is still unacknowledged then counts as failed), and the binary exits non-zero if
//! any failed. Values are Avro (`schemas/transaction.avsc`): single-object encoded, or in the
//! Confluent wire format with `--schema-registry-url`. `event_time` is the moment of publishing,
//! so downstream latency is real.
//!
//! With `--label-delay` it also publishes the label of every labelled transaction (a replayed
//! row's `isFraud`, the simulator's fraud flag) to the labels topic after that delay, keyed by
//! origin account like its transaction (`schemas/label.avsc`), withholding a share
//! (`--label-share`); see [`labels`] for the order, and for what a stop does to labels still
//! waiting (published at once, before the final flush).
//!
//! With `--simulate --out FILE.csv`, [`write_file`] writes the simulated traffic as a PaySim CSV
//! file instead (hourly steps, labels filled), without a broker.
//!
//! [`run`] does the work; the binary adds flags, logging, signals and `/metrics` around it.

pub mod config;
pub mod labels;
pub mod metrics;
pub mod pace;
pub mod progress;
pub mod publish;
pub mod replay;
pub mod simulate;

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Label, Transaction};
use aegis_kafka::registry::SchemaRegistry;
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

pub use config::{ProducerConfig, Scenario};
use labels::{Labelled, PendingLabels};
pub use metrics::Counters;
use pace::Pacer;
use progress::Progress;
use publish::{Publisher, Sent};
use simulate::out::{write_csv, StepPlan, Written};
use simulate::{SimulationParams, Simulator};

/// How long the final flush may take; what is unacknowledged then counts as failed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Steps `--out` writes when neither `--count` nor `--steps` says: one day.
const DEFAULT_OUT_STEPS: u32 = 24;

/// What a run did (all zero when it was stopped before it could connect).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Transactions handed to Kafka.
    pub sent: u64,
    /// Transactions the broker acknowledged.
    pub delivered: u64,
    /// Transactions sent but not acknowledged: failed, or still unacknowledged when the flush
    /// timed out. `delivered + failed == sent`.
    pub failed: u64,
    /// How long sending took: from the start until the end of the last transaction's slot in the
    /// schedule (or the last send, if later), so that `sent / elapsed` is the achieved rate.
    pub elapsed: Duration,
    /// How long the final flush then waited for acknowledgements.
    pub flush: Duration,
    /// Labels handed to Kafka (`--label-delay`).
    pub labels_sent: u64,
    /// Labels sent but not acknowledged.
    pub labels_failed: u64,
    /// Labels withheld by `--label-share`.
    pub labels_withheld: u64,
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
            "sent {}, delivered {}, failed {}, {:.1} tx/s over {:.1} s (+{:.2} s flush)",
            self.sent,
            self.delivered,
            self.failed,
            self.achieved_rate(),
            self.elapsed.as_secs_f64(),
            self.flush.as_secs_f64(),
        )?;
        if self.labels_sent + self.labels_withheld > 0 {
            write!(
                f,
                "; labels sent {}, failed {}, withheld {}",
                self.labels_sent, self.labels_failed, self.labels_withheld
            )?;
        }
        Ok(())
    }
}

/// Runs until the source ends, `--count` or `--duration` is reached, or `cancel` fires; then
/// flushes (at most 30 s) and returns what was done. `counters` are updated as it goes (serve
/// their registry for Prometheus). Blocking: call it from a thread of its own.
///
/// Errors before the first send (bad flags or CSV, unreachable broker, missing topic, registry)
/// and during it (a record the client refuses) are returned; in the latter case what was sent is
/// flushed first and the error says how far it got.
pub fn run(
    config: &ProducerConfig,
    counters: Arc<Counters>,
    cancel: &CancellationToken,
) -> Result<Summary> {
    config.check()?;
    let brokers = config.brokers.as_deref().context(
        "--brokers is needed to publish (or write a file instead with --simulate --out FILE.csv)",
    )?;
    let (source, total) = open_source(config)?;
    let codec = AvroCodec::transaction();
    let framing = match &config.schema_registry_url {
        Some(url) => {
            let framing = SchemaRegistry::new(url)?.framing_for(&config.topic, codec)?;
            tracing::info!(registry = %url, ?framing, "transaction schema registered");
            framing
        }
        None => Framing::SingleObject,
    };
    let plan = config.label_plan();
    let label_framing = match (&config.schema_registry_url, plan) {
        (Some(url), Some(_)) => {
            SchemaRegistry::new(url)?.framing_for(&config.labels_topic, AvroCodec::label())?
        }
        _ => Framing::SingleObject,
    };
    let labels_topic = plan.map(|_| config.labels_topic.as_str());
    let Some(publisher) = Publisher::connect(
        brokers,
        &config.topic,
        labels_topic,
        &config.kafka.properties(),
        counters.clone(),
        Duration::from_secs(config.connect_timeout),
        cancel,
    )?
    else {
        return Ok(Summary::default());
    };
    tracing::info!(
        topic = %config.topic,
        properties = %aegis_kafka::describe(&config.kafka.properties()),
        "producer started"
    );
    let delivered_before = counters.delivered.get();
    let labels_before = (
        counters.labels_sent.get(),
        counters.labels_delivered.get(),
        counters.labels_withheld.get(),
    );
    let mut pending = PendingLabels::default();
    let mut label_buf = Vec::with_capacity(128);
    let source_name = if config.simulate {
        "simulation"
    } else {
        "replay"
    };
    // Publishes the label `pending` gives, stamped now; `Ok(false)`: stopped while waiting.
    let mut publish_label = |label: labels::PendingLabel| -> Result<bool> {
        let value = Label {
            tx_id: label.tx_id,
            is_fraud: label.is_fraud,
            labelled_at: aegis_core::clock::now_ms(),
            source: Some(source_name.to_owned()),
        };
        label_buf.clear();
        AvroCodec::label()
            .encode_into(&value, label_framing, &mut label_buf)
            .with_context(|| format!("cannot encode the label of {}", value.tx_id))?;
        Ok(publisher.send_label(&label.account, &label_buf, cancel)? == Sent::Enqueued)
    };
    let mut progress = Progress::new(config.progress, total, counters.clone());
    let pacer = Pacer::new(config.rate, config.duration.map(Duration::from_secs_f64));

    let mut sent = 0u64;
    let mut buf = Vec::with_capacity(256);
    let pump = || -> Result<()> {
        for mut tx in source {
            if !pacer.wait(sent, cancel) {
                break;
            }
            while let Some(label) = pending.pop_due(Instant::now()) {
                if !publish_label(label)? {
                    return Ok(());
                }
            }
            tx.event_time = aegis_core::clock::now_ms();
            if config.simulate {
                // Simulated hours since the start, as PaySim counts steps.
                let hours = pacer.elapsed().as_secs() / 3600;
                tx.step = i32::try_from(hours + 1).unwrap_or(i32::MAX);
            }
            buf.clear();
            codec
                .encode_into(&tx, framing, &mut buf)
                .with_context(|| format!("cannot encode transaction {}", tx.tx_id))?;
            if publisher.send(&tx.name_orig, &buf, cancel)? == Sent::Stopped {
                break;
            }
            sent += 1;
            if let Some(plan) = &plan {
                if pending.push(plan, &tx, Instant::now()) == Labelled::Withheld {
                    counters.labels_withheld.inc();
                }
            }
            progress.update(sent, pacer.elapsed());
        }
        Ok(())
    };
    let pumped = pump();
    let elapsed = pacer.window(sent);
    progress.finish();
    // The labels still waiting: as they come due, or all at once on a stop request.
    let labelled = (|| -> Result<()> {
        if !pending.is_empty() {
            tracing::info!(
                waiting = pending.len(),
                "publishing the labels still waiting for their delay"
            );
        }
        while let Some(due) = pending.next_due() {
            let now = Instant::now();
            if cancel.is_cancelled() || due <= now {
                let label = pending.pop().context("a label is waiting")?;
                // A stop request does not stop these: they are published early, not lost
                // (unless the local queue is full and stays so).
                if !publish_label(label)? {
                    tracing::warn!(
                        lost = pending.len() + 1,
                        "stopped with the local queue full: labels still waiting are not published"
                    );
                    break;
                }
            } else {
                std::thread::sleep((due - now).min(labels::MAX_SLEEP));
            }
        }
        Ok(())
    })();

    let flushing = Instant::now();
    publisher.finish(FLUSH_TIMEOUT);
    let delivered = counters.delivered.get() - delivered_before;
    let summary = Summary {
        sent,
        delivered,
        failed: sent.saturating_sub(delivered),
        elapsed,
        flush: flushing.elapsed(),
        labels_sent: counters.labels_sent.get() - labels_before.0,
        labels_failed: (counters.labels_sent.get() - labels_before.0)
            .saturating_sub(counters.labels_delivered.get() - labels_before.1),
        labels_withheld: counters.labels_withheld.get() - labels_before.2,
    };
    counters.rate.set(summary.achieved_rate());
    pumped
        .and(labelled)
        .with_context(|| format!("stopped early ({summary})"))?;
    Ok(summary)
}

/// `--simulate --out FILE.csv`: writes `--count` simulated transactions (or `--steps` steps' worth
/// at PaySim's volume; one day without either) as a PaySim CSV file, in hourly steps. No broker.
pub fn write_file(config: &ProducerConfig) -> Result<Written> {
    config.check()?;
    let path = config
        .out
        .as_deref()
        .context("--out FILE.csv says where to write")?;
    let profile = &simulate::PAYSIM.steps;
    let steps = config.steps.unwrap_or_else(|| {
        config
            .count
            .map_or(DEFAULT_OUT_STEPS, |n| StepPlan::steps_for(n, profile))
    });
    let count = config
        .count
        .unwrap_or_else(|| StepPlan::rows_for(steps, profile));
    let plan = StepPlan::new(count, steps, config.fraud_rate, profile);
    let cannot = || format!("cannot write {} (pass another --out)", path.display());
    let mut out = BufWriter::new(File::create(path).with_context(cannot)?);
    let written =
        write_csv(&mut Simulator::new(simulation(config)), &plan, &mut out).with_context(cannot)?;
    Ok(written)
}

/// The simulator's parameters from the flags.
fn simulation(config: &ProducerConfig) -> SimulationParams {
    SimulationParams {
        seed: config.seed,
        fraud_rate: config.fraud_rate,
        takeover_every: config
            .scenario
            .map(|Scenario::AccountTakeover| config.takeover_every),
    }
}

/// The configured source, already limited by `--count`, and how many transactions it will give
/// if that is known.
fn open_source(
    config: &ProducerConfig,
) -> Result<(Box<dyn Iterator<Item = Transaction>>, Option<u64>)> {
    let limit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    match &config.replay {
        Some(path) => {
            // The file once, unless --count asks for more.
            let rows = replay::load(path)?;
            let total = config.count.unwrap_or(rows.len() as u64);
            let source = replay::endless(rows).take(limit(total));
            Ok((Box::new(source), Some(total)))
        }
        None => {
            let simulator = Simulator::new(simulation(config));
            let source = simulator.take(config.count.map_or(usize::MAX, limit));
            Ok((Box::new(source), config.count))
        }
    }
}
