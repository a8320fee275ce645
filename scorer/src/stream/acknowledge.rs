//! Stages 3 and 4, acknowledgement, joined by a channel, each taking batches in order:
//!
//! 3. `Acknowledging` awaits a batch's verdicts and dead letters (and shadow verdicts), then
//!    counts them in the metrics and, with `--live-view own`, shows them on the live page
//!    ([`crate::live`]) — the only things it writes;
//! 4. `StoringOffsets` awaits the batch's account states in the changelog (sent by a producer
//!    of their own that lingers longer), and only then stores the batch's offsets in the consumer
//!    — for partitions still held under the epoch its messages were received in.
//!
//! So a verdict is counted as soon as it is written, and an offset is never stored before
//! everything its batch wrote, verdicts and states, is acknowledged. A delivery that fails for
//! good stops the pipeline (the stop token) with nothing more stored.

use std::collections::HashMap;
use std::sync::Arc;

use aegis_core::clock::now_ms;
use aegis_kafka::produce::{all_delivered, DeliveryError};
use anyhow::Result;
use rdkafka::consumer::Consumer;
use rdkafka::producer::DeliveryFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::assignment::Assignment;
use super::intake::Received;
use super::process::Output;
use super::ScorerConsumer;
use crate::live::LiveFeed;
use crate::metrics::Metrics;

/// Work scored and handed to the producers, awaiting acknowledgement.
pub(super) struct InFlight {
    /// Verdicts and dead letters.
    pub deliveries: Vec<DeliveryFuture>,
    /// Shadow verdicts: awaited after the batch's own, and a failure is counted, not fatal — the
    /// shadow is measured, never acted on, so it must not stop the live stream.
    pub shadow_deliveries: Vec<DeliveryFuture>,
    pub outputs: Vec<Output>,
    /// What the second stage awaits before storing the offsets.
    pub settle: Settle,
}

/// A batch's account states in the changelog and the offsets to store once they, too, are
/// acknowledged.
pub(super) struct Settle {
    pub state_deliveries: Vec<DeliveryFuture>,
    /// Messages whose account changes are among `state_deliveries` (0 without a changelog).
    pub changelogged: usize,
    pub offsets: Vec<InFlightOffset>,
}

/// The highest offset of a batch on one partition, under the assignment epoch its messages were
/// received in: stored only if the replica still holds the partition under that epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InFlightOffset {
    pub partition: i32,
    pub epoch: u64,
    pub offset: i64,
}

impl InFlightOffset {
    /// The highest offset per (partition, epoch) of a batch.
    pub fn highest_of(batch: &[Received]) -> Vec<InFlightOffset> {
        let mut highest: HashMap<(i32, u64), i64> = HashMap::new();
        for m in batch {
            let slot = highest.entry((m.partition, m.epoch)).or_insert(m.offset);
            *slot = (*slot).max(m.offset);
        }
        highest
            .into_iter()
            .map(|((partition, epoch), offset)| InFlightOffset {
                partition,
                epoch,
                offset,
            })
            .collect()
    }
}

/// Stage 3's state.
pub(super) struct Acknowledging {
    /// From processing.
    pub flights: mpsc::Receiver<InFlight>,
    /// To offset storing.
    pub settled: mpsc::Sender<Settle>,
    pub metrics: Arc<Metrics>,
    /// The live page's feed, with `--live-view own`.
    pub live: Option<Arc<LiveFeed>>,
    pub stop: CancellationToken,
}

impl Acknowledging {
    /// Awaits each batch's verdicts and dead letters in order, counts and shows them, then hands
    /// the batch on to stage 4.
    pub async fn run(mut self) -> Result<()> {
        while let Some(flight) = self.flights.recv().await {
            if let Err(e) = all_delivered(flight.deliveries).await {
                return Err(failed_for_good(&self.metrics, &self.stop, e));
            }
            for delivery in flight.shadow_deliveries {
                if aegis_kafka::produce::delivered(delivery).await.is_err() {
                    self.metrics.shadow_delivery_failed();
                }
            }
            self.metrics.acknowledged(&flight.outputs, now_ms());
            if let Some(live) = &self.live {
                for output in &flight.outputs {
                    if let Output::Verdict { verdict, .. } = output {
                        live.record(verdict);
                    }
                }
            }
            if self.settled.send(flight.settle).await.is_err() {
                break; // stage 4 stopped after a fatal error
            }
        }
        Ok(())
    }
}

/// Stage 4's state.
pub(super) struct StoringOffsets {
    /// From acknowledgement.
    pub settled: mpsc::Receiver<Settle>,
    pub consumer: Arc<ScorerConsumer>,
    /// Which epoch each partition is held under.
    pub assignment: Arc<Assignment>,
    pub metrics: Arc<Metrics>,
    /// The input topic.
    pub topic: String,
    pub stop: CancellationToken,
}

impl StoringOffsets {
    /// Awaits each batch's account states in order, then stores its offsets.
    pub async fn run(mut self) -> Result<()> {
        while let Some(settle) = self.settled.recv().await {
            if let Err(e) = all_delivered(settle.state_deliveries).await {
                return Err(failed_for_good(&self.metrics, &self.stop, e));
            }
            self.metrics.changelog_acknowledged(settle.changelogged);
            for offset in settle.offsets {
                self.store(offset);
            }
        }
        Ok(())
    }

    fn store(&self, at: InFlightOffset) {
        let InFlightOffset {
            partition,
            epoch,
            offset,
        } = at;
        if !self.assignment.holds(partition, epoch) {
            tracing::debug!(
                partition,
                offset,
                "partition revoked meanwhile; offset not stored"
            );
            return;
        }
        // librdkafka stores offset + 1: the next message to read.
        if let Err(e) = self.consumer.store_offset(&self.topic, partition, offset) {
            tracing::debug!(partition, offset, error = %e, "offset not stored");
        }
    }
}

/// A delivery failed for good: counted, and the pipeline stopped. Nothing of its batch (or later
/// ones) is stored, so it will be read again.
fn failed_for_good(
    metrics: &Metrics,
    stop: &CancellationToken,
    error: DeliveryError,
) -> anyhow::Error {
    metrics.delivery_failed();
    stop.cancel();
    anyhow::Error::new(error).context("stopping without storing offsets for unacknowledged work")
}
