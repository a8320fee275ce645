//! The stateful pass-through of a two-stage spec (the card spec): the bare pass-through with the
//! records the card pipeline writes and reads per transaction, and nothing of Aegis's scoring.
//!
//! The card pipeline's first stage writes each transaction to the repartition topic (one record)
//! and, after each batch, one watermark per source partition that moved to every repartition
//! partition; its second stage reads the repartition topic back and writes one verdict per
//! transaction. Neither keeps a changelog (each rebuilds from its input). So this baseline runs
//! two hops, each a thread with its own group: the first copies every input message to
//! `--repartition` (same key and bytes) and, after each batch gathered as the first stage gathers
//! one (up to `--batch` messages, `--linger` after the first), writes one mark per input
//! partition that moved to every partition of `--repartition`; the second reads `--repartition`
//! and copies every keyed record (not the marks) to `--output`. Client settings are the stages'.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aegis_kafka::{KafkaFlags, Settings};
use aegis_scorer::stream::clients::producer_settings;
use anyhow::{Context, Result};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message;
use serde_json::json;

use crate::kafka::{copy, forward, partitions};

#[derive(Args)]
pub struct RepartitionArgs {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    input: String,
    /// The topic the first hop writes and the second reads (as many partitions as the card
    /// pipeline's repartition topic).
    #[arg(long)]
    repartition: String,
    #[arg(long)]
    output: String,
    /// The first hop's group; the second's is `<group>.repartition`.
    #[arg(long, default_value = "aegis-bench-repartition")]
    group: String,
    /// Messages to deliver to `--output` before flushing and exiting.
    #[arg(long)]
    count: u64,
    /// Write this file once both hops have partitions assigned.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Most messages in one batch of the first hop (the scorer's `--batch-size`).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Longest wait for a batch to fill once its first message arrived (`--batch-linger`).
    #[arg(long = "linger", default_value = "2ms", value_name = "DURATION",
          value_parser = aegis_kafka::duration::millis(0, 60_000))]
    linger_ms: u64,
    /// `-X key=value` on all clients, after the stages' settings.
    #[command(flatten)]
    kafka: KafkaFlags,
}

/// What both hops share: when to stop, and whether each has its partitions.
#[derive(Default)]
struct Progress {
    done: AtomicBool,
    failed: AtomicBool,
    assigned: [AtomicBool; 2],
    marks: AtomicU64,
}

pub fn run(args: &RepartitionArgs) -> Result<String> {
    let progress = Progress::default();
    let (started, delivered) = std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            let result = first_hop(args, &progress);
            progress.failed.store(result.is_err(), Ordering::Relaxed);
            result
        });
        let second = second_hop(args, &progress);
        progress.done.store(true, Ordering::Relaxed);
        let first = first
            .join()
            .map_err(|_| anyhow::anyhow!("first hop panicked"))?;
        first?;
        second
    })?;
    let seconds = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(json!({
        "forwarded": delivered,
        "marks": progress.marks.load(Ordering::Relaxed),
        "seconds": seconds,
    })
    .to_string())
}

/// Copies `--input` to `--repartition`, with a mark per moved partition after each batch.
fn first_hop(args: &RepartitionArgs, progress: &Progress) -> Result<()> {
    let properties = args.kafka.properties();
    let consumer: BaseConsumer = Settings::group_consumer(&args.group)
        .set("partition.assignment.strategy", "range")
        .set("max.partition.fetch.bytes", 16_384)
        .set("enable.auto.offset.store", "true")
        .client_config(&args.brokers, &properties)
        .create()?;
    let producer: rdkafka::producer::BaseProducer = producer_settings()
        .client_config(&args.brokers, &properties)
        .create()?;
    let repartitions = partitions(&consumer, &args.repartition)?;
    consumer.subscribe(&[&args.input])?;
    let linger = Duration::from_millis(args.linger_ms);
    let (mut batch_started, mut batch_len) = (None::<Instant>, 0usize);
    let mut moved = BTreeSet::new();
    while !progress.done.load(Ordering::Relaxed) {
        let timeout = batch_started.map_or(Duration::from_millis(100), |t| {
            linger.saturating_sub(t.elapsed())
        });
        let polled = consumer.poll(timeout);
        if !progress.assigned[0].load(Ordering::Relaxed) && consumer.assignment()?.count() > 0 {
            progress.assigned[0].store(true, Ordering::Relaxed);
        }
        if let Some(message) = polled {
            let message = message?;
            forward(&producer, copy(&message, BaseRecord::to(&args.repartition)))?;
            moved.insert(message.partition());
            batch_len += 1;
            batch_started.get_or_insert_with(Instant::now);
        } else {
            producer.poll(Duration::ZERO);
        }
        let full = batch_len >= args.batch;
        if batch_started.is_some_and(|t| full || t.elapsed() >= linger) {
            for &p in &moved {
                // A watermark's size: source partition and a time.
                let mark = [p.to_be_bytes().as_slice(), &[0u8; 12]].concat();
                for &q in &repartitions {
                    let record = BaseRecord::<[u8], [u8]>::to(&args.repartition)
                        .partition(q)
                        .payload(&mark);
                    forward(&producer, record)?;
                    progress.marks.fetch_add(1, Ordering::Relaxed);
                }
            }
            moved.clear();
            (batch_started, batch_len) = (None, 0);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

/// Copies every keyed record of `--repartition` to `--output` until `--count` are delivered;
/// returns when the first was read and how many were copied.
fn second_hop(args: &RepartitionArgs, progress: &Progress) -> Result<(Option<Instant>, u64)> {
    let properties = args.kafka.properties();
    let consumer: BaseConsumer = Settings::group_consumer(&format!("{}.repartition", args.group))
        .set("enable.auto.offset.store", "true")
        .client_config(&args.brokers, &properties)
        .create()?;
    let producer: rdkafka::producer::BaseProducer = producer_settings()
        .client_config(&args.brokers, &properties)
        .create()?;
    consumer.subscribe(&[&args.repartition])?;
    let mut ready_file = args.ready_file.as_deref();
    let (mut first, mut forwarded) = (None, 0u64);
    while forwarded < args.count {
        if progress.failed.load(Ordering::Relaxed) {
            break; // the first hop's error is the one to report
        }
        let polled = consumer.poll(Duration::from_millis(100));
        if let Some(path) = ready_file {
            if consumer.assignment()?.count() > 0 && progress.assigned[0].load(Ordering::Relaxed) {
                std::fs::write(path, b"ready\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
                ready_file = None;
            }
        }
        let Some(message) = polled else {
            producer.poll(Duration::ZERO);
            continue;
        };
        let message = message?;
        if message.key().is_none() {
            continue; // a mark
        }
        first.get_or_insert_with(Instant::now);
        forward(&producer, copy(&message, BaseRecord::to(&args.output)))?;
        forwarded += 1;
    }
    producer.flush(Duration::from_secs(60))?;
    Ok((first, forwarded))
}
