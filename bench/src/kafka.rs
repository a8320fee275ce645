//! Kafka probes on the local broker: the bare pass-through baseline, a throughput watcher and the
//! downstream latency probe.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, SpecCodec};
use aegis_core::clock::now_ms;
use aegis_core::spec::Spec;
use aegis_kafka as kafka;
use aegis_kafka::KafkaFlags;
use aegis_scorer::stream::clients::{
    consumer_settings, producer_settings, state_producer_settings,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;

use crate::stats::quantile;

#[derive(Args)]
pub struct PassthroughArgs {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    input: String,
    #[arg(long)]
    output: String,
    #[arg(long, default_value = "aegis-bench-passthrough")]
    group: String,
    /// Messages to forward before flushing and exiting.
    #[arg(long)]
    count: u64,
    /// Write this file once the group has assigned partitions (the scorer's `/readyz`), so that a
    /// measurement can start when both sides are equally ready.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Also write one record per message to this topic (same key, same partition number, the
    /// message's bytes), with the scorer's changelog producer: the like-for-like baseline of a
    /// scorer keeping account state in a changelog.
    #[arg(long)]
    changelog: Option<String>,
    /// The changelog producer's linger, as the scorer's `--state-linger`.
    #[arg(
        long = "changelog-linger",
        default_value = "100ms",
        value_name = "DURATION",
        value_parser = aegis_kafka::duration::millis(0, 60_000)
    )]
    changelog_linger_ms: u64,
    /// `-X key=value` on all clients, after the scorer's settings, as the scorer takes them.
    #[command(flatten)]
    kafka: KafkaFlags,
}

/// Consumes `--input` and re-produces every message's key and bytes to `--output`, with the
/// scorer's client settings (offsets stored automatically: there is no acknowledgement to wait
/// for). The least any consume-transform-produce service must do; with `--changelog`, the least a
/// stateful one must do.
pub fn passthrough(args: &PassthroughArgs) -> Result<String> {
    let properties = args.kafka.properties();
    let consumer: BaseConsumer = consumer_settings(&args.group)
        .set("enable.auto.offset.store", "true")
        .client_config(&args.brokers, &properties)
        .create()?;
    let producer: BaseProducer = producer_settings()
        .client_config(&args.brokers, &properties)
        .create()?;
    let changelog = match &args.changelog {
        Some(topic) => {
            let producer: BaseProducer = state_producer_settings(args.changelog_linger_ms)
                .client_config(&args.brokers, &properties)
                .create()?;
            Some((topic.as_str(), producer))
        }
        None => None,
    };
    consumer.subscribe(&[&args.input])?;
    let mut forwarded = 0u64;
    let mut first = None;
    let mut ready_file = args.ready_file.as_deref();
    while forwarded < args.count {
        let polled = consumer.poll(Duration::from_millis(100));
        if let Some(path) = ready_file {
            if consumer.assignment()?.count() > 0 {
                std::fs::write(path, b"ready\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
                ready_file = None;
            }
        }
        let Some(message) = polled else {
            producer.poll(Duration::ZERO);
            if let Some((_, states)) = &changelog {
                states.poll(Duration::ZERO);
            }
            continue;
        };
        let message = message?;
        first.get_or_insert_with(Instant::now);
        forward(&producer, copy(&message, BaseRecord::to(&args.output)))?;
        if let Some((topic, states)) = &changelog {
            let record = copy(&message, BaseRecord::to(topic)).partition(message.partition());
            forward(states, record)?;
        }
        forwarded += 1;
    }
    producer.flush(Duration::from_secs(60))?;
    if let Some((_, states)) = &changelog {
        states.flush(Duration::from_secs(60))?;
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(json!({"forwarded": forwarded, "seconds": seconds}).to_string())
}

/// `record` with `message`'s key and bytes.
pub(crate) fn copy<'a>(
    message: &'a impl Message,
    mut record: BaseRecord<'a, [u8], [u8]>,
) -> BaseRecord<'a, [u8], [u8]> {
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    record
}

/// Enqueues `record`, polling while the producer's queue is full.
#[allow(clippy::result_large_err)] // rdkafka's send hands the record back in its Err
pub(crate) fn forward(producer: &BaseProducer, record: BaseRecord<'_, [u8], [u8]>) -> Result<()> {
    kafka::produce::enqueue(
        record,
        |r| producer.send(r),
        || {
            producer.poll(Duration::from_millis(1));
            ControlFlow::Continue(())
        },
    )
    .context("cannot produce")?;
    producer.poll(Duration::ZERO);
    Ok(())
}

#[derive(Args)]
pub struct WatchArgs {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    topic: String,
    /// New messages to wait for.
    #[arg(long)]
    count: u64,
    /// Give up after this long.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = aegis_kafka::duration::secs(1, u64::MAX))]
    timeout: u64,
}

