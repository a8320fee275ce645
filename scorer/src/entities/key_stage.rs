//! The first stage: owns the transaction topic's partitions (and the labels topic's, which are
//! co-partitioned with them: the range assignor gives partition *p* of both to one member).
//!
//! For each transaction it computes the features of the key entity and of none, in partition
//! order, with its partition's engine. With a second stage it forwards the transaction and that
//! share to the repartition topic, keyed by the other entity, and after each batch tells every
//! repartition partition how far each of its partitions has got (a watermark; an idle mark once a
//! partition is read to its end and quiet). Without one it scores the transaction itself.
//!
//! Labels: it remembers each transaction's other entity for the longest risk span plus the
//! delay, and forwards a label to that entity's partition, due at the transaction's time plus
//! the delay. A label must reach this stage before its transaction's partition has run the
//! delay past it, whatever the fetches bring first: as Kafka Streams does for a task of several
//! partitions, the stage processes a partition's transactions and labels in the order of their
//! Kafka timestamps, and a transaction waits while its labels partition has labels not read yet
//! ([`Buffered`]). A label whose transaction it has not read yet waits too (its offset is not
//! stored meanwhile).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::clock::now_ms;
use aegis_core::repartition::Repartitioned;
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::entities::Evictions;
use aegis_core::spec::record::Value;
use aegis_core::{DeadLetter, DeadLetterReason};
use aegis_kafka::produce::dead_letter_headers;
use aegis_kafka::Settings;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::Offset;
use tokio_util::sync::CancellationToken;

use super::ends::Ends;
use super::settle::{Settler, ToStore, Written};
use super::{entity_text, gather, scoring, Plan, Received, StageConsumer};
use crate::config::ScorerConfig;
use crate::replica::ReplicaState;
use crate::stream::decode::event_time_problem;

/// Messages a partition keeps buffered, read but not yet processed, before it is paused (it is
/// resumed below half as many): transactions wait there while their labels partition catches up.
pub const MAX_BUFFERED: usize = 20_000;

/// One input partition's state.
struct Partition {
    epoch: u64,
    engine: FeatureEngine,
    /// The engine's evictions the metrics have counted.
    evictions_counted: Vec<Evictions>,
    /// Each recent transaction's other entity and time, by id, for its label.
    remembered: Remembered,
    /// The next offset to store.
    next_offset: i64,
    /// The latest event time read.
    clock: i64,
    last_record: Instant,
    /// Whether the second stage was told this partition is idle (and nothing came since).
    idle_sent: bool,
    /// Transactions read since the last watermark.
    since_watermark: usize,
}

/// Recent transactions' other entity and time, by id, forgotten after the label span — or, past
/// `--entity-max-events` of them, oldest first (a label of one forgotten is then unmatched).
pub(super) struct Remembered {
    by_id: HashMap<String, (Value, i64)>,
    order: VecDeque<(i64, String)>,
    max: usize,
}

