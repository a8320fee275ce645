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
//! [`run`] does the work (one run's state and steps are a `pump::Pump`); the binary adds flags,
//! logging, signals and `/metrics` around it.

pub mod config;
pub mod labels;
pub mod metrics;
pub mod pace;
pub mod progress;
pub mod publish;
mod pump;
pub mod replay;
pub mod simulate;

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing, SpecCodec};
use aegis_core::spec::Spec;
use aegis_kafka::registry::SchemaRegistry;
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

pub use config::{ProducerConfig, Scenario};
pub use metrics::Counters;
use publish::Publisher;
use pump::{Framings, Outgoing, Pump};
use simulate::out::{write_csv, StepPlan, Written};
use simulate::{SimulationParams, Simulator};

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
    let spec_codec = match &config.spec {
        Some(path) => Some(SpecCodec::new(&Spec::load(path)?).context("the spec's Avro schema")?),
        None => None,
    };
    let (source, total) = open_source(config, spec_codec.as_ref().map(SpecCodec::spec))?;
    let framings = framings(config, spec_codec.as_ref())?;
    let labels_topic = config.label_plan().map(|_| config.labels_topic.as_str());
    let Some(publisher) = Publisher::connect(
        brokers,
        &config.topic,
        labels_topic,
        &config.kafka.properties(),
        counters.clone(),
        Duration::from_secs(config.connect.connect_timeout_secs),
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
    Pump::new(
        config, publisher, framings, spec_codec, counters, total, cancel,
    )
    .run(source)
}

/// How transactions and labels are framed: in the Confluent wire format, their schemas
/// registered, with `--schema-registry-url` (labels only with `--label-delay`; a spec's
/// transactions with the schema generated from it); single-object encoded otherwise.
fn framings(config: &ProducerConfig, spec: Option<&SpecCodec>) -> Result<Framings> {
    let Some(url) = &config.schema_registry_url else {
        return Ok(Framings {
            transactions: Framing::SingleObject,
            labels: Framing::SingleObject,
        });
    };
    let registry = SchemaRegistry::new(url)?;
    let transactions = match spec {
        Some(codec) => Framing::Confluent {
            schema_id: registry.register(
                &aegis_kafka::registry::subject_for(&config.topic),
                codec.schema_json(),
            )?,
        },
        None => registry.framing_for(&config.topic, AvroCodec::transaction())?,
    };
    tracing::info!(registry = %url, framing = ?transactions, "transaction schema registered");
    let labels = match config.label_plan() {
        Some(_) => {
            SchemaRegistry::new(url)?.framing_for(&config.labels_topic, AvroCodec::label())?
        }
        None => Framing::SingleObject,
    };
    Ok(Framings {
        transactions,
        labels,
    })
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

/// Transactions to publish, in order; an error stops the run.
type Source = Box<dyn Iterator<Item = Result<Outgoing>>>;

/// The configured source, already limited by `--count`, and how many transactions it will give
/// if that is known; `spec` is `--spec`'s, read once by the caller.
fn open_source(config: &ProducerConfig, spec: Option<&Spec>) -> Result<(Source, Option<u64>)> {
    let limit = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    match (&config.replay, spec) {
        (Some(path), Some(spec)) => {
            // The file once, in event-time order; --count can only shorten it.
            let replay = replay::SpecReplay::open(spec, path)?;
            let total = config.count.map_or(replay.rows, |n| n.min(replay.rows));
            let source = replay
                .records
                .take(limit(total))
                .map(|r| Ok(Outgoing::Record(r?)));
            Ok((Box::new(source), Some(total)))
        }
        (Some(path), None) => {
            // The file once, unless --count asks for more.
            let rows = replay::load(path)?;
            let total = config.count.unwrap_or(rows.len() as u64);
            let source = replay::endless(rows)
                .take(limit(total))
                .map(|tx| Ok(Outgoing::Paysim(tx)));
            Ok((Box::new(source), Some(total)))
        }
        (None, _) => {
            let simulator = Simulator::new(simulation(config));
            let source = simulator
                .take(config.count.map_or(usize::MAX, limit))
                .map(|tx| Ok(Outgoing::Paysim(tx)));
            Ok((Box::new(source), config.count))
        }
    }
}
