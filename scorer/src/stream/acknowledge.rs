//! Acknowledgement: each batch's deliveries are awaited in order, and only then are its offsets
//! stored — for partitions still held under the epoch its messages were received in.

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

/// Work scored and handed to the producer, awaiting acknowledgement.
pub(super) struct InFlight {
    pub deliveries: Vec<DeliveryFuture>,
    /// Shadow verdicts: awaited after the batch's own, and a failure is counted, not fatal — the
    /// shadow is measured, never acted on, so it must not stop the live stream.
    pub shadow_deliveries: Vec<DeliveryFuture>,
    pub outputs: Vec<Output>,
    /// The offsets to store once every delivery is acknowledged.
    pub offsets: Vec<InFlightOffset>,
    /// Messages whose account changes are among `deliveries` (0 without a changelog).
    pub changelogged: usize,
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

/// Awaits each batch's deliveries in order, then stores its offsets (and, with `--live-view own`,
/// shows its verdicts on the live page).
pub(super) async fn acknowledge(
    mut flights: mpsc::Receiver<InFlight>,
    consumer: Arc<ScorerConsumer>,
    replica: Arc<ReplicaState>,
    record_live: bool,
    topic: String,
    stop: CancellationToken,
) -> Result<()> {
    let (assignment, metrics) = (&replica.assignment, &replica.metrics);
    while let Some(flight) = flights.recv().await {
        for delivery in flight.deliveries {
            let failure = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((e, _))) => anyhow!("delivery failed: {e}"),
                Err(_) => anyhow!("delivery abandoned: the producer was dropped"),
            };
            // Nothing of this batch (or later ones) is stored: it will be read again.
            metrics.delivery_failed();
            stop.cancel();
            return Err(failure.context("stopping without storing offsets for unacknowledged work"));
        }
        for delivery in flight.shadow_deliveries {
            if !matches!(delivery.await, Ok(Ok(_))) {
                metrics.shadow_delivery_failed();
            }
        }
        metrics.changelog_acknowledged(flight.changelogged);
        metrics.acknowledged(&flight.outputs, now_ms());
        if record_live {
            for output in &flight.outputs {
                if let Output::Verdict { verdict, .. } = output {
                    replica.live.record(verdict);
                }
            }
        }
        for InFlightOffset {
            partition,
            epoch,
            offset,
        } in flight.offsets
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
