//! The scorer's consumer context: keeps the replica's [`Assignment`] of input partitions (epochs:
//! see `aegis_kafka::assignment`), pauses newly assigned partitions and tells the restore stage
//! of every rebalance as a typed [`Rebalanced`] event, and reports lag.

use std::sync::Arc;

pub use aegis_kafka::assignment::Assignment;
use aegis_kafka::assignment::{describe, partitions_of};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// A change of the partitions this replica holds, as the restore stage hears of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebalanced {
    /// Partitions newly held, each with its new assignment epoch; paused until restored.
    Assigned { partitions: Vec<(i32, u64)> },
    /// Partitions given away: a restore of them not yet begun is not begun.
    Revoked { partitions: Vec<i32> },
}

/// The consumer's context: keeps the [`Assignment`] up to date, logs rebalances, and turns
/// librdkafka's statistics into the consumer-lag metric. With account state kept in a changelog,
/// it pauses every partition as it is assigned and tells `rebalances` (the restore stage resumes
/// it once restored).
pub struct AssignmentContext {
    pub assignment: Arc<Assignment>,
    pub metrics: Arc<Metrics>,
    pub rebalances: Option<mpsc::UnboundedSender<Rebalanced>>,
    /// The topic the group subscribes to.
    pub input_topic: String,
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
            let partitions = partitions_of(list, &self.input_topic);
            self.assignment.revoke(&partitions);
            if let Some(rebalances) = &self.rebalances {
                let _ = rebalances.send(Rebalanced::Revoked { partitions });
            }
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
                let partitions = partitions_of(list, &self.input_topic);
                self.assignment.assign(&partitions);
                if let Some(rebalances) = &self.rebalances {
                    // Nothing of these partitions is fetched until their state is restored.
                    if let Err(e) = consumer.pause(list) {
                        tracing::warn!(error = %e, "cannot pause assigned partitions: their first messages restore them");
                    }
                    let partitions = partitions
                        .into_iter()
                        .map(|p| (p, self.assignment.epoch(p)))
                        .collect();
                    let _ = rebalances.send(Rebalanced::Assigned { partitions });
                }
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
        aegis_kafka::assignment::log_commit(result, offsets);
    }
}
