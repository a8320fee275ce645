//! The stream side of a replica: a consumer-group pipeline of stages, each a task that owns its
//! state and does one job, joined by bounded channels (at most `--max-in-flight` batches each):
//!
//! | stage | job | writes |
//! |---|---|---|
//! | 1. [`intake`] | polls the consumer, gathers batches (`--batch-size`, `--batch-linger`) | nothing |
//! | 2. [`process`] | on the blocking pool: [`decode`] bytes → transaction or dead letter; [`state`]: the account's features, updated; decide: model + rules (`aegis_core::decide`); encode — then hands every output to the producers ([`produce`]) | account states |
//! | 3. [`acknowledge`] | awaits each batch's verdicts and dead letters, in order; counts them | metrics, the live page |
//! | 4. [`acknowledge`] | awaits each batch's account states in the changelog, then stores its offsets — only for partitions still held under the epoch the messages arrived in ([`assignment`]) | consumer offsets |
//! | [`restore`] | hears of rebalances ([`assignment::Rebalanced`]); restores each assigned partition's account states from the changelog, then resumes it | account states |
//!
//! Beside them, [`crate::control`] follows the models and rules topics into the replica's slots,
//! which stage 2 reads once per batch.
//!
//! librdkafka commits stored offsets in the background, so a crash repeats at most the
//! unacknowledged tail: at least once, never lost. A delivery that fails for good stops the
//! replica with an error rather than skipping a message. [`Pipeline::shutdown`] stops intake,
//! drains the stages, then flushes, commits and closes — all within a bounded time.

pub mod acknowledge;
pub mod assignment;
pub mod clients;
pub mod decode;
pub mod intake;
pub mod process;
pub mod produce;
pub mod restore;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use aegis_kafka as kafka;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::Consumer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use acknowledge::{Acknowledging, StoringOffsets};
use clients::{create_consumer, create_producer, producer_settings, state_producer_settings};
use intake::Intake;
use process::Processing;
use produce::Outputs;
use restore::Restoring;

use crate::config::{LiveView, ScorerConfig};
use crate::replica::ReplicaState;

/// The scorer's consumer: a group member whose context tracks the assignment.
type ScorerConsumer = rdkafka::consumer::StreamConsumer<assignment::AssignmentContext>;

/// A running pipeline: its stages' tasks and the clients they share.
pub struct Pipeline {
    consumer: Arc<ScorerConsumer>,
    outputs: Arc<Outputs>,
    intake: JoinHandle<()>,
    /// Stages 2–4, in order; each ends once the one before it has.
    processing: JoinHandle<Result<()>>,
    acknowledging: JoinHandle<Result<()>>,
    storing: JoinHandle<Result<()>>,
    restoring: JoinHandle<()>,
    /// Following the control topics, when there are any.
    control: Option<JoinHandle<()>>,
    /// Fires on shutdown, and when a stage stops for good.
    stop: CancellationToken,
}

impl Pipeline {
    /// Reads the control topics to their ends (so a replica starting late scores with the current
    /// model from its first verdict), creates the clients, subscribes, and spawns the stages.
    /// `cancel` asks the pipeline to stop.
    pub async fn spawn(
        config: &ScorerConfig,
        replica: Arc<ReplicaState>,
        cancel: &CancellationToken,
    ) -> Result<Pipeline> {
        let stop = cancel.child_token();
        let control = crate::control::start(config, replica.clone(), stop.clone()).await?;
        let (rebalances_tx, rebalances) = mpsc::unbounded_channel();
        let (consumer, outputs) = clients(config, &replica, rebalances_tx)?;
        consumer
            .subscribe(&[&config.input_topic])
            .with_context(|| format!("cannot subscribe to {}", config.input_topic))?;
        tracing::info!(
            input = %config.input_topic, group = %config.group_id,
            model = %replica.models.live().model_version(),
            properties = %kafka::describe(&config.kafka.properties()),
            "scorer started"
        );
        let clients = Clients {
            consumer,
            outputs,
            rebalances,
        };
        Ok(Pipeline::stages(config, replica, clients, control, stop))
    }

