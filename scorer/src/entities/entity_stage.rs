//! The second stage: owns the repartition topic's partitions — every transaction of an entity
//! (a terminal), whichever card partition it came from.
//!
//! Each of its partitions receives the first stage's records from every input partition,
//! interleaved. An [`EventTimeMerge`] puts them back into event-time order: a record is released
//! once every input partition's watermark has reached its time (or the partition said it is
//! idle), labels before the transactions of their time, transactions of one time by id — the
//! trainer's order. Released transactions get the entity's features from this stage's engine,
//! joined to the first stage's share; the whole vector is scored and the verdict written
//! (key = the transaction's key). Released labels mark the entity's remembered transaction.
//!
//! A transaction sent twice (its first stage repeated a tail after a crash) is known by its
//! source offset and skipped. The offset stored is that of the earliest record still waiting in
//! the merge, so a new owner reads back everything not yet released; it rebuilds the state by
//! reading the partition before that offset again, writing nothing for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, WireRecord};
use aegis_core::clock::now_ms;
use aegis_core::repartition::{RepartitionKind, Repartitioned};
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::entities::Evictions;
use aegis_core::spec::merge::EventTimeMerge;
use aegis_core::spec::record::Value;
use aegis_core::Model;
use aegis_kafka::Settings;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use super::settle::{Settler, ToStore, Written};
use super::{gather, scoring, Plan, Received, StageConsumer};
use crate::config::ScorerConfig;
use crate::replica::ReplicaState;

/// A record waiting in the merge, with the offset it was read at.
enum Waiting {
    Transaction {
        offset: i64,
        wire: Box<WireRecord>,
        first: Vec<f64>,
    },
    Label {
        offset: i64,
        entity: Value,
        tx_time: i64,
        id: u64,
        is_fraud: bool,
    },
}

impl Waiting {
    fn offset(&self) -> i64 {
        match self {
            Waiting::Transaction { offset, .. } | Waiting::Label { offset, .. } => *offset,
        }
    }
}

/// One repartition partition's state.
struct Partition {
    epoch: u64,
    engine: FeatureEngine,
    /// The engine's evictions the metrics have counted.
    evictions_counted: Vec<Evictions>,
    merge: EventTimeMerge<(u8, u64), Waiting>,
    /// The last transaction offset taken from each input partition.
    seen: HashMap<i32, i64>,
    /// Offsets of the records waiting in the merge (with their count: a label and a
    /// transaction never share one, but a count keeps it simple).
    waiting: BTreeMap<i64, u32>,
    next_offset: i64,
    /// Records pushed late since the metrics last took them.
    late: Vec<&'static str>,
}

impl Partition {
    fn storable(&self) -> i64 {
        self.waiting
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_offset)
    }
}

/// The second stage of one replica.
pub struct EntityStage {
    plan: Arc<Plan>,
    replica: Arc<ReplicaState>,
    consumer: Arc<StageConsumer>,
    reader: BaseConsumer,
    producer: FutureProducer,
    topic: String,
    verdicts_topic: String,
    /// Where a shadow model's verdicts go (`--shadow-verdicts-topic`).
    shadow_topic: String,
    /// Partitions of the input topic: the merge's sources.
    sources: usize,
    batch_size: usize,
    linger: Duration,
    /// Batches written and not yet acknowledged before the stage waits (`--max-in-flight`).
    max_in_flight: usize,
    restore_timeout: Duration,
    partitions: HashMap<i32, Partition>,
    /// The entity fields of this stage's tables (the other entity's).
    entities: Vec<String>,
}

impl EntityStage {
    /// Creates the stage's clients (group `<group>.<ENTITY>`) and subscribes to the repartition
    /// topic.
    pub fn start(
        config: &ScorerConfig,
        plan: Arc<Plan>,
        replica: Arc<ReplicaState>,
    ) -> Result<EntityStage> {
        let other = plan
            .other
            .as_ref()
            .ok_or_else(|| anyhow!("no other entity: no second stage"))?;
        let topic = other.topic.clone();
        let group = format!("{}.{}", config.group_id, other.name);
        let (consumer, reader, producer) = super::stage_clients(
            config,
            Settings::group_consumer(&group),
            Settings::reliable_producer(),
            "second",
            &[&topic],
            None,
        )?;
        let sources = super::partition_count(&reader, &config.input_topic)?;
        Ok(EntityStage {
            replica,
            consumer: Arc::new(consumer),
            reader,
            producer,
            topic,
            verdicts_topic: config.output_topic.clone(),
            shadow_topic: config.shadow_topic.clone(),
            sources,
            batch_size: config.batch_size as usize,
            linger: config.batch_linger(),
            max_in_flight: config.max_in_flight as usize,
            restore_timeout: Duration::from_secs(config.entities.entity_restore_timeout_secs),
            partitions: HashMap::new(),
            entities: super::entity_names(&plan.other_engine()),
            plan,
        })
    }

