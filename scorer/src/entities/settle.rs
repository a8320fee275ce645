//! A stage's acknowledgements, off its path: each batch's records are awaited by a task of their
//! own, in batch order, while the stage goes on with the next batches (at most
//! `--max-in-flight` of them unacknowledged, as in the PaySim pipeline).
//!
//! Once every record of a batch — and of every batch before it — is acknowledged, its verdicts
//! are counted and shown on the live page, and its offsets stored, for partitions still held
//! under the epoch they were read in. A delivery that fails for good stops the stage, with
//! nothing more stored: its batch and the later ones are read again by the next owner.

use std::sync::Arc;

use aegis_core::{DeadLetterReason, Decision, Verdict};
use aegis_kafka::produce::all_delivered;
use anyhow::{anyhow, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::DeliveryFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::key_stage::store;
use super::StageConsumer;
use crate::replica::ReplicaState;

/// What one batch of a stage wrote, and where its partitions may be stored once that is
/// acknowledged.
#[derive(Default)]
pub(super) struct Written {
    pub deliveries: Vec<DeliveryFuture>,
    pub verdicts: Vec<Verdict>,
    /// The shadow model's verdicts: awaited after the batch's own, a failure counted, never
    /// fatal (the shadow is measured, never acted on); with each, the live decision and the
    /// shadow's.
    pub shadow_deliveries: Vec<DeliveryFuture>,
    pub shadow_decisions: Vec<(Decision, Decision)>,
    pub dead_letters: Vec<DeadLetterReason>,
    pub offsets: Vec<ToStore>,
}

/// The next offset to read of one partition, stored only if it is still held under `epoch`.
pub(super) struct ToStore {
    pub topic: String,
    pub partition: i32,
    pub epoch: u64,
    pub next: i64,
}

/// The acknowledging task of one stage.
pub(super) struct Settler {
    batches: mpsc::Sender<Written>,
    task: JoinHandle<Result<()>>,
    stage: &'static str,
}

impl Settler {
    /// Starts the task for `stage` (its name in errors), `depth` batches deep; a failed delivery
    /// cancels `stop`.
    pub fn start(
        stage: &'static str,
        consumer: &Arc<StageConsumer>,
        replica: &Arc<ReplicaState>,
        depth: usize,
        stop: &CancellationToken,
    ) -> Settler {
        let (consumer, replica, stop) = (consumer.clone(), replica.clone(), stop.clone());
        let (batches, mut received) = mpsc::channel::<Written>(depth.max(1));
        let task = tokio::spawn(async move {
            while let Some(written) = received.recv().await {
                if let Err(e) = all_delivered(written.deliveries).await {
                    replica.metrics.delivery_failed();
                    stop.cancel();
                    return Err(anyhow!("{e}; stopping without storing offsets"));
                }
                for delivery in written.shadow_deliveries {
                    if aegis_kafka::produce::delivered(delivery).await.is_err() {
                        replica.metrics.shadow_delivery_failed();
                    }
                }
                for (live, shadow) in written.shadow_decisions {
                    replica.metrics.shadow_scored(live, shadow);
                }
                for verdict in &written.verdicts {
                    replica.metrics.verdict_written(verdict);
                    replica.live.record(verdict);
                }
                for reason in written.dead_letters {
                    replica.metrics.dead_letter_written(reason);
                }
                let context = consumer.context();
                for o in written.offsets {
                    if context.assignment(&o.topic).holds(o.partition, o.epoch) {
                        store(&consumer, &o.topic, o.partition, o.next);
                    }
                }
            }
            Ok(())
        });
        Settler {
            batches,
            task,
            stage,
        }
    }

    /// Hands a batch over, waiting while `depth` are unacknowledged; fails once a delivery has.
    pub async fn hand(&self, written: Written) -> Result<()> {
        if self.batches.send(written).await.is_err() {
            return Err(anyhow!("{} stage: a delivery failed", self.stage));
        }
        Ok(())
    }

    /// After the stage's loop ended with `result`: awaits every batch handed over, then commits
    /// what is stored and leaves the group. A failed delivery is the error before the loop's own.
    pub async fn close(self, consumer: &StageConsumer, result: Result<()>) -> Result<()> {
        drop(self.batches);
        let settled = self
            .task
            .await
            .map_err(|e| anyhow!("{} stage's acknowledgements: {e}", self.stage))
            .and_then(|r| r.map_err(|e| anyhow!("{} stage: {e}", self.stage)));
        super::finish(consumer);
        settled.and(result)
    }
}
