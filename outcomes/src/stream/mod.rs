//! The stream side: one loop that reads verdicts, labels and shadow verdicts, joins them
//! ([`crate::join`]), writes each live outcome and measures each shadow one, and stores a source
//! offset only when everything at or below it is finished ([`crate::ledger`]) — joined (and, live,
//! acknowledged), evicted, replaced or undecodable; a label, in both joins. librdkafka
//! commits stored offsets in the background, so a crash (even SIGKILL) re-reads every unfinished
//! message and loses no outcome; outcomes acknowledged after the last commit are written again.
//! A delivery that fails for good stops the service rather than skipping an outcome. A label the
//! live join gives up on is looked for in the verdicts topic first (`late_labels.rs`), and
//! finished once that lookup is done (and its outcome, if any, acknowledged).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::clock::now_ms;
use aegis_core::Outcome;
use aegis_kafka::{self as kafka, produce};
use anyhow::{anyhow, bail, Context, Result};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use crate::assignment::{Assignment, OutcomesContext, UNASSIGNED};
use crate::config::OutcomesConfig;
use crate::join::{Joins, Match, Offered, Role, Side, Source};
use crate::late::{Bounds, LateLabel, Lookups, VerdictFinder};
use crate::ledger::Ledger;
use crate::metrics::Metrics;

mod clients;
mod late_labels;

pub use clients::Decoders;
use clients::{check_co_partitioned, registry, warn_if_retention_short};
pub use clients::{consumer_settings, producer_settings};

/// How often expired entries are evicted, offsets stored and gauges set.
const TICK: Duration = Duration::from_millis(500);
/// How long to wait before trying again while the producer's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);
/// Late labels waiting for the lookup thread at most; beyond it intake waits.
const LATE_LOOKUP_QUEUE: usize = 1024;

type OutcomesConsumer = StreamConsumer<OutcomesContext>;
type Delivered = (Result<(), produce::DeliveryError>, Flight);

/// An outcome handed to the producer, awaiting acknowledgement.
struct Flight {
    epoch: u64,
    partition: i32,
    /// The verdict's and the label's; the label's alone for a late label (its verdict, found in
    /// the topic, was released when the join evicted it).
    sources: Vec<Source>,
    outcome: Outcome,
}

async fn await_delivery(delivery: DeliveryFuture, flight: Flight) -> Delivered {
    (produce::delivered(delivery).await.map(drop), flight)
}

/// Everything the loop owns.
struct Joiner {
    config: OutcomesConfig,
    consumer: Arc<OutcomesConsumer>,
    producer: FutureProducer,
    assignment: Arc<Assignment>,
    metrics: Arc<Metrics>,
    framing: Framing,
    decoders: Decoders,
    joins: Joins,
    ledger: Ledger,
    /// The epoch each partition's join state and ledger belong to.
    epochs: HashMap<i32, u64>,
    /// Partitions of the verdicts and labels topics (co-partitioned).
    partitions: i32,
    in_flight: FuturesUnordered<BoxFuture<'static, Delivered>>,
    /// The late-label lookups ([`crate::late`]); none with `--label-horizon 0`.
    lookups: Option<Lookups>,
    /// Late labels the lookup thread has no room for yet; intake waits while any do.
    late_waiting: VecDeque<LateLabel>,
}

