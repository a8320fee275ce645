//! Turning raw input messages into outputs: a verdict for every decodable, valid transaction; a
//! dead letter, with a reason from a closed set, for everything else. Pure and synchronous, so it
//! runs off the consumer's poll path and is easy to test.

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::registry::{DecodeError, RegistryDecoder};
use aegis_core::{Model, Transaction, Verdict};

/// Why a message went to the dead-letter topic (the contract's closed set).
pub use aegis_core::kafka::DEAD_LETTER_REASONS;

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
    /// A verdict and its encoding; the Kafka key is `verdict.account`.
    Verdict { verdict: Verdict, value: Vec<u8> },
    /// The original message, to the dead-letter topic.
    DeadLetter { reason: &'static str, error: String },
}

/// A model, the framing verdicts are written in, and (with a Schema Registry) the decoder that
/// resolves Confluent-framed input written with other registered schemas.
pub struct Scorer {
    model: Model,
    framing: Framing,
    decoder: Option<RegistryDecoder<Transaction>>,
}

impl Scorer {
    pub fn new(
        model: Model,
        framing: Framing,
        decoder: Option<RegistryDecoder<Transaction>>,
    ) -> Self {
        Scorer {
            model,
            framing,
            decoder,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Decodes and validates one payload. `Ok(Err((reason, message)))` is a dead letter; `Err` means
    /// the registry could not be asked — that says nothing about the message, so it must not be
    /// dead-lettered: the caller stops without storing the offset.
    pub fn decode(
        &self,
        payload: Option<&[u8]>,
    ) -> Result<Result<Transaction, (&'static str, String)>, DecodeError> {
        let Some(bytes) = payload else {
            return Ok(Err(("empty", "message has no value".to_owned())));
        };
        let decoded = match &self.decoder {
            Some(decoder) => match decoder.decode(bytes) {
                Err(e) if e.is_retryable() => return Err(e),
                other => other.map_err(|e| (e.kind(), e.to_string())),
            },
            None => AvroCodec::transaction()
                .decode(bytes)
                .map_err(|e| (e.kind(), e.to_string())),
        };
        Ok(decoded.and_then(|(tx, _)| match tx.validate() {
            Ok(()) => Ok(tx),
            Err(e) => Err(("invalid", format!("invalid transaction {}: {e}", tx.tx_id))),
        }))
    }

    /// The verdict for one valid transaction, stamped `now_ms`.
    pub fn verdict(&self, tx: &Transaction, now_ms: i64) -> Verdict {
        self.model.verdict(tx, now_ms)
    }

    /// The output for every message of a batch, in order; `Err` if the registry is unreachable.
    /// The batch's valid transactions are scored together by the compiled forest.
    pub fn process(&self, batch: &[Received], now_ms: i64) -> Result<Vec<Output>, DecodeError> {
        let decoded = batch
            .iter()
            .map(|m| self.decode(m.payload.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let valid: Vec<&Transaction> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
        // One verdict per valid transaction, in order.
        let mut verdicts = self.model.verdicts(&valid, now_ms).into_iter();
        Ok(decoded
            .into_iter()
            .map(|d| match d {
                Ok(tx) => match verdicts.next() {
                    Some(verdict) => self.encode(verdict),
                    None => self.encode(self.verdict(&tx, now_ms)),
                },
                Err((reason, error)) => Output::DeadLetter { reason, error },
            })
            .collect())
    }

    fn encode(&self, verdict: Verdict) -> Output {
        match AvroCodec::verdict().encode(&verdict, self.framing) {
            Ok(value) => Output::Verdict { verdict, value },
            // A verdict that does not fit its own schema is a bug; keep the input, say why.
            Err(e) => Output::DeadLetter {
                reason: "invalid",
                error: format!("cannot encode verdict for {}: {e}", verdict.tx_id),
            },
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