    /// Runs until `stop` fires or a delivery fails for good.
    pub async fn run(mut self, stop: CancellationToken) -> Result<()> {
        let settler = Settler::start(
            "second",
            &self.consumer,
            &self.replica,
            self.max_in_flight,
            &stop,
        );
        let result = self.run_until(&stop, &settler).await;
        settler.close(&self.consumer, result).await
    }

    async fn run_until(&mut self, stop: &CancellationToken, settler: &Settler) -> Result<()> {
        while !stop.is_cancelled() {
            let batch = gather(
                &self.consumer,
                self.batch_size,
                Duration::from_millis(200),
                self.linger,
                stop,
                None,
            )
            .await?;
            let held = self.consumer.context().assignment(&self.topic);
            self.partitions.retain(|p, s| held.holds(*p, s.epoch));
            let mut released = Vec::new();
            for message in &batch {
                if held.holds(message.partition, message.epoch) {
                    self.take(message, &mut released)?;
                }
            }
            self.replica
                .metrics
                .entity_waiting
                .set(self.partitions.values().map(|s| s.merge.len() as i64).sum());
            let mut sent = Written::default();
            self.score(released, &mut sent).await?;
            super::meter(
                &self.replica.metrics,
                &self.entities,
                self.partitions
                    .values_mut()
                    .map(|s| (&s.engine, &mut s.evictions_counted)),
            );
            // The earliest record still waiting in each partition's merge: a new owner reads
            // back from there.
            sent.offsets = (self.partitions.iter())
                .map(|(p, s)| ToStore {
                    topic: self.topic.clone(),
                    partition: *p,
                    epoch: s.epoch,
                    next: s.storable(),
                })
                .collect();
            settler.hand(sent).await?;
        }
        Ok(())
    }

    /// One message of the repartition topic: its partition's state restored first if this
    /// replica has just taken it over, then the record merged; what that releases is added to
    /// `released`, each transaction with its whole feature vector.
    fn take(
        &mut self,
        message: &Received,
        released: &mut Vec<(WireRecord, Vec<f64>)>,
    ) -> Result<()> {
        let p = message.partition;
        if self
            .partitions
            .get(&p)
            .is_none_or(|s| s.epoch != message.epoch)
        {
            let restored = self.restore(p, message.epoch, message.offset)?;
            self.partitions.insert(p, restored);
        }
        let Some(payload) = &message.payload else {
            return Ok(());
        };
        let record = match AvroCodec::repartitioned().decode(payload) {
            Ok((record, _)) => record,
            Err(e) => {
                tracing::warn!(partition = p, offset = message.offset, error = %e, "unreadable repartition record skipped");
                return Ok(());
            }
        };
        let plan = self.plan.clone();
        let state = self
            .partitions
            .get_mut(&p)
            .ok_or_else(|| anyhow!("partition state just restored"))?;
        state.next_offset = message.offset + 1;
        released.extend(merge_in(&plan, state, message.offset, record, self.sources));
        for kind in std::mem::take(&mut state.late) {
            self.replica
                .metrics
                .entity_late
                .with_label_values(&[kind])
                .inc();
        }
        Ok(())
    }

    /// Scores what a batch released, all rows at once through the forest's batch kernel, and
    /// writes the verdicts — and, while a shadow model is published, its verdicts on the same
    /// features to the shadow topic.
    async fn score(&self, released: Vec<(WireRecord, Vec<f64>)>, sent: &mut Written) -> Result<()> {
        let (now, rules) = (now_ms(), self.replica.rules.current());
        let rows: Vec<&[f64]> = released.iter().map(|(_, whole)| whole.as_slice()).collect();
        let scored = |model: &Model| {
            let mut probabilities = vec![0.0; rows.len()];
            model.probabilities(&rows, &mut probabilities);
            probabilities
        };
        let model = self.replica.models.live();
        let probabilities = scored(&model);
        let shadow = self.replica.models.shadow().map(|m| {
            let probabilities = scored(&m);
            (m, probabilities)
        });
        for (i, (wire, whole)) in released.into_iter().enumerate() {
            let shadow_verdict = shadow.as_ref().map(|(m, p)| {
                scoring::verdict(&self.plan, m, &rules, &wire, whole.clone(), Some(p[i]), now)
            });
            let verdict = scoring::verdict(
                &self.plan,
                &model,
                &rules,
                &wire,
                whole,
                Some(probabilities[i]),
                now,
            );
            if let Some(shadow) = shadow_verdict {
                let (producer, topic) = (&self.producer, &self.shadow_topic);
                scoring::write_shadow(producer, topic, verdict.decision, &shadow, sent).await?;
            }
            scoring::write(&self.producer, &self.verdicts_topic, verdict, sent).await?;
        }
        Ok(())
    }

