//! One publishing run, from a connected [`Publisher`] to the final flush: its state is a [`Pump`],
//! and [`Pump::run`] takes its steps in order — send the source's transactions at the pace asked
//! (with the labels that come due between them), publish the labels still waiting, flush, sum up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing, SpecCodec};
use aegis_core::spec::record::Record;
use aegis_core::{Label, Transaction};
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::labels::{self, LabelPlan, Labelled, PendingLabel, PendingLabels};
use crate::metrics::Counters;
use crate::pace::Pacer;
use crate::progress::Progress;
use crate::publish::{Publisher, Sent};
use crate::{ProducerConfig, Summary};

/// An encoded transaction's Kafka key, id, label (if known) and event time (milliseconds).
type Encoded = (String, String, Option<bool>, i64);

/// How long the final flush may take; what is unacknowledged then counts as failed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// How the run's records are framed in Avro (`--schema-registry-url` or not).
#[derive(Clone, Copy, Debug)]
pub struct Framings {
    /// Of transactions.
    pub transactions: Framing,
    /// Of labels.
    pub labels: Framing,
}

/// One transaction to publish.
pub enum Outgoing {
    /// A PaySim transaction (replayed or simulated): stamped with the moment it is sent.
    Paysim(Transaction),
    /// A record of the run's spec (`--spec`), sent with its own event time.
    Record(Record),
}

/// Counter values when the run started: the summary counts what the run added to them.
struct Baseline {
    delivered: u64,
    labels_sent: u64,
    labels_delivered: u64,
    labels_withheld: u64,
}

impl Baseline {
    fn of(counters: &Counters) -> Baseline {
        Baseline {
            delivered: counters.delivered.get(),
            labels_sent: counters.labels_sent.get(),
            labels_delivered: counters.labels_delivered.get(),
            labels_withheld: counters.labels_withheld.get(),
        }
    }
}

/// The state of one publishing run. Only [`Pump::run`]'s thread touches it.
pub struct Pump {
    /// Where records go; flushed when the run ends.
    publisher: Publisher,
    /// The stop request: no more transactions are sent, the labels still waiting are published at
    /// once, then the run flushes.
    cancel: CancellationToken,
    /// Shared with `/metrics` and the progress bar; the delivery reports update them too.
    counters: Arc<Counters>,
    /// The counters when the run started.
    before: Baseline,
    /// `--simulate`: a transaction's step is the simulated hour, and its label's source
    /// `simulation` (else `replay`).
    simulate: bool,
    /// How transactions and labels are framed.
    framings: Framings,
    /// `--spec`: the codec of its records.
    spec_codec: Option<SpecCodec>,
    /// `--speedup`: event-time seconds per second, and the first record's event time.
    speedup: Option<(f64, Option<i64>)>,
    /// `--label-delay` and `--label-share`; `None`: no labels are published.
    label_plan: Option<LabelPlan>,
    /// Labels waiting for their delay, in the order they come due.
    pending: PendingLabels,
    /// When each transaction may go (`--rate`) and when the run ends (`--duration`).
    pacer: Pacer,
    /// The bar on stderr and the rate gauge.
    progress: Progress,
    /// Transactions enqueued so far.
    sent: u64,
    /// The encoded transaction, reused from one to the next.
    tx_buf: Vec<u8>,
    /// The encoded label, reused from one to the next.
    label_buf: Vec<u8>,
}

impl Pump {
    /// A run on `publisher`, starting now (the pace counts from here), towards `total`
    /// transactions if that is known.
    pub fn new(
        config: &ProducerConfig,
        publisher: Publisher,
        framings: Framings,
        spec_codec: Option<SpecCodec>,
        counters: Arc<Counters>,
        total: Option<u64>,
        cancel: &CancellationToken,
    ) -> Pump {
        let before = Baseline::of(&counters);
        let progress = Progress::new(config.progress, total, counters.clone());
        let pacer = Pacer::new(config.rate, config.duration);
        counters.paced(config.rate);
        Pump {
            publisher,
            cancel: cancel.clone(),
            counters,
            before,
            simulate: config.simulate,
            framings,
            spec_codec,
            speedup: config.speedup.map(|n| (n, None)),
            label_plan: config.label_plan(),
            pending: PendingLabels::default(),
            pacer,
            progress,
            sent: 0,
            tx_buf: Vec::with_capacity(256),
            label_buf: Vec::with_capacity(128),
        }
    }

    /// Sends `source` until it ends, the pace says stop or a stop request comes; publishes the
    /// labels still waiting; flushes (at most [`FLUSH_TIMEOUT`]) and returns what was done. An
    /// error in sending or labelling is returned after the flush, saying how far the run got.
    pub fn run(mut self, source: impl Iterator<Item = Result<Outgoing>>) -> Result<Summary> {
        let pumped = self.send_all(source);
        let elapsed = self.pacer.window(self.sent);
        self.progress.finish();
        let labelled = self.publish_waiting_labels();
        let summary = self.flush(elapsed);
        pumped
            .and(labelled)
            .with_context(|| format!("stopped early ({summary})"))?;
        Ok(summary)
    }

    /// Sends each transaction when the pacer says it is due, publishing first the labels that
    /// have come due. `Ok` also when stopped.
    fn send_all(&mut self, source: impl Iterator<Item = Result<Outgoing>>) -> Result<()> {
        for tx in source {
            let tx = tx?;
            let waited = match (&mut self.speedup, &tx) {
                (Some((speedup, first)), Outgoing::Record(record)) => {
                    let first = *first.get_or_insert(record.event_time_ms);
                    let event_seconds = (record.event_time_ms - first) as f64 / 1000.0;
                    let due = Duration::try_from_secs_f64(event_seconds / *speedup).ok();
                    self.pacer.wait_until(due, &self.cancel)
                }
                _ => self.pacer.wait(self.sent, &self.cancel),
            };
            if !waited {
                break;
            }
            if !self.publish_due_labels()? {
                break;
            }
            if self.send(tx)? == Sent::Stopped {
                break;
            }
            self.progress.update(self.sent, self.pacer.elapsed());
        }
        Ok(())
    }

