//! Intake and processing: batches polled from the consumer, scored on the blocking pool, and every
//! output handed to the producer; then the ordered shutdown.

use std::sync::Arc;
use std::time::Duration;

use aegis_core::clock::now_ms;
use aegis_core::dead_letter::{DeadLetter, SourcePosition};
use aegis_kafka as kafka;
use aegis_kafka::produce;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Message, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::acknowledge::{acknowledge, store_offsets, InFlight, InFlightOffset, Settle};
use super::assignment::Assignment;
use super::clients::{create_consumer, create_producer, create_state_producer};
use super::model_updates;
use super::scoring::{Output, Received, Scorer, Shadowed};
use super::state::Stored;
use super::ScorerConsumer;
use crate::config::{LiveView, ScorerConfig};
use crate::metrics::Metrics;
use crate::replica::ReplicaState;

/// How long to wait before trying again while the producer's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);

/// Runs one replica until `cancel` fires (or a delivery fails for good), then drains, flushes and
/// commits within `--shutdown-timeout`.
pub async fn run(
    config: ScorerConfig,
    replica: Arc<ReplicaState>,
    cancel: CancellationToken,
) -> Result<()> {
    // The models topic is read to its end before the first batch: a replica starting late scores
    // with the current model from its first verdict.
    let stop = cancel.child_token();
    let models = model_updates::start(&config, replica.clone(), stop.clone()).await?;
    let (restores_tx, restores) = mpsc::unbounded_channel();
    let keeps_changelog = !config.state_changelog_topic.is_empty();
    let consumer = Arc::new(create_consumer(
        &config,
        &replica,
        keeps_changelog.then_some(restores_tx),
    )?);
    let producer = create_producer(&config)?;
    let state_producer = keeps_changelog
        .then(|| create_state_producer(&config))
        .transpose()?;
    consumer
        .subscribe(&[&config.input_topic])
        .with_context(|| format!("cannot subscribe to {}", config.input_topic))?;
    tracing::info!(
        input = %config.input_topic, group = %config.group_id,
        model = %replica.scorer.model().model_version,
        properties = %kafka::describe(&config.kafka.properties()),
        "scorer started"
    );

    let depth = config.max_in_flight as usize;
    let (batch_tx, batch_rx) = mpsc::channel::<Vec<Received>>(depth);
    let (flight_tx, flight_rx) = mpsc::channel::<InFlight>(depth);
    let (settle_tx, settle_rx) = mpsc::channel::<Settle>(depth);
    let mut processing = tokio::spawn(process(
        batch_rx,
        flight_tx,
        replica.scorer.clone(),
        replica.metrics.clone(),
        Producers {
            outputs: producer.clone(),
            states: state_producer.clone(),
        },
        config.clone(),
    ));
    let mut acknowledging = tokio::spawn(acknowledge(
        flight_rx,
        settle_tx,
        replica.clone(),
        config.live_view == LiveView::Own,
        stop.clone(),
    ));
    let mut storing = tokio::spawn(store_offsets(
        settle_rx,
        consumer.clone(),
        replica.clone(),
        config.input_topic.clone(),
        stop.clone(),
    ));

    let restoring = tokio::spawn(restore_assigned(
        restores,
        consumer.clone(),
        replica.clone(),
        config.input_topic.clone(),
        stop.clone(),
    ));

    intake(&consumer, &replica, &config, batch_tx, &stop).await;
    restoring.abort();

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
        let stored = (&mut storing)
            .await
            .map_err(|e| anyhow!("offset storing task: {e}"))?;
        processed.and(acknowledged).and(stored)
    })
    .await;
    let drained = match drained {
        Ok(result) => result,
        Err(_) => {
            // Whatever is still in flight is not stored, so it will be read again.
            processing.abort();
            acknowledging.abort();
            storing.abort();
            let _ = tokio::join!(processing, acknowledging, storing);
            Err(anyhow!(
                "in-flight work did not drain within {:?}; it will be scored again",
                budget - budget / 3
            ))
        }
    };
    let finish = kafka::service::finish(
        consumer,
        [Some(producer), state_producer]
            .into_iter()
            .flatten()
            .collect(),
        budget.saturating_sub(started.elapsed()),
        "scorer",
        "scored",
    )
    .await;
    if let Some(models) = models {
        stop.cancel();
        let _ = models.await;
    }
    drained.and(finish.map_err(anyhow::Error::from))
}

/// Restores each partition's account states as the partition is assigned (the consumer's context
/// paused it), one partition at a time on the blocking pool, then resumes it — unless it was
/// revoked meanwhile. A restore that fails is left to the scoring path, which tries again when the
/// partition's first message arrives and stops the replica if it still cannot.
async fn restore_assigned(
    mut assigned: mpsc::UnboundedReceiver<(i32, u64)>,
    consumer: Arc<ScorerConsumer>,
    replica: Arc<ReplicaState>,
    topic: String,
    stop: CancellationToken,
) {
    loop {
        let (partition, epoch) = tokio::select! {
            () = stop.cancelled() => break,
            next = assigned.recv() => match next {
                Some(next) => next,
                None => break,
            },
        };
        let held = {
            let assignment = replica.assignment.clone();
            move || assignment.holds(partition, epoch)
        };
        if !held() {
            continue; // revoked before its turn: the next owner restores it
        }
        let (scorer, still_held) = (replica.scorer.clone(), held.clone());
        let restored = tokio::task::spawn_blocking(move || {
            scorer.restore_partition(partition, epoch, still_held)
        })
        .await;
        match restored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                partition, error = %format!("{e:#}"),
                "cannot restore the partition's account states on assignment; its first message will try again"
            ),
            Err(e) => tracing::warn!(partition, error = %e, "the restore task failed"),
        }
        if held() {
            let mut list = TopicPartitionList::new();
            list.add_partition(&topic, partition);
            if let Err(e) = consumer.resume(&list) {
                tracing::warn!(partition, error = %e, "cannot resume a restored partition");
            }
        }
    }
}

