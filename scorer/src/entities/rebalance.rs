//! The stages' consumer context: one [`Assignment`] per subscribed topic (epochs: see
//! `aegis_kafka::assignment`), so that a stage drops the state of a partition it no longer holds
//! and stores offsets only for partitions held under the epoch their messages arrived in.

use std::collections::HashMap;
use std::sync::Arc;

use aegis_kafka::assignment::{describe, partitions_of, Assignment};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::TopicPartitionList;

/// Keeps each topic's [`Assignment`] as rebalances move partitions.
pub struct EpochContext {
    /// The stage's name, in logs.
    pub stage: &'static str,
    pub topics: HashMap<String, Arc<Assignment>>,
}

impl EpochContext {
    /// A context tracking `topics`.
    pub fn new(stage: &'static str, topics: &[&str]) -> EpochContext {
        EpochContext {
            stage,
            topics: topics
                .iter()
                .map(|t| ((*t).to_owned(), Arc::default()))
                .collect(),
        }
    }

    /// `topic`'s assignment.
    pub fn assignment(&self, topic: &str) -> Arc<Assignment> {
        self.topics.get(topic).cloned().unwrap_or_default()
    }
}

impl ClientContext for EpochContext {}

impl ConsumerContext for EpochContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            for (topic, assignment) in &self.topics {
                assignment.revoke(&partitions_of(list, topic));
            }
            tracing::info!(stage = self.stage, partitions = %describe(list), "partitions revoked");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                // A partition paused before it was revoked (labels waiting for their
                // transactions) may come back paused; the stage starts every assignment afresh.
                if let Err(e) = consumer.resume(list) {
                    tracing::warn!(stage = self.stage, error = %e, "cannot resume assigned partitions");
                }
                for (topic, assignment) in &self.topics {
                    assignment.assign(&partitions_of(list, topic));
                }
                tracing::info!(stage = self.stage, partitions = %describe(list), "partitions assigned");
            }
            Rebalance::Error(e) => {
                tracing::warn!(stage = self.stage, error = %e, "rebalance error")
            }
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        aegis_kafka::assignment::log_commit(result, offsets);
    }
}
