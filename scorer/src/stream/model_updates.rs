//! Models and rules changed without a restart. Every replica reads the compacted rules topic
//! (key = rule set name, value = the rule set as JSON; see [`apply_rules`]) as it reads the models
//! topic.
//!
//! Every replica reads the compacted models topic (key = role,
//! `live` or `shadow`; value = the artifact's bytes as `aegis-trainer train` writes them) whole —
//! assigned every partition, not as a group member, since every replica needs every record — from
//! the beginning: to its end before the first batch is scored, so a replica that starts later
//! scores with the current model, then for as long as it runs.
//!
//! Each record is checked exactly as the `--model` file is at start-up ([`Model::from_bytes`]).
//! A good one is installed in its slot, and the next batch is scored with it (see
//! [`crate::models`]); a corrupt or incompatible one is refused with a log line and
//! `aegis_model_updates_total{outcome="refused"}`, and the replica keeps the model it had. An empty
//! value (a tombstone) retires the shadow model; the live slot is never emptied.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::clock::now_ms;
use aegis_core::error_line::one_line;
use aegis_core::rules::RuleSet;
use aegis_core::Model;
use aegis_kafka as kafka;
use anyhow::{Context, Result};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ScorerConfig;
use crate::models::{Installed, Origin, Role};
use crate::replica::ReplicaState;

