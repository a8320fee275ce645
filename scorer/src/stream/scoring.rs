//! Turning raw input messages into outputs: a verdict for every decodable, valid transaction; a
//! dead letter, with a reason from a closed set, for everything else. Pure and synchronous, so it
//! runs off the consumer's poll path and is easy to test.

use std::sync::{Arc, Mutex, RwLock};

use aegis_core::account_state::{AccountHistory, StateFeatures};
use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::rules::RuleSet;
use aegis_core::{DeadLetterReason, Model, Transaction, Verdict};
use aegis_kafka::registry::{DecodeError, RegistryDecoder};

use super::state::{Changes, Restore, StateLimits, States};
use crate::metrics::Metrics;
use crate::models::Models;

/// One consumed message, detached from the consumer.
#[derive(Clone, Debug)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    /// The assignment epoch of the partition when the message was received.
    pub epoch: u64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

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
    DeadLetter {
        reason: DeadLetterReason,
        error: String,
    },
}

/// The shadow model's verdict for a transaction, and its encoding: written to the shadow topic
/// and measured against the live verdict, never acted on.
#[derive(Debug)]
pub struct Shadowed {
    pub verdict: Verdict,
    pub value: Vec<u8>,
}

/// What one payload decodes to.
#[derive(Debug)]
pub enum Decoded {
    /// A valid transaction, to score.
    Valid(Transaction),
    /// Not a transaction Aegis can score: a dead letter, with why.
    DeadLetter {
        reason: DeadLetterReason,
        error: String,
    },
}

/// The models (live and shadow, swappable), the framing verdicts are written in, and (with a
/// Schema Registry) the decoder that resolves Confluent-framed input written with other registered
/// schemas.
pub struct Scorer {
    models: Models,
    rules: RwLock<Arc<RuleSet>>,
    states: Mutex<States>,
    limits: StateLimits,
    metrics: Arc<Metrics>,
    framing: Framing,
    decoder: Option<RegistryDecoder<Transaction>>,
}

impl Scorer {
    pub fn new(
        models: Models,
        rules: RuleSet,
        limits: StateLimits,
        restore: Option<Restore>,
        metrics: Arc<Metrics>,
        framing: Framing,
        decoder: Option<RegistryDecoder<Transaction>>,
    ) -> Self {
        Scorer {
            models,
            rules: RwLock::new(Arc::new(rules)),
            states: Mutex::new(States::new(limits, restore)),
            limits,
            metrics,
            framing,
            decoder,
        }
    }

    /// Restores `partition`'s account states for assignment `epoch` from the changelog (called
    /// when the partition is assigned, while the consumer holds it paused). The changelog is read
    /// without the state lock, so other partitions are scored meanwhile; the result is installed
    /// only while `still_held()` (a partition revoked meanwhile belongs to its next owner) and if no
    /// message of that epoch restored the partition first.
    pub fn restore_partition(
        &self,
        partition: i32,
        epoch: u64,
        still_held: impl Fn() -> bool,
    ) -> anyhow::Result<()> {
        let restore = self.lock_states().restore();
        let Some(restore) = restore else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let accounts = restore(partition)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut held = self.lock_states();
        if !still_held() {
            return Ok(());
        }
        if let Some(restored) = held.install(partition, epoch, accounts, seconds) {
            self.metrics.state_restored(&restored);
            self.metrics.state_accounts(held.accounts());
        }
        Ok(())
    }

