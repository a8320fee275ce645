//! The control topics: what a replica decides with, changed without a restart. Every replica reads
//! the compacted **models** topic (`models.rs`: key = role, `live` or `shadow`; value = the
//! artifact as `aegis-trainer train` writes it) and **rules** topic (`rules.rs`: key = rule set
//! name, value = the rule set as JSON) whole — assigned every partition, not as a group member,
//! since every replica needs every record — from the beginning: to their ends before the first
//! batch is scored, so a replica that starts later decides as the others do, then for as long as
//! it runs.
//!
//! This module owns the control consumer and writes only the replica's model and rule slots
//! ([`crate::models::Models`], [`crate::rules::Rules`]) and their metrics; the stream reads the
//! slots once per batch.

mod models;
mod rules;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_kafka as kafka;
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use aegis_core::clock::now_ms;
use aegis_core::error_line::one_line;
use aegis_core::signing::Artifact;
use aegis_core::spec::Spec;
use aegis_core::{Model, Role};

use crate::config::ScorerConfig;
use crate::models::{Installed, Origin};
use crate::replica::ReplicaState;
use crate::trust::Trust;

/// Longest the control topics may take to be read to their ends at start-up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for the broker's answers about a topic.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the control topics to their ends, installing what they hold, then follows them in a task
/// until `cancel` fires. `None` when there is nothing to follow (both flags `""`, or no such
/// topics: the replica decides with `--model` and `--rules` alone, and says so).
pub async fn start(
    config: &ScorerConfig,
    replica: Arc<ReplicaState>,
    cancel: CancellationToken,
) -> Result<Option<JoinHandle<()>>> {
    let control = Arc::new(Control {
        models: config.models_topic.clone(),
        rules: config.rules_topic.clone(),
        shadow: config.shadow_topic.clone(),
        replica,
    });
    let (brokers, properties) = (config.brokers.clone(), config.kafka.properties());
    let ends = {
        let control = control.clone();
        tokio::task::spawn_blocking(move || control.catch_up(&brokers, &properties)).await??
    };
    if ends.count() == 0 {
        return Ok(None);
    }
    let (model, rules) = (
        control.replica.models.live(),
        control.replica.rules.current(),
    );
    tracing::info!(
        model = %model.model_version(), rules = %rules.name, rule_count = rules.rules.len(),
        "control topics read; following them"
    );
    let follower: StreamConsumer = kafka::Settings::reader("aegis-scorer-control")
        .set("fetch.wait.max.ms", 100)
        .client_config(&config.brokers, &config.kafka.properties())
        .create()
        .context("cannot create the control topics' consumer")?;
    follower.assign(&ends)?;
    Ok(Some(tokio::spawn(control.follow(follower, cancel))))
}