    /// Partition `p`'s state as its records before `end` give it; what they release is not
    /// written again (it was, before the offset was stored).
    fn restore(&self, p: i32, epoch: u64, end: i64) -> Result<Partition> {
        let started = Instant::now();
        let mut state = Partition {
            epoch,
            engine: self.plan.other_engine(),
            evictions_counted: Vec::new(),
            merge: EventTimeMerge::new(self.sources),
            seen: HashMap::new(),
            waiting: BTreeMap::new(),
            next_offset: end,
            late: Vec::new(),
        };
        let mut read = 0u64;
        tokio::task::block_in_place(|| {
            aegis_kafka::read::read_before(
                &self.reader,
                &self.topic,
                p,
                end,
                Instant::now() + self.restore_timeout,
                |m| {
                    use rdkafka::Message;
                    let Some(Ok((record, _))) =
                        m.payload().map(|b| AvroCodec::repartitioned().decode(b))
                    else {
                        return;
                    };
                    merge_in(&self.plan, &mut state, m.offset(), record, self.sources);
                    read += 1;
                },
            )
        })
        .with_context(|| format!("cannot restore partition {p} of {}", self.topic))?;
        tracing::info!(
            stage = "second",
            partition = p,
            records = read,
            waiting = state.merge.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "partition state restored"
        );
        Ok(state)
    }
}

/// Merges one record read at `offset` into `state`, and handles what that releases: labels
/// applied, transactions given the entity's features. Returns each released transaction with its
/// whole feature vector, in release order.
fn merge_in(
    plan: &Plan,
    state: &mut Partition,
    offset: i64,
    record: Repartitioned,
    sources: usize,
) -> Vec<(WireRecord, Vec<f64>)> {
    let source = usize::try_from(record.source_partition).unwrap_or(usize::MAX);
    if source >= sources {
        tracing::warn!(source, sources, "a record from an input partition this stage does not know of (did the input topic grow?) skipped");
        return Vec::new();
    }
    match record.kind {
        RepartitionKind::Watermark => state.merge.advance(source, record.time),
        RepartitionKind::Idle => state.merge.idle(source),
        RepartitionKind::Transaction => {
            let last = state.seen.entry(record.source_partition).or_insert(-1);
            if record.source_offset <= *last {
                return Vec::new(); // sent again after a crash: already merged
            }
            *last = record.source_offset;
            let Some(wire) = record
                .transaction
                .as_deref()
                .and_then(|b| plan.codec.decode(b).ok())
            else {
                tracing::warn!(
                    offset,
                    "a forwarded transaction that does not decode skipped"
                );
                return Vec::new();
            };
            let id = state.engine.id_of(&wire.record);
            state.merge.heard(source);
            let on_time = state.merge.push(
                record.time,
                (1, id),
                Waiting::Transaction {
                    offset,
                    wire: Box::new(wire),
                    first: record.features,
                },
            );
            if !on_time {
                state.late.push("transaction");
            }
            *state.waiting.entry(offset).or_default() += 1;
        }
        RepartitionKind::Label => {
            let (Some(entity), Some(tx_id), Some(tx_time), Some(is_fraud)) = (
                record.entity(),
                record.tx_id.as_deref(),
                record.tx_time,
                record.is_fraud,
            ) else {
                return Vec::new();
            };
            let id = state.engine.id_of_text(tx_id);
            let on_time = state.merge.push(
                record.time,
                (0, id),
                Waiting::Label {
                    offset,
                    entity,
                    tx_time,
                    id,
                    is_fraud,
                },
            );
            if !on_time {
                state.late.push("label");
                tracing::debug!(tx_id, due = record.time, "late label");
            }
            *state.waiting.entry(offset).or_default() += 1;
        }
    }
    let mut released = Vec::new();
    let Some(other) = &plan.other else {
        return released;
    };
    while let Some(item) = state.merge.pop() {
        let at = item.offset();
        if let Some(n) = state.waiting.get_mut(&at) {
            *n -= 1;
            if *n == 0 {
                state.waiting.remove(&at);
            }
        }
        match item {
            Waiting::Label {
                entity,
                tx_time,
                id,
                is_fraud,
                ..
            } => {
                state
                    .engine
                    .apply_label(other.field, &entity, tx_time, id, is_fraud);
            }
            Waiting::Transaction { wire, first, .. } => {
                let mut own = Vec::new();
                state.engine.observe(&wire.record, &mut own);
                let mut whole = vec![f64::NAN; plan.width];
                for (v, &at) in first.iter().zip(&plan.key_positions) {
                    whole[at] = *v;
                }
                for (v, &at) in own.iter().zip(state.engine.positions()) {
                    whole[at] = *v;
                }
                released.push((*wire, whole));
            }
        }
    }
    released
}
