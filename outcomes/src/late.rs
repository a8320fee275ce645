//! Late labels: a label that waited out the live join (`--join-window`, `--max-pending`) without
//! meeting its verdict is looked for in the verdicts topic itself, which is the store of every
//! verdict for as long as its retention lasts. Nothing is kept in memory per verdict: the lookup
//! seeks the label's partition to the first verdict written at or after the transaction's event
//! time (the label's `event_time`; `offsets_for_times`) and reads forward until it finds the
//! tx_id, passes verdicts written `--late-label-max-lag` after that time, reaches the end, or has
//! read `--late-label-max-scan` verdicts. A label older than `--label-horizon` (event time) is not
//! looked for: its verdict may have left the topic.
//!
//! Lookups run one at a time on a dedicated thread with its own consumer (assigned by hand, never
//! in the group, never committing), off the join's poll path; requests wait in a bounded queue.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use aegis_core::{Label, Verdict};
use aegis_kafka::Settings;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc as async_mpsc;

use crate::join::Source;
use crate::stream::Decoders;

/// How long one broker request of a lookup (offsets for a time, watermarks) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a lookup may go without reading a verdict before it fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a lookup is tried (the broker unreachable, say) before the service stops
/// without storing the label's offset.
const ATTEMPTS: u32 = 3;

/// What became of a late label: the `result` label of `aegis_outcomes_late_labels_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LateResult {
    /// Its verdict was found in the verdicts topic and the outcome written.
    Joined,
    /// Its verdict was not between the event time and `--late-label-max-lag` after it.
    NotFound,
    /// `--late-label-max-scan` verdicts were read without finding it.
    ScanLimit,
    /// Its event time is older than `--label-horizon`: not looked for.
    BeyondHorizon,
    /// It carries no event time (a labeller that does not know it): not looked for.
    NoEventTime,
}

impl LateResult {
    /// Every result, in metric order.
    pub const ALL: [LateResult; 5] = [
        LateResult::Joined,
        LateResult::NotFound,
        LateResult::ScanLimit,
        LateResult::BeyondHorizon,
        LateResult::NoEventTime,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LateResult::Joined => "joined",
            LateResult::NotFound => "not_found",
            LateResult::ScanLimit => "scan_limit",
            LateResult::BeyondHorizon => "beyond_horizon",
            LateResult::NoEventTime => "no_event_time",
        }
    }
}

/// A label the live join gave up on, to be looked for in the verdicts topic.
#[derive(Clone, Debug)]
pub struct LateLabel {
    /// The tenure of its partition it was read under.
    pub epoch: u64,
    /// Where it was read (its partition is its verdict's).
    pub source: Source,
    /// The label.
    pub label: Label,
    /// Its event time (the transaction's), milliseconds since the Unix epoch.
    pub event_time: i64,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Found {
    /// The verdict of the label's transaction.
    Verdict(Box<Verdict>),
    /// Not there ([`LateResult::NotFound`] or [`LateResult::ScanLimit`]).
    Nothing(LateResult),
}

/// A lookup done: the label, what was found, how many verdicts were read.
#[derive(Debug)]
pub struct Looked {
    /// The label looked for.
    pub late: LateLabel,
    /// What was found; an error after [`ATTEMPTS`] tries.
    pub found: Result<Found, String>,
    /// Verdicts read by the lookup.
    pub scanned: u64,
}

/// How far a lookup reads.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Verdicts written later than the event time plus this are past the transaction's.
    pub max_lag_ms: i64,
    /// Most verdicts read by one lookup.
    pub max_scan: u64,
}

/// Finds verdicts in the verdicts topic by the transaction's event time.
pub struct VerdictFinder {
    consumer: BaseConsumer,
    topic: String,
    decoders: Decoders,
    bounds: Bounds,
}

impl VerdictFinder {
    /// A finder reading `topic` on `brokers` with the service's librdkafka `properties`.
    pub fn new(
        brokers: &str,
        properties: &[aegis_kafka::Property],
        client: &str,
        topic: &str,
        decoders: Decoders,
        bounds: Bounds,
    ) -> Result<Self> {
        let consumer: BaseConsumer = Settings::reader(client)
            .set("auto.offset.reset", "earliest")
            .client_config(brokers, properties)
            .create()
            .context("cannot create the late-label consumer (check --brokers and -X)")?;
        Ok(VerdictFinder {
            consumer,
            topic: topic.to_owned(),
            decoders,
            bounds,
        })
    }