    fn lock_states(&self) -> std::sync::MutexGuard<'_, States> {
        // A poisoned lock only means another thread panicked mid-batch; the next new epoch
        // restores from the changelog anyway.
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the rule set: the next batch uses the new one.
    pub fn set_rules(&self, rules: RuleSet) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }

    /// The rule set now.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Verdicts for transactions scored outside the stream (`POST /v1/score`): the live model and
    /// the rules, each transaction taken as its account's first (the API keeps no state).
    pub fn stateless_verdicts(&self, txs: &[&Transaction], now_ms: i64) -> Vec<Verdict> {
        let (model, rules) = (self.model(), self.rules());
        let mut verdicts = model.verdicts(txs, now_ms);
        for (verdict, tx) in verdicts.iter_mut().zip(txs) {
            let state = AccountHistory::default().features(tx, 0, &self.limits.params);
            rules.apply(verdict, tx, &state);
        }
        verdicts
    }

    /// The live model now (a swap installs another; take it once per batch).
    pub fn model(&self) -> Arc<Model> {
        self.models.live()
    }

    /// The live and shadow slots.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Decodes and validates one payload. `Err` means the registry could not be asked — that says
    /// nothing about the message, so it must not be dead-lettered: the caller stops without storing
    /// the offset.
    pub fn decode(&self, payload: Option<&[u8]>) -> Result<Decoded, DecodeError> {
        let Some(bytes) = payload else {
            return Ok(Decoded::DeadLetter {
                reason: DeadLetterReason::Empty,
                error: "message has no value".to_owned(),
            });
        };
        let decoded = match &self.decoder {
            Some(decoder) => decoder.decode(bytes),
            None => AvroCodec::transaction()
                .decode(bytes)
                .map_err(DecodeError::from),
        };
        let tx = match decoded {
            Ok((tx, _)) => tx,
            Err(e) => {
                let Some(reason) = e.dead_letter_reason() else {
                    return Err(e);
                };
                let error = e.to_string();
                return Ok(Decoded::DeadLetter { reason, error });
            }
        };
        Ok(match tx.validate() {
            Ok(()) => Decoded::Valid(tx),
            Err(e) => Decoded::DeadLetter {
                reason: DeadLetterReason::Invalid,
                error: format!("invalid transaction {}: {e}", tx.tx_id),
            },
        })
    }

    /// The output for every message of a batch, in order; `Err` if the registry is unreachable.
    /// The batch's valid transactions are scored together by the compiled forest of the live model
    /// taken at the start: the whole batch is scored by one model, whatever a swap does meanwhile
    /// — and, when a shadow model is published, by the shadow too, with the same kernel. Also the
    /// changelog records of the accounts the batch changed. `Err` when the registry or the
    /// changelog cannot be read: nothing of the batch may be written then.
    pub fn process(
        &self,
        batch: &[Received],
        now_ms: i64,
    ) -> anyhow::Result<(Vec<Output>, Changes)> {
        let (model, shadow, rules) = (self.model(), self.models.shadow(), self.rules());
        let decoded = batch
            .iter()
            .map(|m| self.decode(m.payload.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        // Each valid transaction's state features, in input order: what its account did before.
        let mut states: Vec<StateFeatures> = Vec::new();
        let mut valid: Vec<&Transaction> = Vec::new();
        let mut changes = Changes::new();
        {
            let mut held = self.lock_states();
            for (message, d) in batch.iter().zip(&decoded) {
                if let Decoded::Valid(tx) = d {
                    states.push(held.observe(
                        message.partition,
                        message.epoch,
                        message.offset,
                        tx,
                        &mut changes,
                        |reason| self.metrics.state_evicted(reason),
                        |restored| self.metrics.state_restored(&restored),
                    )?);
                    valid.push(tx);
                }
            }
            self.metrics.state_accounts(held.accounts());
        }
        let mut states = states.into_iter();
        // One verdict per valid transaction, in order.
        let mut verdicts = model.verdicts(&valid, now_ms).into_iter();
        let mut shadows = shadow.map(|m| m.verdicts(&valid, now_ms).into_iter());
        let outputs = decoded
            .into_iter()
            .map(|d| match d {
                Decoded::Valid(tx) => {
                    let mut verdict = verdicts
                        .next()
                        .unwrap_or_else(|| model.verdict(&tx, now_ms));
                    let mut shadow = shadows.as_mut().and_then(Iterator::next);
                    let state = states.next().unwrap_or_default();
                    rules.apply(&mut verdict, &tx, &state);
                    if let Some(shadow) = &mut shadow {
                        rules.apply(shadow, &tx, &state);
                    }
                    self.encode(verdict, shadow)
                }
                Decoded::DeadLetter { reason, error } => Output::DeadLetter { reason, error },
            })
            .collect();
        Ok((outputs, changes))
    }

    fn encode(&self, verdict: Verdict, shadow: Option<Verdict>) -> Output {
        let shadow = shadow.and_then(|verdict| {
            let value = AvroCodec::verdict().encode(&verdict, self.framing).ok()?;
            Some(Box::new(Shadowed { verdict, value }))
        });
        match AvroCodec::verdict().encode(&verdict, self.framing) {
            Ok(value) => Output::Verdict {
                verdict,
                value,
                shadow,
            },
            // A verdict that does not fit its own schema is a bug; keep the input, say why.
            Err(e) => Output::DeadLetter {
                reason: DeadLetterReason::Invalid,
                error: format!("cannot encode verdict for {}: {e}", verdict.tx_id),
            },
        }
    }
}