    /// Publishes every label due now; `Ok(false)`: stopped while waiting for room.
    fn publish_due_labels(&mut self) -> Result<bool> {
        while let Some(label) = self.pending.pop_due(Instant::now()) {
            if !self.publish_label(label)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends one transaction and queues its label.
    fn send(&mut self, tx: Outgoing) -> Result<Sent> {
        self.tx_buf.clear();
        let (key, tx_id, label, event_time) = match tx {
            Outgoing::Paysim(tx) => self.encode_paysim(tx)?,
            Outgoing::Record(record) => self.encode_record(&record)?,
        };
        let sent = self.publisher.send(&key, &self.tx_buf, &self.cancel)?;
        if sent == Sent::Enqueued {
            self.sent += 1;
            if let Some(plan) = &self.label_plan {
                let now = Instant::now();
                let labelled = self
                    .pending
                    .push_parts(plan, &key, &tx_id, label, event_time, now);
                if labelled == Labelled::Withheld {
                    self.counters.labels_withheld.inc();
                }
            }
        }
        Ok(sent)
    }

    /// Stamps `tx` (event time now; with `--simulate`, the simulated hour as its step) and
    /// encodes it into the buffer: its key, id and label.
    fn encode_paysim(&mut self, mut tx: Transaction) -> Result<Encoded> {
        tx.event_time = aegis_core::clock::now_ms();
        if self.simulate {
            // Simulated hours since the start, as PaySim counts steps.
            let hours = self.pacer.elapsed().as_secs() / 3600;
            tx.step = i32::try_from(hours + 1).unwrap_or(i32::MAX);
        }
        AvroCodec::transaction()
            .encode_into(&tx, self.framings.transactions, &mut self.tx_buf)
            .with_context(|| format!("cannot encode transaction {}", tx.tx_id))?;
        Ok((tx.name_orig, tx.tx_id, tx.is_fraud, tx.event_time))
    }

    /// Encodes a record of the spec into the buffer, with its own event time: its key, id and
    /// label. A spec without an id field gets `<spec>-<n>`, n counting from 1.
    fn encode_record(&mut self, record: &Record) -> Result<Encoded> {
        let codec = self
            .spec_codec
            .as_ref()
            .context("a spec's record, but no --spec")?;
        let tx_id = codec.id(&format!("{}-{}", codec.spec().name, self.sent + 1), record);
        codec
            .encode_into(&tx_id, record, self.framings.transactions, &mut self.tx_buf)
            .with_context(|| format!("cannot encode transaction {tx_id}"))?;
        Ok((codec.key(record), tx_id, record.label, record.event_time_ms))
    }

    /// Publishes `label`, stamped now; `Ok(false)`: stopped while waiting for room.
    fn publish_label(&mut self, label: PendingLabel) -> Result<bool> {
        let value = Label {
            tx_id: label.tx_id,
            is_fraud: label.is_fraud,
            labelled_at: aegis_core::clock::now_ms(),
            source: Some(self.source_name().to_owned()),
            event_time: Some(label.event_time),
        };
        self.label_buf.clear();
        AvroCodec::label()
            .encode_into(&value, self.framings.labels, &mut self.label_buf)
            .with_context(|| format!("cannot encode the label of {}", value.tx_id))?;
        let sent = self
            .publisher
            .send_label(&label.account, &self.label_buf, &self.cancel)?;
        Ok(sent == Sent::Enqueued)
    }

    /// After the last transaction: the labels still waiting, as they come due, or all at once on
    /// a stop request.
    fn publish_waiting_labels(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            tracing::info!(
                waiting = self.pending.len(),
                "publishing the labels still waiting for their delay"
            );
        }
        while let Some(due) = self.pending.next_due() {
            let now = Instant::now();
            if self.cancel.is_cancelled() || due <= now {
                let label = self.pending.pop().context("a label is waiting")?;
                // A stop request does not stop these: they are published early, not lost
                // (unless the local queue is full and stays so).
                if !self.publish_label(label)? {
                    tracing::warn!(
                        lost = self.pending.len() + 1,
                        "stopped with the local queue full: labels still waiting are not published"
                    );
                    break;
                }
            } else {
                std::thread::sleep((due - now).min(labels::MAX_SLEEP));
            }
        }
        Ok(())
    }

    /// Flushes the publisher (every record is then counted as delivered or failed) and sums up
    /// the run; `elapsed` is how long sending took.
    fn flush(self, elapsed: Duration) -> Summary {
        let flushing = Instant::now();
        self.publisher.finish(FLUSH_TIMEOUT);
        let (counters, before) = (&self.counters, &self.before);
        let delivered = counters.delivered.get() - before.delivered;
        let labels_sent = counters.labels_sent.get() - before.labels_sent;
        let labels_delivered = counters.labels_delivered.get() - before.labels_delivered;
        Summary {
            sent: self.sent,
            delivered,
            failed: self.sent.saturating_sub(delivered),
            elapsed,
            flush: flushing.elapsed(),
            labels_sent,
            labels_failed: labels_sent.saturating_sub(labels_delivered),
            labels_withheld: counters.labels_withheld.get() - before.labels_withheld,
        }
    }

    /// What a label says it came from.
    fn source_name(&self) -> &'static str {
        if self.simulate {
            "simulation"
        } else {
            "replay"
        }
    }
}
