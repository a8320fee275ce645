//! Which input partitions this replica owns, and since when. Every assignment of a partition gets
//! a fresh epoch; work remembers the epoch it was received under, and its offset is stored only if
//! the partition is still held under that same epoch. So a revoked partition's unfinished work
//! never stores an offset: the partition's next owner re-reads it (at least once, never lost).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Epoch meaning "not assigned": work received under it never stores an offset.
pub const UNASSIGNED: u64 = 0;

/// The partitions held and their epochs, shared by the consumer's context, the pipeline and the
/// HTTP readiness check.
#[derive(Default)]
pub struct Assignment {
    epochs: Mutex<HashMap<i32, u64>>,
    next_epoch: AtomicU64,
    rebalances: AtomicU64,
}

impl Assignment {
    /// The epoch under which `partition` is held now, or [`UNASSIGNED`].
    pub fn epoch(&self, partition: i32) -> u64 {
        self.lock().get(&partition).copied().unwrap_or(UNASSIGNED)
    }

    /// Whether `partition` is still held under `epoch`.
    pub fn holds(&self, partition: i32, epoch: u64) -> bool {
        epoch != UNASSIGNED && self.epoch(partition) == epoch
    }

    /// Partitions held now, sorted.
    pub fn partitions(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self.lock().keys().copied().collect();
        p.sort_unstable();
        p
    }

    /// How many rebalances (assignments and revocations) this replica has seen.
    pub fn rebalances(&self) -> u64 {
        self.rebalances.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, u64>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.epochs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn assign(&self, list: &TopicPartitionList) {
        let mut epochs = self.lock();
        for p in list.elements() {
            let epoch = self.next_epoch.fetch_add(1, Ordering::Relaxed) + 1;
            epochs.insert(p.partition(), epoch);
        }
    }

    fn revoke(&self, list: &TopicPartitionList) {
        let mut epochs = self.lock();
        for p in list.elements() {
            epochs.remove(&p.partition());
        }
    }
}

fn describe(list: &TopicPartitionList) -> String {
    list.elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The consumer's context: keeps the [`Assignment`] up to date, logs rebalances, and turns
/// librdkafka's statistics into the consumer-lag metric. With account state kept in a changelog,
/// it pauses every partition as it is assigned and asks `restores` to restore it (the pipeline
/// resumes it once restored).
pub struct AssignmentContext {
    pub assignment: Arc<Assignment>,
    pub metrics: Arc<Metrics>,
    pub restores: Option<mpsc::UnboundedSender<(i32, u64)>>,
}

impl ClientContext for AssignmentContext {
    fn stats(&self, statistics: Statistics) {
        let held = self.assignment.partitions();
        for topic in statistics.topics.values() {
            for (id, partition) in &topic.partitions {
                // librdkafka reports -1 for partitions it is not consuming, and a pseudo partition -1.
                if *id >= 0 && held.contains(id) && partition.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[&id.to_string()])
                        .set(partition.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for AssignmentContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            // Before librdkafka commits and gives the partitions away: from now on no offset is
            // stored for work received from them.
            self.assignment.revoke(list);
            self.assignment.rebalances.fetch_add(1, Ordering::Relaxed);
            self.metrics.rebalances.inc();
            for p in list.elements() {
                let _ = self
                    .metrics
                    .consumer_lag
                    .remove_label_values(&[&p.partition().to_string()]);
            }
            self.metrics
                .assigned_partitions
                .set(self.assignment.partitions().len() as i64);
            tracing::info!(partitions = %describe(list), "partitions revoked");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.assignment.assign(list);
                if let Some(restores) = &self.restores {
                    // Nothing of these partitions is fetched until their state is restored.
                    if let Err(e) = consumer.pause(list) {
                        tracing::warn!(error = %e, "cannot pause assigned partitions: their first messages restore them");
                    }
                    for p in list.elements() {
                        let _ =
                            restores.send((p.partition(), self.assignment.epoch(p.partition())));
                    }
                }
                self.assignment.rebalances.fetch_add(1, Ordering::Relaxed);
                self.metrics.rebalances.inc();
                self.metrics
                    .assigned_partitions
                    .set(self.assignment.partitions().len() as i64);
                tracing::info!(partitions = %describe(list), "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::debug!(offsets = ?offsets, "offsets committed"),
            Err(e) => tracing::warn!(error = %e, "offset commit failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(partitions: &[i32]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition("transactions", *p);
        }
        list
    }

    #[test]
    fn incremental_changes_keep_the_epochs_of_partitions_held_throughout() {
        let a = Assignment::default();
        a.assign(&list(&[0, 1]));
        let (e0, e1) = (a.epoch(0), a.epoch(1));
        assert!(a.holds(0, e0) && a.holds(1, e1) && e0 != e1);

        // Cooperative: only the moved partitions are listed.
        a.assign(&list(&[2]));
        a.revoke(&list(&[1]));
        assert_eq!(a.partitions(), vec![0, 2]);
        assert!(a.holds(0, e0), "work on a kept partition still stores");
        assert!(!a.holds(1, e1), "work on a revoked one never does");

        // Given back later: a new epoch, so work from the first tenure stays unstored.
        a.assign(&list(&[1]));
        assert!(!a.holds(1, e1));
        assert!(a.holds(1, a.epoch(1)));
    }

    #[test]
    fn eager_changes_revoke_everything_then_assign_everything() {
        let a = Assignment::default();
        a.assign(&list(&[0, 1]));
        let e0 = a.epoch(0);
        a.revoke(&list(&[0, 1]));
        assert!(a.partitions().is_empty());
        assert_eq!(a.epoch(0), UNASSIGNED);
        a.assign(&list(&[0]));
        assert!(!a.holds(0, e0), "a new tenure, even of the same partition");
        assert!(!a.holds(5, UNASSIGNED));
    }
}