/// Runs the service's stream side until `cancel` fires (or a delivery fails for good), then
/// awaits the outcomes in flight, flushes and commits within `--shutdown-timeout`.
pub async fn run(
    config: OutcomesConfig,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> Result<()> {
    let assignment = Arc::new(Assignment::default());
    let consumer: Arc<OutcomesConsumer> = Arc::new(
        consumer_settings(&config.group_id)
            .client_config(&config.brokers, &config.kafka.properties())
            .create_with_context(OutcomesContext {
                assignment: assignment.clone(),
                metrics: metrics.clone(),
                verdicts_topic: config.verdicts_topic.clone(),
                followers: config.followers(),
            })
            .context("cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)")?,
    );
    let producer: FutureProducer = producer_settings()
        .client_config(&config.brokers, &config.kafka.properties())
        .create()
    .context(
        "cannot create the Kafka producer (check --brokers and the -X / --kafka-config properties)",
    )?;
    let (framing, decoders, consumer, partitions) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let partitions = check_co_partitioned(&consumer, &config)?;
            let (framing, decoders) = registry(&config)?;
            Ok((framing, decoders, consumer, partitions))
        })
        .await??
    };
    warn_if_retention_short(&config).await;
    let lookups = if config.label_horizon > 0 {
        let finder = VerdictFinder::new(
            &config.brokers,
            &config.kafka.properties(),
            &format!("{}-late-labels", config.group_id),
            &config.verdicts_topic,
            decoders.clone(),
            Bounds {
                max_lag_ms: i64::try_from(config.late_label_max_lag.saturating_mul(1000))
                    .unwrap_or(i64::MAX),
                max_scan: config.late_label_max_scan,
            },
        )?;
        Some(Lookups::start(finder, LATE_LOOKUP_QUEUE)?)
    } else {
        None
    };
    consumer
        .subscribe(&[&config.verdicts_topic])
        .with_context(|| format!("cannot subscribe to {}", config.verdicts_topic))?;
    tracing::info!(
        verdicts = %config.verdicts_topic, labels = %config.labels_topic,
        shadow_verdicts = config.shadow_verdicts().unwrap_or("(none)"),
        outcomes = %config.outcomes_topic, group = %config.group_id,
        join_window_s = config.join_window, max_pending = config.max_pending,
        label_horizon_s = config.label_horizon,
        properties = %kafka::describe(&config.kafka.properties()),
        "outcome service started"
    );
    let mut joiner = Joiner {
        joins: Joins::new(
            config.join_window(),
            usize::try_from(config.max_pending).unwrap_or(usize::MAX),
            config.shadow_verdicts().is_some(),
        ),
        config,
        consumer,
        producer,
        assignment,
        metrics,
        framing,
        decoders,
        partitions,
        ledger: Ledger::default(),
        epochs: HashMap::new(),
        in_flight: FuturesUnordered::new(),
        lookups,
        late_waiting: VecDeque::new(),
    };
    let stopped = joiner.run_until(&cancel).await;
    joiner.shutdown(stopped).await
}

impl Joiner {
    /// The ordered shutdown, all within --shutdown-timeout, once intake has stopped (`stopped`
    /// says how): await the outcomes in flight (two thirds of the budget), store what is
    /// finished, then flush and commit.
    async fn shutdown(mut self, stopped: Result<()>) -> Result<()> {
        let budget = self.config.shutdown_timeout();
        let started = Instant::now();
        let drained = match tokio::time::timeout(budget - budget / 3, self.drain()).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!(
                "outcomes in flight were not acknowledged within {:?}; they will be joined again",
                budget - budget / 3
            )),
        };
        self.store_offsets();
        tracing::info!("{}", self.metrics.summary());
        let Joiner {
            consumer, producer, ..
        } = self;
        let finished = kafka::service::finish(
            consumer,
            vec![producer],
            budget.saturating_sub(started.elapsed()),
            "outcome service",
            "joined",
        )
        .await;
        stopped
            .and(drained)
            .and(finished.map_err(anyhow::Error::from))
    }
}

