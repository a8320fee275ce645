//! [`RegistryDecoder`]: messages in either framing, read with their writer's schema from the
//! registry, and [`DecodeError`], which tells a registry outage from a bad message.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{RegistryError, SchemaRegistry};
use aegis_core::avro::{AvroCodec, CodecError, Framing};
use aegis_core::DeadLetterReason;

/// Why [`RegistryDecoder::decode`] failed: the bytes, or the registry.
///
/// At-least-once: an unreachable registry ([`dead_letter_reason`](Self::dead_letter_reason) is
/// `None`) says nothing about the message, so the caller must not dead-letter it or store its
/// offset — it retries with a bounded backoff or stops the replica, and the message is read again
/// once the registry is back. Everything else is the message's own fault and goes to the DLQ with
/// that reason.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a message of this codec's schema (see [`CodecError::reason`]).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The writer's schema could not be had from the registry.
    #[error("message written with schema id {schema_id}: {source}")]
    Registry {
        /// The schema id in the message's Confluent header.
        schema_id: u32,
        /// What the registry call returned.
        #[source]
        source: RegistryError,
    },
}

impl DecodeError {
    /// The dead-letter reason the message earns: a [`CodecError::reason`], or `UnknownSchema`
    /// (the id is not in the registry) or `UnreadableSchema` (its schema is not Avro that can be
    /// parsed). `None` when the registry could not be asked: that says nothing about the message,
    /// which must not be dead-lettered (see the type's docs).
    pub fn dead_letter_reason(&self) -> Option<DeadLetterReason> {
        match self {
            DecodeError::Codec(e) => Some(e.reason()),
            DecodeError::Registry { source, .. } if source.is_unavailable() => None,
            DecodeError::Registry {
                source: RegistryError::UnreadableSchema { .. },
                ..
            } => Some(DeadLetterReason::UnreadableSchema),
            DecodeError::Registry { .. } => Some(DeadLetterReason::UnknownSchema),
        }
    }

    /// Whether the message may decode once the registry is reachable again: do not dead-letter it.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DecodeError::Registry { source, .. } if source.is_unavailable())
    }
}

/// Decodes messages of one record type in either framing. Single-object messages and Confluent
/// messages whose registered schema is identical to the codec's (same Parsing Canonical Form) take
/// the fast [`AvroCodec::decode`]; other ids are resolved from the writer's schema with
/// [`AvroCodec::decode_with_writer`]. A registry lookup happens once per id per process.
pub struct RegistryDecoder<T: 'static> {
    codec: &'static AvroCodec<T>,
    registry: Arc<SchemaRegistry>,
}

impl<T: 'static> Clone for RegistryDecoder<T> {
    fn clone(&self) -> Self {
        RegistryDecoder {
            codec: self.codec,
            registry: Arc::clone(&self.registry),
        }
    }
}

impl<T: Serialize + DeserializeOwned + 'static> RegistryDecoder<T> {
    /// A decoder reading with `codec`'s schema and looking writer schemas up in `registry`.
    pub fn new(codec: &'static AvroCodec<T>, registry: Arc<SchemaRegistry>) -> Self {
        RegistryDecoder { codec, registry }
    }

    /// Decodes one message, returning the value and the framing it came in.
    pub fn decode(&self, bytes: &[u8]) -> Result<(T, Framing), DecodeError> {
        let schema_id = match Framing::detect(bytes)? {
            Framing::SingleObject => return Ok(self.codec.decode(bytes)?),
            Framing::Confluent { schema_id } => schema_id,
        };
        let writer = self
            .registry
            .cached(schema_id)
            .map_err(|source| DecodeError::Registry { schema_id, source })?;
        if writer.fingerprint == self.codec.fingerprint() {
            Ok(self.codec.decode(bytes)?)
        } else {
            Ok(self.codec.decode_with_writer(bytes, &writer.schema)?)
        }
    }
}
