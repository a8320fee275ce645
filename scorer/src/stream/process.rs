//! Stage 2, processing: each batch is scored on the blocking pool ([`score_batch`]: decode →
//! account state → decide → encode), then every output is handed to the producers ([`Outputs`])
//! and the deliveries to the acknowledgement stage, in batch order. A full producer queue means
//! wait, never drop. It reads the replica's model and rule slots once per batch and writes its
//! account states; it stores no offset.

use std::sync::Arc;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::clock::now_ms;
use aegis_core::decide::decide;
use aegis_core::{DeadLetter, DeadLetterReason, Transaction, Verdict};
use anyhow::{Context, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::acknowledge::{InFlight, InFlightOffset, Settle};
use super::decode::Decoded;
use super::intake::Received;
use super::produce::Outputs;
use super::state::{At, Changes};
use crate::replica::ReplicaState;

/// What to write for one message.
#[derive(Debug)]
pub enum Output {
    /// A verdict and its encoding; the Kafka key is `verdict.account`. With a shadow model, also
    /// the shadow's verdict for the same transaction.
    Verdict {
        verdict: Verdict,
        value: Vec<u8>,
        shadow: Option<Box<Shadowed>>,
    },
    /// The original message, to the dead-letter topic.
    DeadLetter(DeadLetter),
}

/// The shadow model's verdict for a transaction, and its encoding: written to the shadow topic
/// and measured against the live verdict, never acted on.
#[derive(Debug)]
pub struct Shadowed {
    pub verdict: Verdict,
    pub value: Vec<u8>,
}

/// A batch scored: an output per message, in order, and the changelog records of the accounts it
/// changed.
#[derive(Debug)]
pub struct Scored {
    pub outputs: Vec<Output>,
    pub changes: Changes,
}

/// Scores a batch: every message decoded; each valid transaction's account state read and
/// updated (partitions of a new assignment restored first); all of them decided together by the
/// live model and the rules taken at the start — the whole batch by one model and one rule set,
/// whatever a swap does meanwhile — and by the shadow model too when one is published; then
/// encoded in the replica's framing. `Err` when the registry or the changelog cannot be read: nothing of the
/// batch may be written then.
pub fn score_batch(replica: &ReplicaState, batch: &[Received], now_ms: i64) -> Result<Scored> {
    let (decoder, framing) = (&replica.decoder, replica.framing);
    let (model, shadow) = (replica.models.live(), replica.models.shadow());
    let rules = replica.rules.current();
    let decoded = batch
        .iter()
        .map(|m| decoder.decode(m, now_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let valid: Vec<(At, &Transaction)> = batch
        .iter()
        .zip(&decoded)
        .filter_map(|(m, d)| match d {
            Decoded::Valid(tx) => Some((at(m), tx)),
            Decoded::DeadLetter(_) => None,
        })
        .collect();
    replica
        .states
        .restore_missing(valid.iter().map(|(at, _)| (at.partition, at.epoch)))?;
    let mut changes = Changes::default();
    let states = replica
        .states
        .observe(valid.iter().copied(), now_ms, &mut changes);
    let txs: Vec<&Transaction> = valid.iter().map(|(_, tx)| *tx).collect();
    let mut verdicts = decide(&model, &rules, &txs, &states, now_ms).into_iter();
    let mut shadows = shadow.map(|m| decide(&m, &rules, &txs, &states, now_ms).into_iter());
    let outputs = batch
        .iter()
        .zip(decoded)
        .map(|(message, d)| match d {
            Decoded::DeadLetter(letter) => Output::DeadLetter(letter),
            Decoded::Valid(_) => {
                let shadow = shadows.as_mut().and_then(Iterator::next);
                encode(verdicts.next(), shadow, framing).unwrap_or_else(|error| {
                    Output::DeadLetter(DeadLetter {
                        reason: DeadLetterReason::Invalid,
                        error,
                        source: decoder.source_of(message),
                    })
                })
            }
        })
        .collect();
    Ok(Scored { outputs, changes })
}

fn at(m: &Received) -> At {
    At {
        partition: m.partition,
        epoch: m.epoch,
        offset: m.offset,
    }
}

/// The output of a transaction's verdict; `Err` says why there is none — a bug, kept visible as a
/// dead letter of the input rather than a panic on the stream: a verdict that does not fit its
/// own schema, or none made (`decide` gives one per transaction).
fn encode(
    verdict: Option<Verdict>,
    shadow: Option<Verdict>,
    framing: Framing,
) -> Result<Output, String> {
    let verdict = verdict.ok_or("no verdict was made for this transaction (a bug)")?;
    let value = AvroCodec::verdict()
        .encode(&verdict, framing)
        .map_err(|e| format!("cannot encode verdict for {}: {e}", verdict.tx_id))?;
    let shadow = shadow.and_then(|verdict| {
        let value = AvroCodec::verdict().encode(&verdict, framing).ok()?;
        Some(Box::new(Shadowed { verdict, value }))
    });
    Ok(Output::Verdict {
        verdict,
        value,
        shadow,
    })
}

/// The processing stage's state.
pub(super) struct Processing {
    /// From intake.
    pub batches: mpsc::Receiver<Vec<Received>>,
    /// To acknowledgement.
    pub flights: mpsc::Sender<InFlight>,
    pub replica: Arc<ReplicaState>,
    pub outputs: Arc<Outputs>,
    /// Cancelled when this stage stops for good, so that the pipeline shuts down.
    pub stop: CancellationToken,
}

impl Processing {
    pub async fn run(mut self) -> Result<()> {
        let result = self.process_all().await;
        if result.is_err() {
            self.stop.cancel();
        }
        result
    }

    async fn process_all(&mut self) -> Result<()> {
        while let Some(batch) = self.batches.recv().await {
            let replica = self.replica.clone();
            let (batch, scored, took) = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let scored = score_batch(&replica, &batch, now_ms());
                (batch, scored, started.elapsed())
            })
            .await?;
            // An unreachable registry must not send good messages to the DLQ: stop, store
            // nothing, and let the next run read them again.
            let scored = scored.context("stopping without storing offsets for this batch")?;
            self.replica.metrics.scored_batch(batch.len(), took);
            let flight = self.produce(&batch, scored).await?;
            if self.flights.send(flight).await.is_err() {
                break; // acknowledgement stopped after a fatal error
            }
        }
        Ok(())
    }

    /// Hands a scored batch's outputs, shadow verdicts and changelog records to the producers.
    async fn produce(&self, batch: &[Received], scored: Scored) -> Result<InFlight> {
        let Scored { outputs, changes } = scored;
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut shadow_deliveries = Vec::new();
        for (message, output) in batch.iter().zip(&outputs) {
            deliveries.push(self.outputs.send(message, output).await?);
            if let Output::Verdict {
                shadow: Some(shadow),
                ..
            } = output
            {
                shadow_deliveries.push(self.outputs.send_shadow(shadow).await?);
            }
        }
        // The batch's account changes go to the changelog; its offsets are stored only once
        // these are acknowledged too, so a restored state never lags what was committed.
        let mut state_deliveries = Vec::with_capacity(changes.len());
        let mut changelogged = 0;
        if self.outputs.keeps_changelog() {
            for record in changes.into_records() {
                state_deliveries.push(self.outputs.send_state(&record).await?);
            }
            changelogged = batch.len();
            self.replica.metrics.changelog_written(changelogged);
        }
        Ok(InFlight {
            deliveries,
            shadow_deliveries,
            outputs,
            settle: Settle {
                state_deliveries,
                changelogged,
                offsets: InFlightOffset::highest_of(batch),
            },
        })
    }
}
