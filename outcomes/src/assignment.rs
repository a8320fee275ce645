//! Which partitions this instance joins, and since when, with co-partitioning kept by hand.
//!
//! The group subscribes to the verdicts topic alone, with the cooperative-sticky protocol (the one
//! that recovers from a member killed without leaving on tansu as on Kafka; see chaos/README.md).
//! When verdicts partition `p` is assigned, this instance also assigns itself labels partition `p`
//! and shadow verdicts partition `p` (same key, same partition count, so one account's verdicts,
//! shadow verdicts and labels meet there), and gives them up with verdicts `p`. Their offsets are
//! committed by the same group member as the verdicts'.
//!
//! Every assignment of `p` gets a fresh epoch ([`Assignment`], shared with the scorer through
//! `aegis_kafka`): work remembers the epoch it was read under, and its offsets are stored only
//! while `p` is still held under that epoch, so a partition taken away never has an offset stored
//! for it by this instance again.

use std::sync::Arc;

use aegis_kafka::assignment::partitions_of;
pub use aegis_kafka::assignment::{Assignment, UNASSIGNED};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::TopicPartitionList;

use crate::metrics::Metrics;

/// The consumer's context: keeps the [`Assignment`], follows each verdicts partition with the
/// labels (and shadow verdicts) partition of the same number, and logs and counts rebalances.
pub struct OutcomesContext {
    /// Shared with the stream.
    pub assignment: Arc<Assignment>,
    /// Shared with the HTTP server.
    pub metrics: Arc<Metrics>,
    /// The topic the group subscribes to.
    pub verdicts_topic: String,
    /// The topics whose partitions follow the verdicts': labels, and shadow verdicts if read.
    pub followers: Vec<String>,
}

impl OutcomesContext {
    fn verdict_partitions(&self, list: &TopicPartitionList) -> Vec<i32> {
        partitions_of(list, &self.verdicts_topic)
    }

    fn followers(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for topic in &self.followers {
            for p in partitions {
                list.add_partition(topic, *p);
            }
        }
        list
    }
}

impl ClientContext for OutcomesContext {}

impl ConsumerContext for OutcomesContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            // Before librdkafka commits and gives the partitions away: from now on no offset is
            // stored for work read from them.
            let partitions = self.verdict_partitions(list);
            self.assignment.revoke(&partitions);
            self.metrics.rebalances.inc();
            if let Err(e) = consumer.incremental_unassign(&self.followers(&partitions)) {
                tracing::warn!(error = %e, ?partitions, followers = ?self.followers, "cannot give up the partitions that follow the verdicts'");
            }
            tracing::info!(followers = ?self.followers, ?partitions, "partitions revoked (verdicts and followers)");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let partitions = self.verdict_partitions(list);
                self.assignment.assign(&partitions);
                self.metrics.rebalances.inc();
                if let Err(e) = consumer.incremental_assign(&self.followers(&partitions)) {
                    tracing::error!(error = %e, ?partitions, followers = ?self.followers, "cannot take the partitions that follow the verdicts'");
                }
                tracing::info!(followers = ?self.followers, ?partitions, "partitions assigned (verdicts and followers)");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        aegis_kafka::assignment::log_commit(result, offsets);
    }
}