/// Polls the topic's high watermarks every 20 ms until `--count` messages more than at the start
/// are there; the rate is taken from the first new message to the last, so start-up (model load,
/// group join) is not counted against either side.
pub fn watch(args: &WatchArgs) -> Result<String> {
    let consumer: BaseConsumer = kafka::Settings::reader("aegis-bench-watch")
        .client_config(&args.brokers, &[])
        .create()?;
    let partitions = partitions(&consumer, &args.topic)?;
    let total = |c: &BaseConsumer| -> Result<i64> {
        let mut sum = 0;
        for &p in &partitions {
            sum += c
                .fetch_watermarks(&args.topic, p, Duration::from_secs(10))?
                .1;
        }
        Ok(sum)
    };
    let base = total(&consumer)?;
    let target = base + i64::try_from(args.count)?;
    let started = Instant::now();
    let mut first: Option<(Instant, i64)> = None;
    loop {
        let now = total(&consumer)?;
        let at = Instant::now();
        if now > base && first.is_none() {
            first = Some((at, now));
        }
        if now >= target {
            let (t0, n0) = first.unwrap_or((at, now));
            let seconds = (at - t0).as_secs_f64();
            let counted = (now - n0) as f64;
            return Ok(json!({
                "messages": now - base,
                "seconds": seconds,
                "per_second": if seconds > 0.0 { counted / seconds } else { f64::NAN },
                "since_start_seconds": started.elapsed().as_secs_f64(),
            })
            .to_string());
        }
        if started.elapsed() > Duration::from_secs(args.timeout) {
            bail!(
                "{} of {} messages after {} s",
                now - base,
                args.count,
                args.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Args)]
pub struct LatencyArgs {
    #[arg(long)]
    brokers: String,
    /// The verdicts topic.
    #[arg(long)]
    topic: String,
    /// How long a span of verdicts to measure.
    #[arg(long = "duration", default_value = "20s", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    seconds: f64,
    /// How long a span of verdicts to skip first (warm-up).
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    skip: f64,
    /// What the topic holds: verdicts, or transactions (the pass-through's copies).
    #[arg(long, value_enum, default_value_t = Carried::Verdict)]
    carries: Carried,
    /// The transactions' spec (e.g. specs/cards.toml), when they are not PaySim's.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// `-X key=value` on the probe's consumer, after the scorer's consumer settings (e.g. to see
    /// what `fetch.wait.max.ms` costs a hop on the broker).
    #[command(flatten)]
    kafka: KafkaFlags,
}

/// The records a latency probe reads.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Carried {
    Verdict,
    Transaction,
}

/// Reads new verdicts as a downstream service would and measures, per verdict, the time from the
/// transaction's `event_time` (the producer stamps it as it publishes) to the verdict reaching
/// this consumer, and to the scorer's `scored_at`. With `--carries transaction` it reads the
/// pass-through's copies of transactions instead (no `scored_at`).
pub fn latency(args: &LatencyArgs) -> Result<String> {
    let spec = match &args.spec {
        Some(path) => Some(SpecCodec::new(&Spec::load(path)?).context("the spec's Avro schema")?),
        None => None,
    };
    let consumer: BaseConsumer = consumer_settings("aegis-bench-latency")
        .client_config(&args.brokers, &args.kafka.properties())
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in partitions(&consumer, &args.topic)? {
        assignment.add_partition_offset(&args.topic, p, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let (skip, until) = (
        Duration::from_secs_f64(args.skip),
        Duration::from_secs_f64(args.skip + args.seconds),
    );
    // Latencies in arrival order: the first and last quarters tell a backlog that grows (the
    // pipeline is not keeping up with the offered rate) from a steady one.
    let (mut delivered, mut scored) = (Vec::new(), Vec::new());
    while started.elapsed() < until {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let now = now_ms();
        if started.elapsed() < skip {
            continue;
        }
        let payload = message
            .payload()
            .ok_or_else(|| anyhow!("verdict without payload"))?;
        let event_time = match args.carries {
            Carried::Verdict => {
                let (verdict, _) = AvroCodec::verdict().decode(payload)?;
                scored.push((verdict.scored_at - verdict.event_time) as f64);
                verdict.event_time
            }
            Carried::Transaction => match &spec {
                Some(codec) => codec.decode(payload)?.record.event_time_ms,
                None => AvroCodec::transaction().decode(payload)?.0.event_time,
            },
        };
        delivered.push((now - event_time) as f64);
    }
    if delivered.is_empty() {
        bail!("nothing arrived on {} in {} s", args.topic, args.seconds);
    }
    let quarter = delivered.len().div_ceil(4);
    let first_quarter_p50 = quantile(&mut delivered[..quarter].to_vec(), 0.50);
    let n = delivered.len();
    let last_quarter_p50 = quantile(&mut delivered[n - quarter..].to_vec(), 0.50);
    Ok(json!({
        "records": delivered.len(),
        "per_second": delivered.len() as f64 / args.seconds,
        "p50_ms": quantile(&mut delivered, 0.50),
        "p99_ms": quantile(&mut delivered, 0.99),
        "max_ms": quantile(&mut delivered, 1.0),
        "first_quarter_p50_ms": first_quarter_p50,
        "last_quarter_p50_ms": last_quarter_p50,
        "scored_p50_ms": quantile(&mut scored, 0.50),
        "scored_p99_ms": quantile(&mut scored, 0.99),
    })
    .to_string())
}

pub(crate) fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    kafka::topic_partitions(consumer, topic, Duration::from_secs(10))
        .with_context(|| format!("cannot read metadata of {topic}"))?
        .with_context(|| format!("topic {topic} has no partitions (does it exist?)"))
}
