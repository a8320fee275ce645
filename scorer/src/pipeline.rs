//! The consumer-group pipeline, three tasks joined by bounded channels:
//!
//! 1. **intake** polls the consumer and gathers batches (up to `--batch-size` messages, waiting at
//!    most `--batch-linger-ms` after the first);
//! 2. **processing** scores each batch on the blocking pool and hands every output to the producer
//!    (a full producer queue means wait, never drop);
//! 3. **acknowledgement** awaits, batch by batch and in order, the broker's acknowledgement of every
//!    verdict and dead letter, and only then stores the batch's offsets — and only for partitions
//!    still held under the epoch the messages were received in.
//!
//! librdkafka commits stored offsets in the background, so a crash repeats at most the
//! unacknowledged tail: at least once, never lost. A delivery that fails for good stops the
//! replica with an error rather than skipping a message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::clock::now_ms;
use aegis_core::dead_letter::{DeadLetter, SourcePosition};
use aegis_core::{Model, Thresholds, Transaction};
use aegis_kafka as kafka;
use aegis_kafka::produce;
use aegis_kafka::registry::{RegistryDecoder, SchemaRegistry};
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::assignment::{Assignment, AssignmentContext};
use crate::config::LiveView;
use crate::config::ScorerConfig;
use crate::metrics::Metrics;
use crate::scoring::{Output, Received, Scorer};

/// How long to wait before trying again while the producer's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);

/// A running replica's shared parts, for the HTTP server and tests.
pub struct Scoring {
    pub scorer: Arc<Scorer>,
    pub metrics: Arc<Metrics>,
    pub assignment: Arc<Assignment>,
    /// The live page's view of the verdicts topic.
    pub live: Arc<crate::live::LiveFeed>,
}

impl Scoring {
    /// Loads the model (with threshold overrides) for a replica; fails with one line on a bad
    /// model file or flag.
    pub fn new(config: &ScorerConfig) -> Result<Scoring> {
        Self::with_model(config, load_model(config)?)
    }

    /// [`Scoring::new`] with a model already loaded by [`load_model`].
    pub fn with_model(config: &ScorerConfig, model: Model) -> Result<Scoring> {
        let (framing, registry) = registry(config)?;
        Ok(Scoring {
            metrics: Arc::new(Metrics::new(&model)),
            scorer: Arc::new(Scorer::new(model, framing, registry)),
            assignment: Arc::default(),
            live: Arc::new(crate::live::LiveFeed::new(now_ms())),
        })
    }
}

type Consumer_ = StreamConsumer<AssignmentContext>;

/// Work scored and handed to the producer, awaiting acknowledgement.
struct InFlight {
    deliveries: Vec<DeliveryFuture>,
    outputs: Vec<Output>,
    /// Highest offset per (partition, epoch) in the batch.
    offsets: Vec<(i32, u64, i64)>,
}

/// Loads the model and applies threshold overrides; fails with one line on a bad file or flag.
pub fn load_model(config: &ScorerConfig) -> Result<Model> {
    let mut model = Model::load(&config.model)?;
    let review = config.review_threshold.unwrap_or(model.thresholds.review);
    let block = config.block_threshold.unwrap_or(model.thresholds.block);
    model.thresholds =
        Thresholds::new(review, block).context("--review-threshold / --block-threshold")?;
    Ok(model)
}

