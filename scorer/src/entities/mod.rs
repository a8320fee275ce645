//! The stream on a spec other than PaySim (docs/streaming-features.md): features of any entity,
//! exact with any number of replicas.
//!
//! The transaction topic is keyed by one entity (the card). Features of that entity, and those of
//! no entity, are computed by [`key_stage`], which owns the key's partitions. A spec with features
//! of one other entity (the terminal) gets a second stage, [`entity_stage`]: the first forwards
//! each transaction with its share of the features to the repartition topic
//! `<input>.by.<ENTITY>`, keyed by that entity, with watermarks; the second puts every source
//! partition's records back into event-time order, computes the entity's features with the same
//! engine, scores, and writes the verdict (key = the transaction's key). Labels, read by the first
//! stage from the labels topic (co-partitioned with the transactions), are forwarded to the
//! entity's partition to count from their delay on.
//!
//! Both stages are consumer groups of their own (`<group>` and `<group>.<ENTITY>`); each stores
//! an offset only after everything it wrote for the records before it is acknowledged, and
//! rebuilds a partition's state, when it takes the partition over, by reading the partition's
//! records before its committed offset again (the topic is its own changelog: it must be retained
//! for the longest span the spec's features look back over). At least once: a crash repeats the
//! tail; the second stage knows a repeated transaction by its source offset, and a repeated label
//! changes nothing.

mod ends;
pub mod entity_stage;
pub mod key_stage;
mod rebalance;
mod scoring;
mod settle;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use aegis_core::avro::SpecCodec;
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::entities::{EntityLimits, Evictions};
use aegis_core::spec::record::Value;
use aegis_core::spec::{FeatureSpec, Spec};
use aegis_core::Model;
use anyhow::{anyhow, bail, Context, Result};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use crate::config::ScorerConfig;
use crate::replica::ReplicaState;
use rebalance::EpochContext;

/// The flags of the stream on a spec.
#[derive(clap::Args, Clone, Debug)]
pub struct EntityFlags {
    /// Topic of labels (key = the transaction's account or the spec's key, as many partitions as
    /// the input topic): read by scorers of a spec with label-delayed risk features of another
    /// entity, and where the review queue writes analysts' labels (`""` turns labelling off).
    #[arg(long, env = "AEGIS_LABELS_TOPIC", value_name = "TOPIC", default_value = aegis_core::topics::LABELS_TOPIC)]
    pub labels_topic: String,
    /// How long an input partition must have had nothing new, read to its end, before the
    /// second stage is told not to wait for it (a replay's end, a quiet partition).
    #[arg(
        long = "idle-after",
        env = "AEGIS_SCORER_IDLE_AFTER",
        default_value = "2s",
        value_name = "DURATION",
        value_parser = aegis_kafka::duration::millis(0, u64::MAX)
    )]
    pub idle_after_ms: u64,
    /// Time allowed to rebuild a partition's entity state from its records when a stage takes
    /// it over.
    #[arg(
        long = "entity-restore-timeout",
        env = "AEGIS_SCORER_ENTITY_RESTORE_TIMEOUT",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = aegis_kafka::duration::secs(1, u64::MAX)
    )]
    pub entity_restore_timeout_secs: u64,
    /// Most entities (cards, terminals) whose recent transactions a stage keeps per partition
    /// and entity field; the least recently seen is forgotten first, and its features start
    /// again from none when it comes back (counted in aegis_entity_evictions_total).
    #[arg(long, env = "AEGIS_SCORER_ENTITY_MAX_KEYS", default_value_t = DEFAULT_MAX_KEYS, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub entity_max_keys: u64,
    /// Most transactions a stage keeps per partition and entity field, over all its entities;
    /// past it, the least recently seen entities are forgotten (and an entity with more on its
    /// own keeps its newest).
    #[arg(long, env = "AEGIS_SCORER_ENTITY_MAX_EVENTS", default_value_t = DEFAULT_MAX_EVENTS, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub entity_max_events: u64,
}

/// `--entity-max-keys`'s default, per partition and entity field: about 30 MB of entities
/// (docs/streaming-features.md, "Memory"; with the transactions' default, at most about 115 MB).
pub const DEFAULT_MAX_KEYS: u64 = 100_000;
/// `--entity-max-events`'s default, per partition and entity field: at most about 85 MB of
/// transactions.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;