impl Remembered {
    pub(super) fn new(max: usize) -> Remembered {
        Remembered {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(super) fn remember(&mut self, id: String, entity: Value, time: i64, span: i64) {
        let oldest = time.saturating_sub(span);
        while self.order.len() >= self.max || self.order.front().is_some_and(|(t, _)| *t < oldest) {
            if let Some((_, old)) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back((time, id.clone()));
        self.by_id.insert(id, (entity, time));
    }

    pub(super) fn get(&self, id: &str) -> Option<&(Value, i64)> {
        self.by_id.get(id)
    }
}

/// One labels partition's state.
struct LabelPartition {
    epoch: u64,
    /// The next offset to store.
    next_offset: i64,
}

/// The first stage of one replica.
pub struct KeyStage {
    plan: Arc<Plan>,
    replica: Arc<ReplicaState>,
    consumer: Arc<StageConsumer>,
    /// Reads partitions back when taking them over.
    reader: BaseConsumer,
    /// The partitions' ends, asked by a thread of their own.
    ends: Ends,
    producer: FutureProducer,
    input_topic: String,
    labels_topic: String,
    verdicts_topic: String,
    /// Where a shadow model's verdicts go, without a second stage (`--shadow-verdicts-topic`).
    shadow_topic: String,
    dlq_topic: String,
    /// Partitions of the repartition topic (0 without a second stage).
    repartitions: i32,
    batch_size: usize,
    linger: Duration,
    /// Batches written and not yet acknowledged before the stage waits (`--max-in-flight`).
    max_in_flight: usize,
    idle_after: Duration,
    restore_timeout: Duration,
    max_skew_ms: i64,
    partitions: HashMap<i32, Partition>,
    labels: HashMap<i32, LabelPartition>,
    /// Messages read and not yet processed, per partition number.
    buffered: HashMap<i32, Buffered>,
    /// Whether labels are read (a spec with risk features of another entity).
    reads_labels: bool,
    /// The entity fields of this stage's tables (the key's, when it has features).
    entities: Vec<String>,
}

/// One partition number's messages read and not yet processed — its transactions and its
/// labels, each in offset order — and, per topic, how far reading has got.
#[derive(Default)]
struct Buffered {
    transactions: VecDeque<Received>,
    labels: VecDeque<Received>,
    /// Per topic (transactions, labels): the offset after the last message received, once one
    /// is.
    read: [ReadSoFar; 2],
    paused: bool,
}

#[derive(Clone, Copy, Default)]
struct ReadSoFar {
    /// The assignment epoch this is known under.
    epoch: u64,
    next: Option<i64>,
}

impl KeyStage {
    /// Creates the stage's clients and subscribes (to the labels topic too when labels count).
    pub fn start(
        config: &ScorerConfig,
        plan: Arc<Plan>,
        replica: Arc<ReplicaState>,
    ) -> Result<KeyStage> {
        let flags = &config.entities;
        let reads_labels = plan.other.as_ref().is_some_and(|o| o.label_span_ms > 0);
        let mut topics = vec![config.input_topic.as_str()];
        if reads_labels {
            topics.push(flags.labels_topic.as_str());
        }
        let settings = Settings::group_consumer(&config.group_id)
            // Partition p of the transactions and of the labels go to the same member.
            .set("partition.assignment.strategy", "range")
            // Fetches small enough that a backlog of transactions and one of labels come in
            // turns of a few hundred records rather than one topic's whole backlog first (the
            // stage takes them in timestamp order whatever comes first; this keeps its buffers
            // small).
            .set("max.partition.fetch.bytes", 16_384);
        // The input topic's assignment is the replica's: `/readyz` and `aegis_assigned_partitions`
        // list what this stage holds.
        let shared = (config.input_topic.as_str(), replica.assignment.clone());
        // With a second stage this producer writes the repartition topic, whose reader knows a
        // record written twice by its source offset (and a watermark or label twice changes
        // nothing): it needs no idempotence, whose busy wait on a slow broker doubled the stage's
        // CPU (docs/benchmarks.md, "Where the card scorer's time went"). One request in flight
        // keeps each partition's records in order through retries. Alone, the stage writes
        // verdicts, through the reliable producer.
        let producer = match &plan.other {
            Some(_) => Settings::changelog_producer(),
            None => Settings::reliable_producer(),
        };
        let (consumer, reader, producer) =
            super::stage_clients(config, settings, producer, "first", &topics, Some(shared))?;
        let repartitions = match &plan.other {
            Some(other) => super::partition_count(&reader, &other.topic)? as i32,
            None => 0,
        };
        let ends = Settings::reader("aegis-scorer-ends")
            .client_config(&config.brokers, &config.kafka.properties())
            .create()
            .context("cannot create the partition ends reader")?;
        Ok(KeyStage {
            replica,
            consumer: Arc::new(consumer),
            reader,
            ends: Ends::start(ends).context("cannot start the partition ends thread")?,
            producer,
            input_topic: config.input_topic.clone(),
            labels_topic: flags.labels_topic.clone(),
            verdicts_topic: config.output_topic.clone(),
            shadow_topic: config.shadow_topic.clone(),
            dlq_topic: config.dlq_topic.clone(),
            repartitions,
            batch_size: config.batch_size as usize,
            linger: config.batch_linger(),
            max_in_flight: config.max_in_flight as usize,
            idle_after: Duration::from_millis(flags.idle_after_ms),
            restore_timeout: Duration::from_secs(flags.entity_restore_timeout_secs),
            max_skew_ms: config.max_clock_skew_ms(),
            partitions: HashMap::new(),
            labels: HashMap::new(),
            buffered: HashMap::new(),
            reads_labels,
            entities: super::entity_names(&plan.key_engine()),
            plan,
        })
    }

    /// Runs until `stop` fires or a delivery fails for good.
    pub async fn run(mut self, stop: CancellationToken) -> Result<()> {
        let settler = Settler::start(
            "first",
            &self.consumer,
            &self.replica,
            self.max_in_flight,
            &stop,
        );
        let result = self.run_until(&stop, &settler).await;
        settler.close(&self.consumer, result).await
    }

    async fn run_until(&mut self, stop: &CancellationToken, settler: &Settler) -> Result<()> {
        let wait = (self.idle_after / 2).max(Duration::from_millis(10));
        while !stop.is_cancelled() {
            let woken = Some(self.ends.answered.as_ref());
            let batch = gather(
                &self.consumer,
                self.batch_size,
                wait,
                self.linger,
                stop,
                woken,
            )
            .await?;
            self.forget_revoked();
            let received = batch.len();
            for message in batch {
                let buffered = self.buffered.entry(message.partition).or_default();
                let side = usize::from(message.topic != self.input_topic);
                let read = &mut buffered.read[side];
                if read.epoch != message.epoch {
                    *read = ReadSoFar {
                        epoch: message.epoch,
                        ..ReadSoFar::default()
                    };
                }
                read.next = Some(message.offset + 1);
                if side == 0 {
                    buffered.transactions.push_back(message);
                } else {
                    buffered.labels.push_back(message);
                }
            }
            let mut sent = Sent::batch(&self.replica);
            let numbers: Vec<i32> = self.buffered.keys().copied().collect();
            for p in numbers {
                self.process_buffered(p, &mut sent).await?;
            }
            self.pace_buffers();
            self.replica.metrics.received(received);
            self.watermarks(&mut sent).await?;
            super::meter(
                &self.replica.metrics,
                &self.entities,
                self.partitions
                    .values_mut()
                    .map(|s| (&s.engine, &mut s.evictions_counted)),
            );
            let mut written = sent.written;
            written.offsets = self.offsets();
            settler.hand(written).await?;
        }
        Ok(())
    }

    /// Drops the state of partitions no longer held (a rebalance gave them away).
    fn forget_revoked(&mut self) {
        let context = self.consumer.context();
        let (input, labels) = (
            context.assignment(&self.input_topic),
            context.assignment(&self.labels_topic),
        );
        self.partitions.retain(|p, s| input.holds(*p, s.epoch));
        self.labels.retain(|p, s| labels.holds(*p, s.epoch));
        for b in self.buffered.values_mut() {
            b.transactions.retain(|m| input.holds(m.partition, m.epoch));
            b.labels.retain(|m| labels.holds(m.partition, m.epoch));
        }
    }

    async fn transaction(&mut self, message: &Received, sent: &mut Sent) -> Result<()> {
        let held = self.consumer.context().assignment(&self.input_topic);
        if !held.holds(message.partition, message.epoch) {
            return Ok(()); // given away meanwhile: its next owner reads it
        }
        if self
            .partitions
            .get(&message.partition)
            .is_none_or(|s| s.epoch != message.epoch)
        {
            let restored = self.restore(message.partition, message.epoch, message.offset)?;
            self.partitions.insert(message.partition, restored);
        }
        let now = now_ms();
        let decoded = match &message.payload {
            None => Err((DeadLetterReason::Empty, "message has no value".to_owned())),
            Some(bytes) => self
                .plan
                .codec
                .decode(bytes)
                .map_err(|e| (e.reason(), e.to_string())),
        }
        .and_then(|wire| {
            match event_time_problem(wire.record.event_time_ms, now, self.max_skew_ms) {
                Some(problem) => Err((
                    DeadLetterReason::EventTime,
                    format!(
                        "transaction {}: event time {} {problem}",
                        wire.tx_id, wire.record.event_time_ms
                    ),
                )),
                None => Ok(wire),
            }
        });
        let state = self
            .partitions
            .get_mut(&message.partition)
            .ok_or_else(|| anyhow!("partition state just restored"))?;
        state.next_offset = message.offset + 1;
        let wire = match decoded {
            Ok(wire) => wire,
            Err((reason, error)) => {
                let letter = DeadLetter {
                    reason,
                    error,
                    source: aegis_core::dead_letter::SourcePosition {
                        topic: message.topic.clone(),
                        partition: message.partition,
                        offset: message.offset,
                    },
                };
                sent.written
                    .deliveries
                    .push(self.dead_letter(message, &letter).await?);
                sent.written.dead_letters.push(reason);
                return Ok(());
            }
        };
        let mut features = Vec::new();
        state.engine.observe(&wire.record, &mut features);
        let time = wire.record.event_time_ms;
        state.clock = state.clock.max(time);
        state.last_record = Instant::now();
        state.idle_sent = false;
        state.since_watermark += 1;
        let id = self.plan.codec.id(&wire.tx_id, &wire.record);
        let Some(other) = &self.plan.other else {
            // No second stage: score here.
            let mut whole = vec![f64::NAN; self.plan.width];
            for (v, &at) in features.iter().zip(state.engine.positions()) {
                whole[at] = *v;
            }
            let (model, rules) = (&sent.model, &sent.rules);
            let verdict =
                scoring::verdict(&self.plan, model, rules, &wire, whole.clone(), None, now);
            if let Some(shadow) = &sent.shadow {
                let shadow = scoring::verdict(&self.plan, shadow, rules, &wire, whole, None, now);
                let (producer, topic) = (&self.producer, &self.shadow_topic);
                let live = verdict.decision;
                scoring::write_shadow(producer, topic, live, &shadow, &mut sent.written).await?;
            }
            let (producer, topic) = (&self.producer, &self.verdicts_topic);
            scoring::write(producer, topic, verdict, &mut sent.written).await?;
            return Ok(());
        };
        let entity = wire.record.values[other.field].clone();
        if other.label_span_ms > 0 {
            state
                .remembered
                .remember(id.clone(), entity.clone(), time, other.label_span_ms);
        }
        let forwarded = Repartitioned::transaction(
            message.partition,
            message.offset,
            time,
            message.payload.clone().unwrap_or_default(),
            features,
        );
        let key = entity_text(&entity);
        let value = AvroCodec::repartitioned()
            .encode(&forwarded, Framing::SingleObject)
            .map_err(|e| anyhow!("cannot encode a repartition record: {e}"))?;
        let record = FutureRecord::to(&other.topic)
            .key(key.as_bytes())
            .payload(value.as_slice());
        sent.written
            .deliveries
            .push(send(&self.producer, record).await?);
        Ok(())
    }

    async fn label(&mut self, message: &Received, sent: &mut Sent) -> Result<()> {
        let held = self.consumer.context().assignment(&self.labels_topic);
        if !held.holds(message.partition, message.epoch) {
            return Ok(());
        }
        let Some(other) = &self.plan.other else {
            return Ok(());
        };
        let labels = self
            .labels
            .entry(message.partition)
            .or_insert(LabelPartition {
                epoch: message.epoch,
                next_offset: message.offset,
            });
        labels.epoch = message.epoch;
        labels.next_offset = message.offset + 1;
        let label = match message
            .payload
            .as_deref()
            .map(|b| AvroCodec::label().decode(b))
        {
            Some(Ok((label, _))) => label,
            other_case => {
                let error = match other_case {
                    Some(Err(e)) => e.to_string(),
                    _ => "message has no value".to_owned(),
                };
                tracing::warn!(partition = message.partition, offset = message.offset, %error, "unreadable label skipped");
                return Ok(());
            }
        };
        let found = self
            .partitions
            .get(&message.partition)
            .and_then(|s| s.remembered.get(&label.tx_id).cloned());
        match found {
            Some((entity, time)) => {
                let record = Repartitioned::label(
                    message.partition,
                    message.offset,
                    &label.tx_id,
                    time,
                    self.plan.spec.label_delay().millis(),
                    &entity,
                    label.is_fraud,
                );
                let key = entity_text(&entity);
                sent.written
                    .deliveries
                    .push(forward(&self.producer, &other.topic, &key, &record).await?);
                count_label(&self.replica.metrics, "forwarded");
            }
            None => {
                // Its transaction, written before it, was read before it: it is older than the
                // longest risk span (it can change no feature), or not on this partition.
                count_label(&self.replica.metrics, "unmatched");
            }
        }
        Ok(())
    }

    /// Processes partition number `p`'s buffered messages in Kafka-timestamp order (a
    /// transaction before a label of the same time). A transaction waits while its labels partition
    /// may hold labels written before it that are not read yet.
    async fn process_buffered(&mut self, p: i32, sent: &mut Sent) -> Result<()> {
        loop {
            let Some(b) = self.buffered.get_mut(&p) else {
                return Ok(());
            };
            let next_is_label = match (b.transactions.front(), b.labels.front()) {
                (_, None) if !self.reads_labels => false,
                // A label is written after its transaction: at equal times, the transaction first.
                (Some(tx), Some(label)) => label.timestamp < tx.timestamp,
                // Each waits while the other topic may hold records written before it.
                (None, Some(_)) => {
                    if !self.read_all(&self.input_topic.clone(), p)? {
                        return Ok(());
                    }
                    true
                }
                (Some(_), None) => {
                    if !self.read_all(&self.labels_topic.clone(), p)? {
                        return Ok(());
                    }
                    false
                }
                (None, None) => return Ok(()),
            };
            let Some(b) = self.buffered.get_mut(&p) else {
                return Ok(());
            };
            let message = if next_is_label {
                b.labels.pop_front()
            } else {
                b.transactions.pop_front()
            };
            let Some(message) = message else {
                return Ok(());
            };
            if next_is_label {
                self.label(&message, sent).await?;
            } else {
                self.transaction(&message, sent).await?;
            }
        }
    }

    /// Whether `topic`'s partition `p` has nothing written that was not received: the offset
    /// after the last message received (or, before any, the committed one) at its end, asked of
    /// the broker no longer than [`ends::FRESH_FOR`] ago. When the end is not known, it is asked
    /// for by the ends thread, and the partition waits.
    fn read_all(&mut self, topic: &str, p: i32) -> Result<bool> {
        let held = self.consumer.context().assignment(topic);
        if held.epoch(p) == aegis_kafka::assignment::UNASSIGNED {
            return Ok(true); // not held here: nothing of it to wait for
        }
        let side = usize::from(topic != self.input_topic);
        let epoch = held.epoch(p);
        let known = self
            .buffered
            .get(&p)
            .map(|b| b.read[side])
            .filter(|r| r.epoch == epoch)
            .unwrap_or(ReadSoFar { epoch, next: None });
        let next = match known.next {
            Some(next) => next,
            // Once per assignment. A broker slow to answer (a loaded machine, a restart) leaves
            // it unknown for now: the partition waits and is asked again, rather than the stage
            // stopping.
            None => match self.committed(topic, p) {
                Ok(next) => next,
                Err(e) => {
                    tracing::debug!(topic, partition = p, error = %e, "offsets not known yet; asking again");
                    return Ok(false);
                }
            },
        };
        if let Some(b) = self.buffered.get_mut(&p) {
            b.read[side] = ReadSoFar {
                epoch,
                next: Some(next),
            };
        }
        Ok(self.ends.fresh(topic, p).is_some_and(|end| next >= end))
    }

    /// Where the group's reading of `topic`'s partition `p` starts: its committed offset, or
    /// the partition's beginning.
    fn committed(&self, topic: &str, p: i32) -> Result<i64> {
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition(topic, p);
        let committed = tokio::task::block_in_place(|| {
            self.consumer
                .committed_offsets(list, Duration::from_secs(5))
        })?;
        Ok(
            match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => {
                    let (low, _) = tokio::task::block_in_place(|| {
                        self.reader
                            .fetch_watermarks(topic, p, Duration::from_secs(5))
                    })?;
                    low
                }
            },
        )
    }

    /// Pauses a topic's partition with more than [`MAX_BUFFERED`] messages received and not
    /// processed, resumes it below half as many. Never the side a buffered message waits for:
    /// that side's buffer is empty.
    fn pace_buffers(&mut self) {
        for (p, b) in &mut self.buffered {
            let n = b.transactions.len().max(b.labels.len());
            let pause = n > MAX_BUFFERED;
            if pause == b.paused || (!pause && n > MAX_BUFFERED / 2) {
                continue;
            }
            let mut list = rdkafka::TopicPartitionList::new();
            if !pause || b.transactions.len() > MAX_BUFFERED {
                list.add_partition(&self.input_topic, *p);
            }
            if self.reads_labels && (!pause || b.labels.len() > MAX_BUFFERED) {
                list.add_partition(&self.labels_topic, *p);
            }
            let done = if pause {
                self.consumer.pause(&list)
            } else {
                self.consumer.resume(&list)
            };
            match done {
                Ok(()) => b.paused = pause,
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cannot pause or resume a partition")
                }
            }
        }
    }

    /// After a batch: each partition that moved tells every repartition partition how far it
    /// has got; each held partition read to its end and quiet for `--idle-after` says so once.
    async fn watermarks(&mut self, sent: &mut Sent) -> Result<()> {
        let plan = self.plan.clone();
        let Some(other) = &plan.other else {
            return Ok(());
        };
        let held = self.consumer.context().assignment(&self.input_topic);
        let mut marks = Vec::new();
        for p in held.partitions() {
            let quiet = |s: &Partition| !s.idle_sent && s.last_record.elapsed() >= self.idle_after;
            match self.partitions.get(&p) {
                Some(s) if s.since_watermark > 0 => {
                    // More records of the latest time may follow.
                    marks.push(Repartitioned::watermark(p, s.clock - 1));
                    if let Some(s) = self.partitions.get_mut(&p) {
                        s.since_watermark = 0;
                    }
                }
                Some(s) if quiet(s) && self.caught_up(p, Some(s.next_offset))? => {
                    marks.push(Repartitioned::idle(p, s.clock));
                    if let Some(s) = self.partitions.get_mut(&p) {
                        s.idle_sent = true;
                    }
                }
                None if self.caught_up(p, None)? => {
                    // Nothing read since it was assigned, and nothing to read: its state as the
                    // records before its end give it, and idle until more comes.
                    let end = end_of(&self.reader, &self.input_topic, p)?;
                    let mut restored = self.restore(p, held.epoch(p), end)?;
                    restored.idle_sent = true;
                    if restored.since_watermark > 0 {
                        marks.push(Repartitioned::watermark(p, restored.clock - 1));
                        restored.since_watermark = 0;
                    }
                    marks.push(Repartitioned::idle(p, restored.clock));
                    self.partitions.insert(p, restored);
                }
                _ => {}
            }
        }
        for mark in marks {
            let value = AvroCodec::repartitioned()
                .encode(&mark, Framing::SingleObject)
                .map_err(|e| anyhow!("cannot encode a watermark: {e}"))?;
            for q in 0..self.repartitions {
                let record = FutureRecord::<[u8], [u8]>::to(&other.topic)
                    .partition(q)
                    .payload(value.as_slice());
                sent.written
                    .deliveries
                    .push(send(&self.producer, record).await?);
            }
        }
        Ok(())
    }

    /// Whether partition `p` is read to its end: `next` — or, when nothing of it was read since
    /// it was assigned, its committed offset (where reading starts) — at its high watermark.
    /// A broker slow to answer counts as not caught up: asked again on the next turn.
    fn caught_up(&self, p: i32, next: Option<i64>) -> Result<bool> {
        Ok(self.caught_up_asked(p, next).unwrap_or_else(|e| {
            tracing::debug!(partition = p, error = %e, "offsets not known yet; asking again");
            false
        }))
    }

    fn caught_up_asked(&self, p: i32, next: Option<i64>) -> Result<bool> {
        let (low, high) = tokio::task::block_in_place(|| {
            self.reader
                .fetch_watermarks(&self.input_topic, p, Duration::from_secs(5))
        })?;
        let next = match next {
            Some(next) => next,
            None if low == high => low,
            None => self.committed(&self.input_topic, p)?,
        };
        Ok(next >= high)
    }

    /// Partition `p`'s state as its records before `end` give it (read back from the topic).
    fn restore(&self, p: i32, epoch: u64, end: i64) -> Result<Partition> {
        let started = Instant::now();
        let mut state = Partition {
            epoch,
            engine: self.plan.key_engine(),
            evictions_counted: Vec::new(),
            remembered: Remembered::new(self.plan.limits.max_events),
            next_offset: end,
            clock: i64::MIN,
            last_record: Instant::now(),
            idle_sent: false,
            since_watermark: 0,
        };
        let (plan, max_skew) = (&self.plan, self.max_skew_ms);
        let now = now_ms();
        let mut read = 0u64;
        let mut features = Vec::new();
        tokio::task::block_in_place(|| {
            aegis_kafka::read::read_before(
                &self.reader,
                &self.input_topic,
                p,
                end,
                Instant::now() + self.restore_timeout,
                |m| {
                    use rdkafka::Message;
                    let Some(wire) = m.payload().and_then(|b| plan.codec.decode(b).ok()) else {
                        return;
                    };
                    let time = wire.record.event_time_ms;
                    if event_time_problem(time, now, max_skew).is_some() {
                        return;
                    }
                    state.engine.observe(&wire.record, &mut features);
                    state.clock = state.clock.max(time);
                    if let Some(other) = plan.other.as_ref().filter(|o| o.label_span_ms > 0) {
                        let id = plan.codec.id(&wire.tx_id, &wire.record);
                        let entity = wire.record.values[other.field].clone();
                        state
                            .remembered
                            .remember(id, entity, time, other.label_span_ms);
                    }
                    read += 1;
                },
            )
        })
        .with_context(|| format!("cannot restore partition {p} of {}", self.input_topic))?;
        if read > 0 {
            state.since_watermark = 1; // say how far it has got
        }
        tracing::info!(
            stage = "first",
            partition = p,
            records = read,
            took_ms = started.elapsed().as_millis() as u64,
            "partition state restored"
        );
        Ok(state)
    }

    /// Each partition's offset after what was processed, to store once what it wrote is
    /// acknowledged.
    fn offsets(&self) -> Vec<ToStore> {
        let input = self.partitions.iter().map(|(p, s)| ToStore {
            topic: self.input_topic.clone(),
            partition: *p,
            epoch: s.epoch,
            next: s.next_offset,
        });
        let labels = self.labels.iter().map(|(p, s)| ToStore {
            topic: self.labels_topic.clone(),
            partition: *p,
            epoch: s.epoch,
            next: s.next_offset,
        });
        input.chain(labels).collect()
    }

    async fn dead_letter(&self, message: &Received, letter: &DeadLetter) -> Result<DeliveryFuture> {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.dlq_topic).headers(dead_letter_headers(letter));
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &message.payload {
            record = record.payload(payload.as_slice());
        }
        send(&self.producer, record).await
    }
}