/// Runs one replica until `cancel` fires (or a delivery fails for good), then drains, flushes and
/// commits within `--shutdown-timeout`.
pub async fn run(
    config: ScorerConfig,
    scoring: Arc<Scoring>,
    cancel: CancellationToken,
) -> Result<()> {
    let consumer = Arc::new(create_consumer(&config, &scoring)?);
    let producer = create_producer(&config)?;
    consumer
        .subscribe(&[&config.input_topic])
        .with_context(|| format!("cannot subscribe to {}", config.input_topic))?;
    tracing::info!(
        input = %config.input_topic, group = %config.group_id,
        model = %scoring.scorer.model().model_version,
        properties = %kafka::describe(&config.kafka.properties()),
        "scorer started"
    );

    let stop = cancel.child_token();
    let depth = config.max_in_flight as usize;
    let (batch_tx, batch_rx) = mpsc::channel::<Vec<Received>>(depth);
    let (flight_tx, flight_rx) = mpsc::channel::<InFlight>(depth);
    let mut processing = tokio::spawn(process(
        batch_rx,
        flight_tx,
        scoring.scorer.clone(),
        scoring.metrics.clone(),
        producer.clone(),
        config.clone(),
    ));
    let mut acknowledging = tokio::spawn(acknowledge(
        flight_rx,
        consumer.clone(),
        scoring.clone(),
        config.live_view == LiveView::Own,
        config.input_topic.clone(),
        stop.clone(),
    ));

    intake(&consumer, &scoring, &config, batch_tx, &stop).await;

    // Ordered shutdown, all within --shutdown-timeout: intake has stopped; drain (at most two
    // thirds of the budget, so that offsets of acknowledged work can still be committed), then
    // flush and commit in the time left.
    let budget = config.shutdown_timeout();
    let started = Instant::now();
    let drained = tokio::time::timeout(budget - budget / 3, async {
        let processed = (&mut processing)
            .await
            .map_err(|e| anyhow!("processing task: {e}"))?;
        let acknowledged = (&mut acknowledging)
            .await
            .map_err(|e| anyhow!("acknowledgement task: {e}"))?;
        processed.and(acknowledged)
    })
    .await;
    let drained = match drained {
        Ok(result) => result,
        Err(_) => {
            // Whatever is still in flight is not stored, so it will be read again.
            processing.abort();
            acknowledging.abort();
            let _ = tokio::join!(processing, acknowledging);
            Err(anyhow!(
                "in-flight work did not drain within {:?}; it will be scored again",
                budget - budget / 3
            ))
        }
    };
    let finish = finish(consumer, producer, budget.saturating_sub(started.elapsed())).await;
    drained.and(finish)
}

async fn intake(
    consumer: &Consumer_,
    scoring: &Scoring,
    config: &ScorerConfig,
    batches: mpsc::Sender<Vec<Received>>,
    stop: &CancellationToken,
) {
    let size = config.batch_size as usize;
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => break,
            m = consumer.recv() => m,
        };
        let mut batch = Vec::with_capacity(size);
        match first {
            Ok(m) => batch.push(detach(&m, &scoring.assignment)),
            Err(e) => {
                tracing::warn!(error = %e, "consumer error");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let deadline = Instant::now() + config.batch_linger();
        while batch.len() < size {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(detach(&m, &scoring.assignment)),
                Ok(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                Err(_) => break,
            }
        }
        scoring.metrics.received(batch.len());
        if batches.send(batch).await.is_err() {
            break; // processing stopped after a fatal error
        }
    }
    tracing::info!("intake stopped");
}

fn detach(m: &rdkafka::message::BorrowedMessage<'_>, assignment: &Assignment) -> Received {
    Received {
        partition: m.partition(),
        offset: m.offset(),
        epoch: assignment.epoch(m.partition()),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
    }
}

async fn process(
    mut batches: mpsc::Receiver<Vec<Received>>,
    flights: mpsc::Sender<InFlight>,
    scorer: Arc<Scorer>,
    metrics: Arc<Metrics>,
    producer: FutureProducer,
    config: ScorerConfig,
) -> Result<()> {
    while let Some(batch) = batches.recv().await {
        let scorer = scorer.clone();
        let (batch, outputs, scoring_time) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let outputs = scorer.process(&batch, now_ms());
            (batch, outputs, started.elapsed())
        })
        .await?;
        // An unreachable registry must not send good messages to the DLQ: stop, store nothing,
        // and let the next run read them again.
        let outputs = outputs.context("stopping without storing offsets for this batch")?;
        metrics.scored_batch(batch.len(), scoring_time);
        let mut deliveries = Vec::with_capacity(batch.len());
        for (message, output) in batch.iter().zip(&outputs) {
            deliveries.push(send(&producer, &config, message, output).await?);
        }
        let flight = InFlight {
            deliveries,
            outputs,
            offsets: highest_offsets(&batch),
        };
        if flights.send(flight).await.is_err() {
            break; // acknowledgement stopped after a fatal error
        }
    }
    Ok(())
}