    /// Looks for the verdict of `tx_id` on `partition`, written at or after `event_time` and no
    /// later than the bounds allow; returns it (or why not) and how many verdicts were read. The
    /// partition is given up afterwards, so librdkafka prefetches nothing between lookups.
    pub fn find(&self, partition: i32, tx_id: &str, event_time: i64) -> Result<(Found, u64)> {
        let found = self.scan(partition, tx_id, event_time);
        if let Err(e) = self.consumer.unassign() {
            tracing::debug!(error = %e, "cannot give up the partition read for a late label");
        }
        found
    }

    fn scan(&self, partition: i32, tx_id: &str, event_time: i64) -> Result<(Found, u64)> {
        let topic = self.topic.as_str();
        let mut at = TopicPartitionList::new();
        at.add_partition_offset(topic, partition, Offset::Offset(event_time))?;
        let offsets = self.consumer.offsets_for_times(at, REQUEST_TIMEOUT)?;
        let start = match offsets.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            // No verdict written at or after the event time.
            _ => return Ok((Found::Nothing(LateResult::NotFound), 0)),
        };
        let (_, high) = self
            .consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)?;
        if start >= high {
            return Ok((Found::Nothing(LateResult::NotFound), 0));
        }
        let mut from = TopicPartitionList::new();
        from.add_partition_offset(topic, partition, Offset::Offset(start))?;
        self.consumer.assign(&from)?;
        let until = event_time.saturating_add(self.bounds.max_lag_ms);
        let mut scanned = 0;
        let mut last_read = Instant::now();
        loop {
            let Some(message) = self.consumer.poll(Duration::from_millis(100)) else {
                if last_read.elapsed() > STALL_TIMEOUT {
                    return Err(anyhow!(
                        "no verdict read from {topic}/{partition} in {STALL_TIMEOUT:?} (offset {start}, end {high})"
                    ));
                }
                continue;
            };
            let m = message?;
            last_read = Instant::now();
            scanned += 1;
            // What does not decode is no verdict of ours: read past, as the join skips it.
            if let Ok(verdict) = self
                .decoders
                .decode_verdict(m.payload().unwrap_or_default())
            {
                if verdict.tx_id == tx_id {
                    return Ok((Found::Verdict(Box::new(verdict)), scanned));
                }
            }
            let written = m.timestamp().to_millis().unwrap_or(i64::MIN);
            if m.offset() + 1 >= high || written > until {
                return Ok((Found::Nothing(LateResult::NotFound), scanned));
            }
            if scanned >= self.bounds.max_scan {
                return Ok((Found::Nothing(LateResult::ScanLimit), scanned));
            }
        }
    }
}

/// The lookups' thread: requests in (bounded), results out.
pub struct Lookups {
    requests: Option<mpsc::SyncSender<LateLabel>>,
    /// Lookups done, in the order asked.
    pub results: async_mpsc::UnboundedReceiver<Looked>,
}

impl Lookups {
    /// Starts the thread; at most `queue` lookups wait for it.
    pub fn start(finder: VerdictFinder, queue: usize) -> Result<Self> {
        let (requests, incoming) = mpsc::sync_channel::<LateLabel>(queue);
        let (done, results) = async_mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("late-labels".into())
            .spawn(move || {
                for late in incoming {
                    let looked = look(&finder, late);
                    if done.send(looked).is_err() {
                        break;
                    }
                }
            })
            .context("cannot start the late-label thread")?;
        Ok(Lookups {
            requests: Some(requests),
            results,
        })
    }

    /// Asks for a lookup; `Err` gives the label back when the queue is full.
    pub fn ask(&self, late: LateLabel) -> Result<(), LateLabel> {
        match &self.requests {
            Some(requests) => requests.try_send(late).map_err(|e| match e {
                mpsc::TrySendError::Full(l) | mpsc::TrySendError::Disconnected(l) => l,
            }),
            None => Err(late),
        }
    }
}

impl Drop for Lookups {
    /// Closing the queue ends the thread after the lookup under way (not awaited: shutdown stays
    /// bounded; a label whose lookup is cut short is read again by the next run).
    fn drop(&mut self) {
        self.requests = None;
        self.results.close();
    }
}

fn look(finder: &VerdictFinder, late: LateLabel) -> Looked {
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match finder.find(late.source.partition, &late.label.tx_id, late.event_time) {
            Ok((found, scanned)) => {
                return Looked {
                    late,
                    found: Ok(found),
                    scanned,
                }
            }
            Err(e) => {
                tracing::warn!(attempt, tx_id = %late.label.tx_id, error = %e, "late-label lookup failed");
                last_error = format!("{e:#}");
                std::thread::sleep(Duration::from_millis(500) * attempt);
            }
        }
    }
    Looked {
        late,
        found: Err(last_error),
        scanned: 0,
    }
}
