//! Acknowledgement, in two stages joined by a channel, each taking batches in order:
//!
//! 1. [`acknowledge`] awaits a batch's verdicts and dead letters (and shadow verdicts), then counts
//!    them in the metrics and shows them on the live page;
//! 2. [`store_offsets`] awaits the batch's account states in the changelog (sent by a producer of
//!    their own that lingers longer), and only then stores the batch's offsets — for partitions
//!    still held under the epoch its messages were received in.
//!
//! So a verdict is counted as soon as it is written, and an offset is never stored before
//! everything its batch wrote, verdicts and states, is acknowledged.

use std::collections::HashMap;
use std::sync::Arc;

use aegis_core::clock::now_ms;
use anyhow::{anyhow, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::DeliveryFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::scoring::{Output, Received};
use super::ScorerConsumer;
use crate::replica::ReplicaState;

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

/// Awaits each batch's verdicts and dead letters in order, counts them (and, with
/// `--live-view own`, shows them on the live page), then hands the batch on to [`store_offsets`].
pub(super) async fn acknowledge(
    mut flights: mpsc::Receiver<InFlight>,
    settled: mpsc::Sender<Settle>,
    replica: Arc<ReplicaState>,
    record_live: bool,
    stop: CancellationToken,
) -> Result<()> {
    let metrics = &replica.metrics;
    while let Some(flight) = flights.recv().await {
        if let Err(e) = all_delivered(flight.deliveries).await {
            // Nothing of this batch (or later ones) is stored: it will be read again.
            metrics.delivery_failed();
            stop.cancel();
            return Err(e);
        }
        for delivery in flight.shadow_deliveries {
            if !matches!(delivery.await, Ok(Ok(_))) {
                metrics.shadow_delivery_failed();
            }
        }
        metrics.acknowledged(&flight.outputs, now_ms());
        if record_live {
            for output in &flight.outputs {
                if let Output::Verdict { verdict, .. } = output {
                    replica.live.record(verdict);
                }
            }
        }
        if settled.send(flight.settle).await.is_err() {
            break; // the second stage stopped after a fatal error
        }
    }
    Ok(())
}

/// Awaits each batch's account states in order, then stores its offsets.
pub(super) async fn store_offsets(
    mut settled: mpsc::Receiver<Settle>,
    consumer: Arc<ScorerConsumer>,
    replica: Arc<ReplicaState>,
    topic: String,
    stop: CancellationToken,
) -> Result<()> {
    let (assignment, metrics) = (&replica.assignment, &replica.metrics);
    while let Some(settle) = settled.recv().await {
        if let Err(e) = all_delivered(settle.state_deliveries).await {
            metrics.delivery_failed();
            stop.cancel();
            return Err(e);
        }
        metrics.changelog_acknowledged(settle.changelogged);
        for InFlightOffset {
            partition,
            epoch,
            offset,
        } in settle.offsets
        {
            if !assignment.holds(partition, epoch) {
                tracing::debug!(
                    partition,
                    offset,
                    "partition revoked meanwhile; offset not stored"
                );
                continue;
            }
            // librdkafka stores offset + 1: the next message to read.
            if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                tracing::debug!(partition, offset, error = %e, "offset not stored");
            }
        }
    }
    Ok(())
}

/// Awaits every delivery; the first failure is the error.
async fn all_delivered(deliveries: Vec<DeliveryFuture>) -> Result<()> {
    for delivery in deliveries {
        let failure = match delivery.await {
            Ok(Ok(_)) => continue,
            Ok(Err((e, _))) => anyhow!("delivery failed: {e}"),
            Err(_) => anyhow!("delivery abandoned: the producer was dropped"),
        };
        return Err(failure.context("stopping without storing offsets for unacknowledged work"));
    }
    Ok(())
}