/// Enqueues one output; waits while the producer's queue is full.
async fn send(
    producer: &FutureProducer,
    config: &ScorerConfig,
    message: &Received,
    output: &Output,
) -> Result<DeliveryFuture> {
    let record = match output {
        Output::Verdict { verdict, value } => FutureRecord::to(&config.output_topic)
            .key(verdict.account.as_bytes())
            .payload(value.as_slice()),
        Output::DeadLetter { reason, error } => {
            let letter = DeadLetter {
                reason: *reason,
                error: error.clone(),
                source: SourcePosition {
                    topic: config.input_topic.clone(),
                    partition: message.partition,
                    offset: message.offset,
                },
            };
            let mut record = FutureRecord::to(&config.dlq_topic)
                .headers(produce::dead_letter_headers(&letter));
            if let Some(key) = &message.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &message.payload {
                record = record.payload(payload.as_slice());
            }
            record
        }
    };
    produce::enqueue_async(
        record,
        |record| producer.send_result(record),
        QUEUE_FULL_BACKOFF,
    )
    .await
    .map_err(|e| anyhow!("cannot enqueue output of offset {}: {e}", message.offset))
}

fn highest_offsets(batch: &[Received]) -> Vec<(i32, u64, i64)> {
    let mut highest: HashMap<(i32, u64), i64> = HashMap::new();
    for m in batch {
        let slot = highest.entry((m.partition, m.epoch)).or_insert(m.offset);
        *slot = (*slot).max(m.offset);
    }
    highest.into_iter().map(|((p, e), o)| (p, e, o)).collect()
}

/// Awaits each batch's deliveries in order, then stores its offsets (and, with `--live-view own`,
/// shows its verdicts on the live page).
async fn acknowledge(
    mut flights: mpsc::Receiver<InFlight>,
    consumer: Arc<Consumer_>,
    scoring: Arc<Scoring>,
    record_live: bool,
    topic: String,
    stop: CancellationToken,
) -> Result<()> {
    let (assignment, metrics) = (&scoring.assignment, &scoring.metrics);
    while let Some(flight) = flights.recv().await {
        for delivery in flight.deliveries {
            let failure = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((e, _))) => anyhow!("delivery failed: {e}"),
                Err(_) => anyhow!("delivery abandoned: the producer was dropped"),
            };
            // Nothing of this batch (or later ones) is stored: it will be read again.
            metrics.delivery_failed();
            stop.cancel();
            return Err(failure.context("stopping without storing offsets for unacknowledged work"));
        }
        metrics.acknowledged(&flight.outputs, now_ms());
        if record_live {
            for output in &flight.outputs {
                if let Output::Verdict { verdict, .. } = output {
                    scoring.live.record(verdict);
                }
            }
        }
        for (partition, epoch, offset) in flight.offsets {
            if !assignment.holds(partition, epoch) {
                tracing::debug!(
                    partition,
                    offset,
                    "partition revoked meanwhile; offset not stored"
                );
                continue;
            }
            // librdkafka stores offset + 1: the next message to read.
            if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                tracing::debug!(partition, offset, error = %e, "offset not stored");
            }
        }
    }
    Ok(())
}