/// Longest wait for the broker's answers about the models topic at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the control topics — models, and rules — to their ends, installing what they hold, then
/// follows them in a task until `cancel` fires. `None` when there is nothing to follow (both
/// flags `""`, or no such topics: the replica scores with `--model` and `--rules` alone, and says
/// so).
pub async fn start(
    config: &ScorerConfig,
    replica: Arc<ReplicaState>,
    cancel: CancellationToken,
) -> Result<Option<JoinHandle<()>>> {
    let control = Control {
        models: config.models_topic.clone(),
        rules: config.rules_topic.clone(),
        shadow: config.shadow_topic.clone(),
    };
    let consumer: StreamConsumer = kafka::client_config(
        &config.brokers,
        &[
            // Never used to join a group or commit: every partition is assigned by hand.
            ("group.id", "aegis-scorer-control"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("fetch.wait.max.ms", "100"),
        ],
        &config.kafka.properties(),
    )
    .create()
    .context("cannot create the control topics' consumer")?;
    // Blocking calls, bounded by METADATA_TIMEOUT, once at start-up (as the cluster check's).
    let mut assigned = TopicPartitionList::new();
    let mut behind: Vec<(String, i32, i64)> = Vec::new();
    for (topic, without) in [
        (&control.models, "--model only"),
        (&control.rules, "--rules only"),
    ] {
        if topic.is_empty() {
            continue;
        }
        let Some(ends) = ends_of(&consumer, topic)? else {
            tracing::warn!(topic = %topic, "no such topic: scoring with {without} (create it to publish live)");
            continue;
        };
        for (partition, end) in ends {
            assigned.add_partition_offset(topic, partition, Offset::Beginning)?;
            if end > 0 {
                behind.push((topic.clone(), partition, end));
            }
        }
    }
    if assigned.count() == 0 {
        return Ok(None);
    }
    consumer.assign(&assigned)?;

    // Catch up: every partition read to the end it had at start-up.
    while !behind.is_empty() {
        let message = tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            m = tokio::time::timeout(METADATA_TIMEOUT, consumer.recv()) => m,
        };
        let message = match message {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "control topic consumer error");
                continue;
            }
            Err(_) => anyhow::bail!(
                "the control topics did not deliver their records within {METADATA_TIMEOUT:?}; \
                 check the broker, or pass --models-topic \"\" / --rules-topic \"\" to run without them"
            ),
        };
        control.apply(&replica, &consumer, &message);
        let (topic, partition, next) = (message.topic(), message.partition(), message.offset() + 1);
        behind.retain(|(t, p, end)| t != topic || *p != partition || next < *end);
    }
    let (model, rules) = (replica.scorer.model(), replica.scorer.rules());
    tracing::info!(
        model = %model.model_version, rules = %rules.name, rules_version = rules.version,
        "control topics read; following them"
    );

    Ok(Some(tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                m = consumer.recv() => m,
            };
            match message {
                Ok(m) => control.apply(&replica, &consumer, &m),
                Err(e) => {
                    tracing::warn!(error = %e, "control topic consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    })))
}

/// The control topics' names.
struct Control {
    models: String,
    rules: String,
    /// Where shadow verdicts go (a shadow model needs it).
    shadow: String,
}

impl Control {
    fn apply(
        &self,
        replica: &ReplicaState,
        consumer: &StreamConsumer,
        message: &BorrowedMessage<'_>,
    ) {
        if message.topic() == self.rules {
            apply_rules(replica, message);
        } else {
            apply(replica, consumer, &self.shadow, message);
        }
    }
}

/// Installs or refuses one record of the rules topic (key = rule set name, value = the rule set
/// as JSON, docs/rules.md): the latest good record is the rule set in use; a tombstone removes
/// the rules; a bad one is refused with a log line and a metric, and the rule set in use stays.
fn apply_rules(replica: &ReplicaState, message: &BorrowedMessage<'_>) {
    let place = format!(
        "{}[{}]@{}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
        replica.scorer.set_rules(RuleSet::empty());
        replica.metrics.rules_updated(true);
        tracing::info!(record = %place, "rules removed: the model alone decides");
        return;
    };
    match RuleSet::from_json(bytes) {
        Ok(rules) => {
            tracing::info!(
                record = %place, rules = %rules.name, version = rules.version, count = rules.rules.len(),
                "rule set installed"
            );
            replica.metrics.rules_loaded(&rules);
            replica.scorer.set_rules(rules);
            replica.metrics.rules_updated(true);
        }
        Err(e) => {
            tracing::warn!(record = %place, error = %one_line(&e), "refused a rule set; keeping the one in use");
            replica.metrics.rules_updated(false);
        }
    }
}

/// The partitions of `topic` (from the cluster's metadata); `None` if the topic does not exist.
fn partitions_of(consumer: &StreamConsumer, topic: &str) -> Result<Option<Vec<i32>>> {
    kafka::topic_partitions(consumer, topic, METADATA_TIMEOUT)
        .with_context(|| format!("cannot read the metadata of {topic}"))
}

/// Each partition of `topic` with its high watermark (the offset after its last record); `None`
/// if the topic does not exist.
fn ends_of(consumer: &StreamConsumer, topic: &str) -> Result<Option<Vec<(i32, i64)>>> {
    let Some(partitions) = partitions_of(consumer, topic)? else {
        return Ok(None);
    };
    partitions
        .into_iter()
        .map(|partition| {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
                .with_context(|| format!("cannot read the end of {topic} partition {partition}"))?;
            Ok((partition, high))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Installs or refuses one record of the models topic. A shadow model is refused while
/// `shadow_topic`, where its verdicts go, does not exist: writing to a missing topic would stall
/// the stream's acknowledgements.
fn apply(
    replica: &ReplicaState,
    consumer: &StreamConsumer,
    shadow_topic: &str,
    message: &BorrowedMessage<'_>,
) {
    let at = Origin::Topic {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
    };
    let place = format!(
        "{}[{}]@{}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    let Some(role) = message.key().and_then(Role::from_key) else {
        tracing::warn!(
            record = %place,
            "refused a models record: its key must be `live` or `shadow`"
        );
        replica.metrics.model_refused(None);
        return;
    };
    let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
        match role {
            Role::Shadow => {
                replica.scorer.models().retire_shadow();
                replica.metrics.shadow_retired();
                tracing::info!(record = %place, "shadow model retired");
            }
            Role::Live => {
                tracing::warn!(record = %place, "refused an empty live model: the live slot is never emptied");
                replica.metrics.model_refused(Some(role));
            }
        }
        return;
    };
    if role == Role::Shadow && !matches!(partitions_of(consumer, shadow_topic), Ok(Some(_))) {
        tracing::warn!(
            record = %place, shadow_topic,
            "refused a shadow model: its verdicts' topic does not exist (create it, then publish again)"
        );
        replica.metrics.model_refused(Some(role));
        return;
    }
    match Model::from_bytes(Path::new(&place), bytes) {
        Ok(model) => {
            let now = now_ms();
            let model = Arc::new(model);
            let version = model.model_version.clone();
            let models = replica.scorer.models();
            let before = match role {
                Role::Live => Some(models.live().model_version.clone()),
                Role::Shadow => models.shadow().map(|m| m.model_version.clone()),
            };
            models.install(
                role,
                Installed {
                    model: model.clone(),
                    arrived_at: now,
                    origin: at,
                },
            );
            replica.metrics.model_installed(role, &model, now);
            tracing::info!(
                record = %place, role = role.as_str(), model = %version,
                previous = before.as_deref().unwrap_or("none"),
                "model installed"
            );
        }
        Err(e) => {
            tracing::warn!(
                record = %place, role = role.as_str(), error = %one_line(&e),
                "refused a model; keeping the one in use"
            );
            replica.metrics.model_refused(Some(role));
        }
    }
}
