//! Stage 2a, decode: a message's bytes become a valid [`Transaction`] or a [`DeadLetter`] with a
//! reason from the closed set and the message's source position. Pure apart from the Schema
//! Registry lookup of a writer schema it has not seen (blocking HTTP, cached): when the registry
//! cannot be asked, that says nothing about the message, so it is an error — the batch is not
//! written and its offsets are not stored — never a dead letter.

use aegis_core::avro::AvroCodec;
use aegis_core::dead_letter::SourcePosition;
use aegis_core::{DeadLetter, DeadLetterReason, Transaction};
use aegis_kafka::registry::{DecodeError, RegistryDecoder};

use super::intake::Received;

/// What one message decodes to.
#[derive(Debug)]
pub enum Decoded {
    /// A valid transaction, to score.
    Valid(Transaction),
    /// Not a transaction Aegis can score: to the dead-letter topic, with why and whence.
    DeadLetter(DeadLetter),
}

/// Reads the input topic's messages: Avro single-object encoding, or the Confluent wire format
/// with a writer schema from the registry.
pub struct Decoder {
    input_topic: String,
    registry: Option<RegistryDecoder<Transaction>>,
}

impl Decoder {
    /// A decoder of `input_topic`'s messages, resolving Confluent-framed input through
    /// `registry` when one is given.
    pub fn new(input_topic: &str, registry: Option<RegistryDecoder<Transaction>>) -> Decoder {
        Decoder {
            input_topic: input_topic.to_owned(),
            registry,
        }
    }

    /// Where `message` was read: a dead letter's source.
    pub fn source_of(&self, message: &Received) -> SourcePosition {
        SourcePosition {
            topic: self.input_topic.clone(),
            partition: message.partition,
            offset: message.offset,
        }
    }

    /// Decodes and validates one message. `Err` means the registry could not be asked.
    pub fn decode(&self, message: &Received) -> Result<Decoded, DecodeError> {
        let dead = |reason, error: String| {
            Decoded::DeadLetter(DeadLetter {
                reason,
                error,
                source: self.source_of(message),
            })
        };
        let Some(bytes) = message.payload.as_deref() else {
            return Ok(dead(
                DeadLetterReason::Empty,
                "message has no value".to_owned(),
            ));
        };
        let decoded = match &self.registry {
            Some(registry) => registry.decode(bytes),
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
                return Ok(dead(reason, e.to_string()));
            }
        };
        Ok(match tx.validate() {
            Ok(()) => Decoded::Valid(tx),
            Err(e) => dead(
                DeadLetterReason::Invalid,
                format!("invalid transaction {}: {e}", tx.tx_id),
            ),
        })
    }
}