async fn intake(
    consumer: &ScorerConsumer,
    replica: &ReplicaState,
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
            Ok(m) => batch.push(detach(&m, &replica.assignment)),
            Err(e) => {
                tracing::warn!(error = %e, "consumer error");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let deadline = Instant::now() + config.batch_linger();
        while batch.len() < size {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(detach(&m, &replica.assignment)),
                Ok(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                Err(_) => break,
            }
        }
        replica.metrics.received(batch.len());
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

/// The replica's producers: one for verdicts, dead letters and shadow verdicts, and one for the
/// account states' changelog (lingering longer) when state is kept there.
struct Producers {
    outputs: FutureProducer,
    states: Option<FutureProducer>,
}

async fn process(
    mut batches: mpsc::Receiver<Vec<Received>>,
    flights: mpsc::Sender<InFlight>,
    scorer: Arc<Scorer>,
    metrics: Arc<Metrics>,
    producers: Producers,
    config: ScorerConfig,
) -> Result<()> {
    let producer = &producers.outputs;
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
        let (outputs, changes) =
            outputs.context("stopping without storing offsets for this batch")?;
        metrics.scored_batch(batch.len(), scoring_time);
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut shadow_deliveries = Vec::new();
        for (message, output) in batch.iter().zip(&outputs) {
            deliveries.push(send(producer, &config, message, output).await?);
            if let Output::Verdict {
                shadow: Some(shadow),
                ..
            } = output
            {
                shadow_deliveries.push(send_shadow(producer, &config, shadow).await?);
            }
        }
        // The batch's account changes go to the changelog; its offsets are stored only once these
        // are acknowledged too, so a restored state never lags what was committed.
        let mut state_deliveries = Vec::with_capacity(changes.len());
        let mut changelogged = 0;
        if let Some(states) = &producers.states {
            for ((partition, account), stored) in &changes {
                state_deliveries
                    .push(send_state(states, &config, *partition, account, stored.as_ref()).await?);
            }
            changelogged = batch.len();
            metrics.changelog_written(changelogged);
        }
        let flight = InFlight {
            deliveries,
            shadow_deliveries,
            outputs,
            settle: Settle {
                state_deliveries,
                changelogged,
                offsets: InFlightOffset::highest_of(&batch),
            },
        };
        if flights.send(flight).await.is_err() {
            break; // acknowledgement stopped after a fatal error
        }
    }
    Ok(())
}

/// Enqueues one output; waits while the producer's queue is full.
#[allow(clippy::result_large_err)] // rdkafka's send_result hands the record back in its Err
async fn send(
    producer: &FutureProducer,
    config: &ScorerConfig,
    message: &Received,
    output: &Output,
) -> Result<DeliveryFuture> {
    let record = match output {
        Output::Verdict { verdict, value, .. } => FutureRecord::to(&config.output_topic)
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
            let mut record =
                FutureRecord::to(&config.dlq_topic).headers(produce::dead_letter_headers(&letter));
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

/// Enqueues one account's state (or its tombstone) for partition `partition` of the changelog.
#[allow(clippy::result_large_err)] // rdkafka's send_result hands the record back in its Err
async fn send_state(
    producer: &FutureProducer,
    config: &ScorerConfig,
    partition: i32,
    account: &str,
    stored: Option<&Stored>,
) -> Result<DeliveryFuture> {
    let value = stored.map(serde_json::to_vec).transpose()?;
    let mut record = FutureRecord::to(&config.state_changelog_topic)
        .partition(partition)
        .key(account.as_bytes());
    if let Some(value) = &value {
        record = record.payload(value.as_slice());
    }
    produce::enqueue_async(
        record,
        |record| producer.send_result(record),
        QUEUE_FULL_BACKOFF,
    )
    .await
    .map_err(|e| anyhow!("cannot enqueue a state record: {e}"))
}

/// Enqueues the shadow model's verdict for the shadow topic.
#[allow(clippy::result_large_err)] // rdkafka's send_result hands the record back in its Err
async fn send_shadow(
    producer: &FutureProducer,
    config: &ScorerConfig,
    shadow: &Shadowed,
) -> Result<DeliveryFuture> {
    let record = FutureRecord::to(&config.shadow_topic)
        .key(shadow.verdict.account.as_bytes())
        .payload(shadow.value.as_slice());
    produce::enqueue_async(
        record,
        |record| producer.send_result(record),
        QUEUE_FULL_BACKOFF,
    )
    .await
    .map_err(|e| anyhow!("cannot enqueue a shadow verdict: {e}"))
}
