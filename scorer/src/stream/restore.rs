//! The restore stage: hears of every rebalance ([`Rebalanced`]) and restores each newly assigned
//! partition's account states from the changelog ([`super::state::StateStore::restore`], on the blocking pool,
//! one partition at a time), then resumes the partition the consumer paused on assignment —
//! unless it was revoked meanwhile. It writes only the account states and the consumer's pause
//! state. A restore that fails is left to the scoring path, which tries again when the partition's
//! first message arrives and stops the replica if it still cannot.

use std::collections::VecDeque;
use std::sync::Arc;

use rdkafka::consumer::Consumer;
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::assignment::{Assignment, Rebalanced};
use super::ScorerConsumer;
use crate::replica::ReplicaState;

/// The restore stage's state.
pub(super) struct Restoring {
    /// From the consumer's context.
    pub rebalances: mpsc::UnboundedReceiver<Rebalanced>,
    pub consumer: Arc<ScorerConsumer>,
    pub replica: Arc<ReplicaState>,
    /// The input topic.
    pub topic: String,
    pub stop: CancellationToken,
}

impl Restoring {
    pub async fn run(mut self) {
        // Partitions assigned and not yet restored, with their epochs, in order.
        let mut pending = VecDeque::new();
        loop {
            // Every event heard so far first, so that a partition revoked before its turn is
            // dropped from the queue rather than restored.
            while let Ok(event) = self.rebalances.try_recv() {
                hear(&mut pending, event);
            }
            let Some((partition, epoch)) = pending.pop_front() else {
                let event = tokio::select! {
                    () = self.stop.cancelled() => break,
                    event = self.rebalances.recv() => event,
                };
                match event {
                    Some(event) => hear(&mut pending, event),
                    None => break,
                }
                continue;
            };
            if self.stop.is_cancelled() {
                break;
            }
            self.restore(partition, epoch).await;
        }
    }

    async fn restore(&self, partition: i32, epoch: u64) {
        let assignment: Arc<Assignment> = self.replica.assignment.clone();
        let held = move || assignment.holds(partition, epoch);
        if !held() {
            return; // revoked before its turn: the next owner restores it
        }
        let (replica, still_held) = (self.replica.clone(), held.clone());
        let restored = tokio::task::spawn_blocking(move || {
            replica.states.restore(partition, epoch, still_held)
        })
        .await;
        match restored {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                partition, error = %format!("{e:#}"),
                "cannot restore the partition's account states on assignment; its first message will try again"
            ),
            Err(e) => tracing::warn!(partition, error = %e, "the restore task failed"),
        }
        if held() {
            let mut list = TopicPartitionList::new();
            list.add_partition(&self.topic, partition);
            if let Err(e) = self.consumer.resume(&list) {
                tracing::warn!(partition, error = %e, "cannot resume a restored partition");
            }
        }
    }
}

/// Queues the partitions an event assigns; drops from the queue those it revokes.
fn hear(pending: &mut VecDeque<(i32, u64)>, event: Rebalanced) {
    match event {
        Rebalanced::Assigned { partitions } => pending.extend(partitions),
        Rebalanced::Revoked { partitions } => pending.retain(|(p, _)| !partitions.contains(p)),
    }
}