    /// Spawns the stages, joined by channels of `--max-in-flight` batches.
    fn stages(
        config: &ScorerConfig,
        replica: Arc<ReplicaState>,
        clients: Clients,
        control: Option<JoinHandle<()>>,
        stop: CancellationToken,
    ) -> Pipeline {
        let Clients {
            consumer,
            outputs,
            rebalances,
        } = clients;
        let depth = config.max_in_flight as usize;
        let (batches_tx, batches) = mpsc::channel(depth);
        let (flights_tx, flights) = mpsc::channel(depth);
        let (settled_tx, settled) = mpsc::channel(depth);
        let intake = Intake {
            consumer: consumer.clone(),
            assignment: replica.assignment.clone(),
            metrics: replica.metrics.clone(),
            batch_size: config.batch_size as usize,
            linger: config.batch_linger(),
            batches: batches_tx,
            stop: stop.clone(),
        };
        let processing = Processing {
            batches,
            flights: flights_tx,
            replica: replica.clone(),
            outputs: outputs.clone(),
            stop: stop.clone(),
        };
        let acknowledging = Acknowledging {
            flights,
            settled: settled_tx,
            metrics: replica.metrics.clone(),
            live: (config.live_view == LiveView::Own).then(|| replica.live.clone()),
            stop: stop.clone(),
        };
        let storing = StoringOffsets {
            settled,
            consumer: consumer.clone(),
            assignment: replica.assignment.clone(),
            metrics: replica.metrics.clone(),
            topic: config.input_topic.clone(),
            stop: stop.clone(),
        };
        let restoring = Restoring {
            rebalances,
            consumer: consumer.clone(),
            replica,
            topic: config.input_topic.clone(),
            stop: stop.clone(),
        };
        Pipeline {
            consumer,
            outputs,
            processing: tokio::spawn(processing.run()),
            acknowledging: tokio::spawn(acknowledging.run()),
            storing: tokio::spawn(storing.run()),
            restoring: tokio::spawn(restoring.run()),
            intake: tokio::spawn(intake.run()),
            control,
            stop,
        }
    }

    /// Resolves once the pipeline is asked to stop, or a stage stopped for good.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// The ordered shutdown, all within `budget`: intake stops; the stages drain (at most two
    /// thirds of the budget, so that offsets of acknowledged work can still be committed); then
    /// the producers flush and the consumer commits and closes in the time left. Whatever is
    /// still in flight when the drain runs out is not stored, so it will be read again.
    pub async fn shutdown(self, budget: Duration) -> Result<()> {
        let Pipeline {
            consumer,
            outputs,
            intake,
            mut processing,
            mut acknowledging,
            mut storing,
            restoring,
            control,
            stop,
        } = self;
        stop.cancel();
        let started = Instant::now();
        let _ = intake.await;
        restoring.abort();
        let drain = budget - budget / 3;
        let drained = tokio::time::timeout(drain, async {
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
        let drained = drained.unwrap_or_else(|_| {
            processing.abort();
            acknowledging.abort();
            storing.abort();
            Err(anyhow!(
                "in-flight work did not drain within {drain:?}; it will be scored again"
            ))
        });
        let finish = kafka::service::finish(
            consumer,
            outputs.producers(),
            budget.saturating_sub(started.elapsed()),
            "scorer",
            "scored",
        )
        .await;
        if let Some(control) = control {
            let _ = control.await;
        }
        drained.and(finish.map_err(anyhow::Error::from))
    }
}

/// The pipeline's Kafka clients, before the stages take them.
struct Clients {
    consumer: Arc<ScorerConsumer>,
    outputs: Arc<Outputs>,
    /// What the consumer's context tells the restore stage.
    rebalances: mpsc::UnboundedReceiver<assignment::Rebalanced>,
}

/// The group consumer (telling `rebalances` of every rebalance when account states are kept in a
/// changelog) and the producers.
fn clients(
    config: &ScorerConfig,
    replica: &ReplicaState,
    rebalances: mpsc::UnboundedSender<assignment::Rebalanced>,
) -> Result<(Arc<ScorerConsumer>, Arc<Outputs>)> {
    let keeps_changelog = !config.state_changelog_topic.is_empty();
    let consumer = create_consumer(config, replica, keeps_changelog.then_some(rebalances))?;
    let producer = create_producer(config, &producer_settings())?;
    let state_producer = keeps_changelog
        .then(|| create_producer(config, &state_producer_settings(config.state_linger_ms)))
        .transpose()?;
    Ok((
        Arc::new(consumer),
        Arc::new(Outputs::new(config, producer, state_producer)),
    ))
}

/// Runs one replica until `cancel` fires (or a delivery fails for good), then shuts down within
/// `--shutdown-timeout`.
pub async fn run(
    config: ScorerConfig,
    replica: Arc<ReplicaState>,
    cancel: CancellationToken,
) -> Result<()> {
    let pipeline = Pipeline::spawn(&config, replica, &cancel).await?;
    pipeline.stopped().await;
    pipeline.shutdown(config.shutdown_timeout()).await
}