fn count_label(metrics: &crate::metrics::Metrics, outcome: &str) {
    metrics.entity_labels.with_label_values(&[outcome]).inc();
}

/// What a batch wrote, and the live model, shadow model and rules it is scored with, taken once
/// at its start.
struct Sent {
    model: Arc<aegis_core::Model>,
    shadow: Option<Arc<aegis_core::Model>>,
    rules: Arc<aegis_core::rules::RuleSet>,
    written: Written,
}

impl Sent {
    /// Nothing sent yet; scored with `replica`'s models and rules as they are now.
    fn batch(replica: &ReplicaState) -> Sent {
        Sent {
            model: replica.models.live(),
            shadow: replica.models.shadow(),
            rules: replica.rules.current(),
            written: Written::default(),
        }
    }
}

/// Stores `offset` as the next to read of `topic`'s `partition` (librdkafka stores the offset
/// given plus one).
pub(super) fn store(consumer: &StageConsumer, topic: &str, partition: i32, offset: i64) {
    if offset <= 0 {
        return; // nothing read yet
    }
    if let Err(e) = consumer.store_offset(topic, partition, offset - 1) {
        tracing::debug!(topic, partition, error = %e, "offset not stored");
    }
}

fn end_of(reader: &BaseConsumer, topic: &str, p: i32) -> Result<i64> {
    let (_, high) =
        tokio::task::block_in_place(|| reader.fetch_watermarks(topic, p, Duration::from_secs(5)))?;
    Ok(high)
}

async fn forward(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    record: &Repartitioned,
) -> Result<DeliveryFuture> {
    let value = AvroCodec::repartitioned()
        .encode(record, Framing::SingleObject)
        .map_err(|e| anyhow!("cannot encode a repartition record: {e}"))?;
    send(
        producer,
        FutureRecord::to(topic)
            .key(key.as_bytes())
            .payload(value.as_slice()),
    )
    .await
}

/// Enqueues one record, waiting while the producer's queue is full.
pub(super) async fn send(
    producer: &FutureProducer,
    record: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture> {
    crate::stream::produce::enqueue(producer, record)
        .await
        .map_err(|e| anyhow!("cannot enqueue a record: {e}"))
}