impl EntityFlags {
    /// The limits of each partition's entity tables.
    pub fn limits(&self) -> EntityLimits {
        EntityLimits {
            max_keys: usize::try_from(self.entity_max_keys).unwrap_or(usize::MAX),
            max_events: usize::try_from(self.entity_max_events).unwrap_or(usize::MAX),
        }
    }
}

impl Default for EntityFlags {
    fn default() -> Self {
        EntityFlags {
            labels_topic: aegis_core::topics::LABELS_TOPIC.to_owned(),
            idle_after_ms: 2000,
            entity_restore_timeout_secs: 300,
            entity_max_keys: DEFAULT_MAX_KEYS,
            entity_max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// How a spec's features split between the stages.
pub struct Plan {
    pub spec: Spec,
    pub codec: SpecCodec,
    /// The spec's key field (the transaction topic's key).
    pub key: String,
    /// The one other entity with features, owned by the second stage.
    pub other: Option<Other>,
    /// Features in the whole vector.
    pub width: usize,
    /// Where each of the first stage's features goes in the whole vector.
    pub key_positions: Vec<usize>,
    /// The limits of each stage's entity tables, per partition (`--entity-max-keys`,
    /// `--entity-max-events`).
    pub limits: EntityLimits,
}

/// The entity the second stage owns.
pub struct Other {
    /// Its field's name and index.
    pub name: String,
    pub field: usize,
    /// Its repartition topic.
    pub topic: String,
    /// How long the first stage remembers a transaction's entity, for its label: the longest
    /// risk window plus the label delay (0: no risk feature, labels are not read).
    pub label_span_ms: i64,
}

impl Plan {
    /// Splits `spec`'s features; refuses, in one line, what the stream cannot compute exactly yet.
    /// Its engines keep no more than `limits` per partition and entity field.
    pub fn new(spec: &Spec, input_topic: &str, limits: EntityLimits) -> Result<Plan> {
        let key = spec.key_field().map(|f| f.name.clone()).ok_or_else(|| {
            anyhow!(
                "spec `{}` has no [wire] key: the stream needs one to partition by",
                spec.name
            )
        })?;
        let mut others: Vec<&str> = spec
            .features
            .iter()
            .filter_map(FeatureSpec::entity)
            .filter(|e| *e != key)
            .collect();
        others.sort_unstable();
        others.dedup();
        if others.len() > 1 {
            bail!(
                "spec `{}` has features of {} entities besides its key {key} ({}): the stream computes one so far",
                spec.name,
                others.len(),
                others.join(", ")
            );
        }
        if let Some(f) = spec
            .features
            .iter()
            .find(|f| f.risk.is_some() && f.entity() == Some(key.as_str()))
        {
            bail!(
                "spec `{}`: feature `{}` is a risk of the key entity {key}; the stream computes risks of another entity only so far",
                spec.name,
                f.name
            );
        }
        let other = others.first().map(|name| {
            let label_span_ms = spec
                .features
                .iter()
                .filter(|f| f.entity() == Some(*name))
                .filter_map(|f| f.risk.as_ref())
                .map(|r| r.over.millis() + spec.label_delay().millis())
                .max()
                .unwrap_or(0);
            Other {
                name: (*name).to_owned(),
                field: spec
                    .fields
                    .iter()
                    .position(|f| f.name == *name)
                    .unwrap_or(0),
                topic: repartition_topic(input_topic, name),
                label_span_ms,
            }
        });
        let mut plan = Plan {
            codec: SpecCodec::new(spec).context("the spec's Avro schema")?,
            width: FeatureEngine::new(spec).width(),
            spec: spec.clone(),
            key,
            other,
            key_positions: Vec::new(),
            limits,
        };
        plan.key_positions = plan.key_engine().positions().to_vec();
        Ok(plan)
    }

    /// The topics the stages need beyond the scorer's own, each with the flag that names it.
    pub fn topics(&self, config: &ScorerConfig) -> Vec<(String, &'static str)> {
        let mut topics = Vec::new();
        if let Some(other) = &self.other {
            topics.push((
                other.topic.clone(),
                "--transactions-topic (its .by.<ENTITY> repartition topic)",
            ));
            if other.label_span_ms > 0 {
                topics.push((config.entities.labels_topic.clone(), "--labels-topic"));
            }
        }
        topics
    }

    /// The first stage's engine: features of the key entity and of none.
    pub fn key_engine(&self) -> FeatureEngine {
        let other = self.other.as_ref().map(|o| o.name.clone());
        FeatureEngine::with_features(&self.spec, move |f| {
            other.is_none() || f.entity() != other.as_deref()
        })
        .labels_applied()
        .limited(self.limits)
    }

    /// The second stage's engine: features of the other entity.
    pub fn other_engine(&self) -> FeatureEngine {
        let other = self.other.as_ref().map(|o| o.name.clone());
        FeatureEngine::with_features(&self.spec, move |f| {
            other.is_some() && f.entity() == other.as_deref()
        })
        .labels_applied()
        .limited(self.limits)
    }
}

/// The repartition topic of `entity` for transactions read from `input`.
pub fn repartition_topic(input: &str, entity: &str) -> String {
    format!("{input}.by.{entity}")
}

/// An entity's value as text: a repartition record's Kafka key.
pub fn entity_text(value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Enum(i) => i.to_string(),
        Value::Float(x) => x.to_bits().to_string(),
        Value::Text(t) => t.clone(),
    }
}

/// One consumed message, detached from the consumer, with the epoch its partition was held under.
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message's Kafka timestamp (milliseconds; -1 when it has none).
    pub timestamp: i64,
    pub epoch: u64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

type StageConsumer = StreamConsumer<EpochContext>;

fn detach(consumer: &StageConsumer, m: &BorrowedMessage<'_>) -> Received {
    let epoch = consumer
        .context()
        .assignment(m.topic())
        .epoch(m.partition());
    Received {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        epoch,
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
    }
}

/// Up to `size` messages, waiting at most `wait` for the first and `linger` for the rest; empty
/// when none came (the stage's timers still run), `stop` fired or `woken` was notified (what the
/// stage waited for is in).
async fn gather(
    consumer: &StageConsumer,
    size: usize,
    wait: Duration,
    linger: Duration,
    stop: &CancellationToken,
    woken: Option<&tokio::sync::Notify>,
) -> Result<Vec<Received>> {
    let mut batch = Vec::new();
    let woken = async {
        match woken {
            Some(notify) => notify.notified().await,
            None => std::future::pending().await,
        }
    };
    let first = tokio::select! {
        () = stop.cancelled() => return Ok(batch),
        () = tokio::time::sleep(wait) => return Ok(batch),
        () = woken => return Ok(batch),
        m = consumer.recv() => m,
    };
    match first {
        Ok(m) => batch.push(detach(consumer, &m)),
        Err(e) => {
            tracing::warn!(error = %e, "consumer error");
            return Ok(batch);
        }
    }
    let until = tokio::time::Instant::now() + linger;
    while batch.len() < size {
        match tokio::time::timeout_at(until, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(detach(consumer, &m)),
            Ok(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// Runs both stages of one replica (the second only when the spec has another entity) until
/// `cancel` fires or a stage fails; then each commits what it has stored.
pub async fn run(
    config: ScorerConfig,
    replica: Arc<ReplicaState>,
    model: Arc<Model>,
    cancel: CancellationToken,
) -> Result<()> {
    let plan = Arc::new(Plan::new(
        model.spec(),
        &config.input_topic,
        config.entities.limits(),
    )?);
    if model.features() != plan.spec.feature_names().as_slice() {
        bail!(
            "--model {}: its features are not its spec's, in order (retrain it)",
            config
                .model
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
    }
    // Every outcome and kind the stages count, at 0 from the start: a dashboard shows a zero
    // rather than nothing (docs/metrics.md).
    for outcome in ["forwarded", "unmatched"] {
        replica.metrics.entity_labels.with_label_values(&[outcome]);
    }
    for kind in ["transaction", "label"] {
        replica.metrics.entity_late.with_label_values(&[kind]);
    }
    let stop = cancel.child_token();
    // The models and rules topics, read to their ends first: a model of another spec is refused
    // there, and a rule set is read against this one (docs/rules.md).
    let control = crate::control::start(&config, replica.clone(), stop.clone()).await?;
    let first = key_stage::KeyStage::start(&config, plan.clone(), replica.clone())?;
    let second = plan
        .other
        .as_ref()
        .map(|_| entity_stage::EntityStage::start(&config, plan.clone(), replica.clone()))
        .transpose()?;
    tracing::info!(
        spec = %plan.spec.name, key = %plan.key,
        other = plan.other.as_ref().map(|o| o.name.as_str()).unwrap_or("none"),
        "scorer started on a spec"
    );
    let first = tokio::spawn(first.run(stop.clone()));
    let second = second.map(|s| tokio::spawn(s.run(stop.clone())));
    let first_done = async {
        let result = first
            .await
            .map_err(|e| anyhow!("first stage: {e}"))
            .and_then(|r| r);
        stop.cancel();
        result
    };
    let second_done = async {
        let result = match second {
            Some(task) => task
                .await
                .map_err(|e| anyhow!("second stage: {e}"))
                .and_then(|r| r),
            None => Ok(()),
        };
        stop.cancel();
        result
    };
    let (a, b) = tokio::join!(first_done, second_done);
    if let Some(control) = control {
        let _ = control.await;
    }
    a.and(b)
}

/// A stage's clients: its group consumer (`consumer` settings, subscribed to `topics`; `shared`:
/// a topic whose assignment is kept in the given one), a reader for rebuilding partitions, and a
/// producer (`producer` settings, lz4, lingering 2 ms).
fn stage_clients(
    config: &ScorerConfig,
    consumer: aegis_kafka::Settings,
    producer: aegis_kafka::Settings,
    stage: &'static str,
    topics: &[&str],
    shared: Option<(&str, Arc<aegis_kafka::assignment::Assignment>)>,
) -> Result<(
    StageConsumer,
    rdkafka::consumer::BaseConsumer,
    rdkafka::producer::FutureProducer,
)> {
    use aegis_kafka::Settings;
    let properties = config.kafka.properties();
    let group: StageConsumer = consumer
        .client_config(&config.brokers, &properties)
        .create_with_context({
            let mut context = EpochContext::new(stage, topics);
            if let Some((topic, assignment)) = shared {
                context.topics.insert(topic.to_owned(), assignment);
            }
            context
        })
        .context("cannot create the Kafka consumer (check --brokers and -X)")?;
    group
        .subscribe(topics)
        .with_context(|| format!("cannot subscribe to {}", topics.join(", ")))?;
    let reader = Settings::reader("aegis-scorer-restore")
        .client_config(&config.brokers, &properties)
        .create()
        .context("cannot create the restore reader")?;
    let producer = producer
        .set("compression.type", "lz4")
        .set("linger.ms", 2)
        .client_config(&config.brokers, &properties)
        .create()
        .context("cannot create the Kafka producer")?;
    Ok((group, reader, producer))
}

/// How many partitions `topic` has; fails with one line when it does not exist.
fn partition_count(reader: &rdkafka::consumer::BaseConsumer, topic: &str) -> Result<usize> {
    Ok(
        aegis_kafka::read::topic_partitions(reader, topic, Duration::from_secs(10))?
            .ok_or_else(|| anyhow!("topic {topic} does not exist: create it (the repartition topic with as many partitions as the entity's load needs)"))?
            .len(),
    )
}

/// After a batch: a stage's entity tables over its partitions — each an engine with the evictions
/// the metrics have counted of it — as the gauges of every entity of `entities` (0 for one no
/// partition has), and their evictions since last counted added to the counter.
fn meter<'a>(
    metrics: &crate::metrics::Metrics,
    entities: &[String],
    partitions: impl Iterator<Item = (&'a FeatureEngine, &'a mut Vec<Evictions>)>,
) {
    let mut kept = vec![(0, 0, Evictions::default()); entities.len()];
    for (engine, counted) in partitions {
        counted.resize(engine.tables().count(), Evictions::default());
        for (table, counted) in engine.tables().zip(counted.iter_mut()) {
            if let Some(i) = entities.iter().position(|e| e == table.entity) {
                let (keys, events, evicted) = &mut kept[i];
                *keys += table.keys;
                *events += table.events;
                evicted.keys += table.evictions.keys - counted.keys;
                evicted.events += table.evictions.events - counted.events;
            }
            *counted = table.evictions;
        }
    }
    for (entity, (keys, events, evicted)) in entities.iter().zip(kept) {
        metrics.entity_tables(entity, keys, events, evicted);
    }
}

/// The entity fields of `engine`'s tables: what a stage's [`meter`] reports on.
fn entity_names(engine: &FeatureEngine) -> Vec<String> {
    engine.tables().map(|t| t.entity.to_owned()).collect()
}

/// Commits the stored offsets and leaves the group.
fn finish(consumer: &StageConsumer) {
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::warn!(error = %e, "cannot commit on the way out: the next owner repeats the tail");
    }
    consumer.unsubscribe();
}