/// Flushes the producer, commits the stored offsets and closes both clients, giving up after
/// `timeout`. librdkafka's synchronous commit and consumer close wait for the group coordinator
/// without a limit, so they run on a thread of their own that is left behind when the broker is
/// gone: a scorer told to stop must stop, and offsets not committed only mean verdicts repeated.
async fn finish(
    consumer: Arc<Consumer_>,
    producer: FutureProducer,
    timeout: Duration,
) -> Result<()> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("aegis-finish".to_owned())
        .spawn(move || {
            let result = flush_and_commit(&consumer, &producer, timeout);
            // The last references: dropping them closes the clients (and may wait, here only).
            drop((consumer, producer));
            let _ = done.send(result);
        })
        .context("cannot start the shutdown thread")?;
    match tokio::time::timeout(timeout, finished).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(anyhow!("the shutdown thread panicked")),
        Err(_) => Err(anyhow!(
            "could not commit offsets and close the Kafka clients within {timeout:?} \
             (--shutdown-timeout); is the broker reachable? Uncommitted work will be scored again"
        )),
    }
}

fn flush_and_commit(
    consumer: &Consumer_,
    producer: &FutureProducer,
    timeout: Duration,
) -> Result<()> {
    producer.flush(timeout).context("flushing the producer")?;
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last commit is not a failure.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => return Err(anyhow!("committing offsets: {e}")),
    }
    consumer.unsubscribe();
    tracing::info!("offsets committed; scorer stopped");
    Ok(())
}

/// The scorer's consumer settings (before `group.id` and the user's `-X` properties): offsets are
/// stored by the pipeline after acknowledgement and committed in the background. Partitions move
/// between replicas incrementally (cooperative-sticky): a replica joining or leaving takes or gives
/// only its share instead of stopping every replica, and a member that died without leaving is
/// recovered from on tansu too (see chaos/README.md). `Assignment` works with either protocol.
pub const CONSUMER_SETTINGS: &[(&str, &str)] = &[
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("enable.auto.commit", "true"),
    ("enable.auto.offset.store", "false"),
    ("auto.commit.interval.ms", "1000"),
    ("auto.offset.reset", "earliest"),
    ("session.timeout.ms", "10000"),
    ("fetch.wait.max.ms", "10"),
    // Consumer lag per partition comes from librdkafka's statistics.
    ("statistics.interval.ms", "5000"),
];

/// The scorer's producer settings (before the user's `-X` properties): idempotent, acknowledged by
/// all in-sync replicas.
pub const PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "2"),
];

fn create_consumer(config: &ScorerConfig, scoring: &Scoring) -> Result<Consumer_> {
    kafka::client_config(
        &config.brokers,
        CONSUMER_SETTINGS,
        &config.kafka.properties(),
    )
    .set("group.id", &config.group_id)
    .create_with_context(AssignmentContext {
        assignment: scoring.assignment.clone(),
        metrics: scoring.metrics.clone(),
    })
    .context(
        "cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)",
    )
}

fn create_producer(config: &ScorerConfig) -> Result<FutureProducer> {
    kafka::client_config(
        &config.brokers,
        PRODUCER_SETTINGS,
        &config.kafka.properties(),
    )
    .create()
    .context(
        "cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)",
    )
}

/// With `--schema-registry-url`: registers the verdict schema under `<output>-value` and writes
/// verdicts in the Confluent wire format, and reads input written with any registered schema.
/// Without: single-object encoding.
fn registry(config: &ScorerConfig) -> Result<(Framing, Option<RegistryDecoder<Transaction>>)> {
    let Some(url) = &config.schema_registry_url else {
        return Ok((Framing::SingleObject, None));
    };
    let client = Arc::new(SchemaRegistry::new(url)?);
    let framing = client.framing_for(&config.output_topic, AvroCodec::verdict())?;
    tracing::info!(registry = %url, ?framing, "verdict schema registered");
    Ok((
        framing,
        Some(RegistryDecoder::new(AvroCodec::transaction(), client)),
    ))
}