impl Joiner {
    async fn run_until(&mut self, cancel: &CancellationToken) -> Result<()> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let max_in_flight = self.config.max_in_flight as usize;
        let consumer = self.consumer.clone();
        loop {
            let room = self.in_flight.len() < max_in_flight && self.late_waiting.is_empty();
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                Some((result, flight)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.acknowledged(result, flight)?;
                }
                Some(looked) = late_labels::next_looked(&mut self.lookups) => self.looked(looked).await?,
                _ = tick.tick() => self.tick(),
                message = consumer.recv(), if room => match message {
                    Ok(m) => self.read(&m).await?,
                    Err(e) => {
                        tracing::warn!(error = %e, "consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    async fn drain(&mut self) -> Result<()> {
        while let Some((result, flight)) = self.in_flight.next().await {
            self.acknowledged(result, flight)?;
        }
        Ok(())
    }

    /// The loop's part for one message read.
    async fn read(&mut self, m: &BorrowedMessage<'_>) -> Result<()> {
        let side = if m.topic() == self.config.verdicts_topic {
            Side::Verdict
        } else if m.topic() == self.config.labels_topic {
            Side::Label
        } else {
            Side::ShadowVerdict
        };
        let (partition, offset) = (m.partition(), m.offset());
        let epoch = self.assignment.epoch(partition);
        if epoch == UNASSIGNED {
            return Ok(()); // read just before a revocation: the next owner reads it again
        }
        self.adopt(partition, epoch);
        let source = Source {
            side,
            partition,
            offset,
        };
        self.metrics.received(side);
        if side == Side::Label {
            self.check_label_partition(m);
        }
        let held = match self.decoders.decode(side, m.payload().unwrap_or_default()) {
            Ok(held) => held,
            Err(e) if e.is_retryable() => {
                return Err(anyhow!(e).context(
                    "stopping without storing offsets: the Schema Registry is unreachable",
                ))
            }
            Err(e) => {
                tracing::warn!(topic = m.topic(), partition, offset, error = %e, "skipping a message that cannot be decoded");
                self.metrics.undecodable(side);
                self.ledger.read(source, 1);
                self.ledger.finish(source);
                return Ok(());
            }
        };
        // Held once per join it is offered to (a label: the live one and the shadow one).
        self.ledger.read(source, self.joins.uses(side));
        for offered in self
            .joins
            .offer(side, partition, offset, held, Instant::now())
        {
            self.offered(epoch, offered).await?;
        }
        Ok(())
    }

    /// A label keyed to another partition than the one it is on was written with a partitioner
    /// other than Aegis's (murmur2, the Java client's): its verdict is elsewhere and it can never
    /// join. Counted, and said loudly — at once, then every 1,000th.
    fn check_label_partition(&self, m: &BorrowedMessage<'_>) {
        let Some(key) = m.key() else { return };
        let expected = aegis_kafka::java_partition(key, self.partitions);
        if expected == m.partition() {
            return;
        }
        self.metrics.misrouted_label();
        let seen = self.metrics.misrouted_labels();
        if seen == 1 || seen.is_multiple_of(1000) {
            tracing::error!(
                topic = m.topic(), partition = m.partition(), offset = m.offset(),
                key_partition = expected, misrouted = seen,
                "labels are not partitioned as verdicts are: this one's key hashes to another partition (murmur2, the Java client's default), where its verdict is; it cannot join. Give the labels' producer the Java partitioner (librdkafka: partitioner=murmur2_random); docs/security.md"
            );
        }
    }

    /// Releases what one join let go of, and hands on what it matched: a live match is written
    /// (finished when acknowledged), a shadow match only measured (finished now).
    async fn offered(&mut self, epoch: u64, offered: Offered) -> Result<()> {
        if let Some(replaced) = offered.replaced {
            self.metrics.duplicate(offered.role, replaced.side);
            self.ledger.finish(replaced);
        }
        for eviction in offered.evicted {
            self.evicted(eviction);
        }
        match offered.matched {
            Some(matched) if matched.role == Role::Live => {
                let Match {
                    verdict,
                    label,
                    sources,
                    ..
                } = matched;
                let outcome = Outcome::join(&verdict, &label, now_ms());
                self.send(epoch, outcome, sources.to_vec()).await?;
            }
            Some(matched) => {
                let now = now_ms();
                let outcome = Outcome::join(&matched.verdict, &matched.label, now);
                self.metrics.joined(Role::Shadow, &outcome, now);
                for source in matched.sources {
                    self.ledger.finish(source);
                }
            }
            None => {}
        }
        Ok(())
    }

    /// Starts a new tenure of `partition` if `epoch` is not the one its state belongs to.
    fn adopt(&mut self, partition: i32, epoch: u64) {
        if self.epochs.get(&partition) != Some(&epoch) {
            self.forget(partition);
            self.epochs.insert(partition, epoch);
        }
    }

    fn forget(&mut self, partition: i32) {
        let dropped = self.joins.drop_partition(partition);
        self.late_waiting
            .retain(|late| late.source.partition != partition);
        self.ledger.drop_partition(partition);
        self.epochs.remove(&partition);
        if dropped > 0 {
            tracing::info!(
                partition,
                dropped,
                "partition taken away: its waiting entries are left to its next owner"
            );
        }
    }

    #[allow(clippy::result_large_err)] // rdkafka's send_result hands the record back in its Err
    async fn send(&mut self, epoch: u64, outcome: Outcome, sources: Vec<Source>) -> Result<()> {
        let value = AvroCodec::outcome()
            .encode(&outcome, self.framing)
            .with_context(|| format!("cannot encode the outcome of {}", outcome.tx_id))?;
        let record = FutureRecord::to(&self.config.outcomes_topic)
            .key(outcome.account.as_bytes())
            .payload(value.as_slice());
        let producer = &self.producer;
        let delivery = produce::enqueue_async(
            record,
            |record| producer.send_result(record),
            QUEUE_FULL_BACKOFF,
        )
        .await
        .map_err(|e| anyhow!("cannot enqueue the outcome of {}: {e}", outcome.tx_id))?;
        let flight = Flight {
            epoch,
            partition: sources[0].partition,
            sources,
            outcome,
        };
        self.in_flight
            .push(Box::pin(await_delivery(delivery, flight)));
        Ok(())
    }

    fn acknowledged(
        &mut self,
        result: Result<(), produce::DeliveryError>,
        flight: Flight,
    ) -> Result<()> {
        if let Err(e) = result {
            // Nothing of it is stored: both messages will be read and joined again.
            bail!(
                "delivery of the outcome of {} failed: {e}; stopping without storing its offsets",
                flight.outcome.tx_id
            );
        }
        self.metrics.joined(Role::Live, &flight.outcome, now_ms());
        if self.epochs.get(&flight.partition) == Some(&flight.epoch) {
            for source in flight.sources {
                self.ledger.finish(source);
            }
        }
        Ok(())
    }

    fn tick(&mut self) {
        let taken: Vec<i32> = self
            .epochs
            .iter()
            .filter(|(p, e)| !self.assignment.holds(**p, **e))
            .map(|(p, _)| *p)
            .collect();
        for partition in taken {
            self.forget(partition);
        }
        for eviction in self.joins.evict_expired(Instant::now()) {
            self.evicted(eviction);
        }
        self.ask_lookups();
        self.store_offsets();
        for role in Role::ALL {
            for side in Side::joined_by(role) {
                self.metrics
                    .set_pending(role, side, self.joins.pending(role, side));
            }
        }
        self.metrics.quality_gauges(now_ms() / 1000);
    }

    fn store_offsets(&mut self) {
        for (side, partition, offset) in self.ledger.releasable() {
            let held = self
                .epochs
                .get(&partition)
                .is_some_and(|e| self.assignment.holds(partition, *e));
            if !held {
                continue;
            }
            let topic = match side {
                Side::Verdict => &self.config.verdicts_topic,
                Side::Label => &self.config.labels_topic,
                Side::ShadowVerdict => &self.config.shadow_verdicts_topic,
            };
            // librdkafka commits offset + 1: the next message to read.
            if let Err(e) = self.consumer.store_offset(topic, partition, offset) {
                tracing::debug!(topic, partition, offset, error = %e, "offset not stored");
            }
        }
    }
}