/// The live model for a replica started without `--model`: the models topic read to its end and
/// its last `live` record taken that this replica trusts ([`Trust`]) and can read (a PaySim model,
/// as [`models`] checks one), read again every second until there is one or `budget` has passed —
/// then one line saying what to do. `None`: `cancel` fired meanwhile.
pub async fn first_live_model(
    config: &ScorerConfig,
    budget: Duration,
    cancel: &CancellationToken,
) -> Result<Option<Installed>> {
    let topic = config.models_topic.clone();
    let trust = trust_without_model(config)?;
    let (brokers, properties) = (config.brokers.clone(), config.kafka.properties());
    let deadline = Instant::now() + budget;
    loop {
        let read = {
            let (trust, topic, brokers, properties) = (
                trust.clone(),
                topic.clone(),
                brokers.clone(),
                properties.clone(),
            );
            tokio::task::spawn_blocking(move || {
                last_live_record(&trust, &topic, &brokers, &properties, deadline)
            })
            .await??
        };
        let refused = match read {
            Ok(installed) => {
                tracing::info!(
                    topic = %topic, model = %installed.model.model_version(),
                    "no --model given: took the models topic's live model"
                );
                return Ok(Some(installed));
            }
            Err(refused) => refused,
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "no --model given, and the models topic {topic} held no live model this replica \
                 can install within --connect-timeout ({}){}: publish one with `aegis-trainer \
                 publish --role live`, or pass --model FILE",
                aegis_kafka::duration::show(budget),
                refused
                    .map(|r| format!(" (last refused: {r})"))
                    .unwrap_or_default()
            );
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// What a replica started without `--model` trusts on the models topic; fails with one line when
/// it reads no models topic or trusts nothing (checked at start, before waiting for Kafka).
pub fn trust_without_model(config: &ScorerConfig) -> Result<Trust> {
    anyhow::ensure!(
        !config.models_topic.is_empty(),
        "no --model given, and --models-topic \"\" reads no models topic: give one of them"
    );
    Trust::from_config(config)
}

/// The models topic's last `live` record that `trust` lets in and that reads as a PaySim model
/// (a later refused one does not replace it, as in [`Control::apply`]); else why the last one was
/// refused, if one was.
fn last_live_record(
    trust: &Trust,
    topic: &str,
    brokers: &str,
    properties: &[kafka::Property],
    deadline: Instant,
) -> Result<std::result::Result<Installed, Option<String>>> {
    let reader: BaseConsumer = kafka::Settings::reader("aegis-scorer-control")
        .client_config(brokers, properties)
        .create()
        .context("cannot create the models topic's consumer")?;
    let deadline = deadline.max(Instant::now() + METADATA_TIMEOUT);
    let (mut good, mut refused) = (None, None);
    kafka::read_topic_to_end(&reader, topic, deadline, |message| {
        if message.key().and_then(Role::from_key) != Some(Role::Live) {
            return;
        }
        let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
            return;
        };
        let record = place(message);
        if let Err(refusal) = trust.check(Artifact::Model, message) {
            refused = Some(format!("{record}: {refusal}"));
            return;
        }
        let path = std::path::Path::new(&record);
        match Model::from_bytes(path, bytes)
            .and_then(|m| m.expect_spec(path, Spec::paysim()).map(|()| m))
        {
            Ok(model) => {
                good = Some(Installed {
                    model: Arc::new(model),
                    arrived_at: now_ms(),
                    origin: Origin::Topic {
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                        offset: message.offset(),
                    },
                });
            }
            Err(e) => refused = Some(format!("{record}: {}", one_line(&e))),
        }
    })
    .with_context(|| format!("cannot read the models topic {topic}"))?;
    Ok(good.ok_or(refused))
}

/// The control topics' names, and the replica whose slots they fill.
struct Control {
    models: String,
    rules: String,
    /// Where shadow verdicts go (a shadow model needs it).
    shadow: String,
    replica: Arc<ReplicaState>,
}

impl Control {
    /// Reads each control topic whole (blocking), installing every record in order; returns the
    /// positions to follow them from. A topic that does not exist is skipped with a warning.
    fn catch_up(
        &self,
        brokers: &str,
        properties: &[kafka::Property],
    ) -> Result<TopicPartitionList> {
        let reader: BaseConsumer = kafka::Settings::reader("aegis-scorer-control")
            .client_config(brokers, properties)
            .create()
            .context("cannot create the control topics' consumer")?;
        let deadline = Instant::now() + CATCH_UP_LIMIT;
        let mut ends = TopicPartitionList::new();
        for (topic, without) in [
            (&self.models, "--model only"),
            (&self.rules, "--rules only"),
        ] {
            if topic.is_empty() {
                continue;
            }
            let read = kafka::read_topic_to_end(&reader, topic, deadline, |m| {
                self.apply(&reader, m);
            })
            .with_context(|| {
                format!(
                    "cannot read the control topic {topic} to its end within {CATCH_UP_LIMIT:?}; \
                     check the broker, or pass --models-topic \"\" / --rules-topic \"\" to run without them"
                )
            })?;
            let Some(partitions) = read else {
                tracing::warn!(topic = %topic, "no such topic: scoring with {without} (create it to publish live)");
                continue;
            };
            for (partition, end) in partitions {
                ends.add_partition_offset(topic, partition, Offset::Offset(end))?;
            }
        }
        Ok(ends)
    }

    /// Installs or refuses one record of either topic: first its signature
    /// ([`crate::trust`]), then its content.
    fn apply<C: Consumer>(&self, consumer: &C, message: &BorrowedMessage<'_>) {
        let kind = if message.topic() == self.rules {
            Artifact::Rules
        } else {
            Artifact::Model
        };
        if let Err(refusal) = self.replica.trust.check(kind, message) {
            tracing::warn!(
                record = %place(message), reason = refusal.as_str(),
                "refused a {} record: {refusal}; keeping what is in use",
                message.topic()
            );
            self.replica.metrics.control_refused(kind, refusal);
            return;
        }
        if kind == Artifact::Rules {
            rules::apply(&self.replica, message);
        } else {
            let shadow_topic_exists = || {
                matches!(
                    kafka::topic_partitions(consumer, &self.shadow, METADATA_TIMEOUT),
                    Ok(Some(_))
                )
            };
            models::apply(&self.replica, &self.shadow, shadow_topic_exists, message);
        }
    }

    /// Follows both topics from where the catch-up ended until `cancel` fires.
    async fn follow(self: Arc<Self>, consumer: StreamConsumer, cancel: CancellationToken) {
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                m = consumer.recv() => m,
            };
            match message {
                Ok(m) => self.apply(&consumer, &m),
                Err(e) => {
                    tracing::warn!(error = %e, "control topic consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Where a control record sits, for log lines: `topic[partition]@offset`.
fn place(message: &BorrowedMessage<'_>) -> String {
    format!(
        "{}[{}]@{}",
        message.topic(),
        message.partition(),
        message.offset()
    )
}
