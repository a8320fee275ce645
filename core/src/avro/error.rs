//! What can be wrong with bytes handed to the codec, or with a value it cannot encode.

use crate::dead_letter::DeadLetterReason;

/// Why a message could not be decoded. Each variant names the problem, so the message can go to
/// the dead-letter topic with a [`reason`](CodecError::reason).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The message has no bytes at all.
    #[error("empty message: expected an Avro single-object or Confluent-framed message")]
    Empty,
    /// The first byte is neither `0x00` (Confluent) nor `0xC3 0x01` (single-object).
    #[error(
        "unknown magic byte 0x{first_byte:02X}: expected 0x00 (Confluent wire format) or \
         0xC3 0x01 (Avro single-object encoding)"
    )]
    UnknownMagic {
        /// The message's first byte.
        first_byte: u8,
    },
    /// The message ends inside its header.
    #[error("truncated header: the framing needs {needed} bytes but the message has {got}")]
    Truncated {
        /// Length of the header of the framing the magic announces.
        needed: usize,
        /// Length of the message.
        got: usize,
    },
    /// A single-object message written with another schema than the one expected.
    #[error(
        "unknown schema fingerprint {}: not the schema this codec reads",
        hex(found)
    )]
    UnknownFingerprint {
        /// The fingerprint in the message, as its 8 bytes (little-endian CRC-64-AVRO).
        found: [u8; 8],
    },
    /// The Avro body is truncated, corrupt, or does not match the schema.
    #[error("invalid Avro body: {0}")]
    Body(#[source] apache_avro::Error),
    /// The body is of the schema, but a value is not valid for its field (a NaN amount, an empty
    /// id).
    #[error("not a valid transaction: {0}")]
    Invalid(String),
    /// A valid body is followed by bytes that belong to no field.
    #[error("{count} trailing bytes after a complete Avro body")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
}

/// A value does not fit its own schema: a bug, not bad input.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode as Avro: {0}")]
pub struct EncodeError(#[source] pub apache_avro::Error);

impl CodecError {
    /// The dead-letter reason this error gives the message.
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            CodecError::Empty => DeadLetterReason::Empty,
            CodecError::UnknownMagic { .. } => DeadLetterReason::UnknownMagic,
            CodecError::Truncated { .. } => DeadLetterReason::Truncated,
            CodecError::UnknownFingerprint { .. } => DeadLetterReason::UnknownFingerprint,
            CodecError::Body(_) => DeadLetterReason::Body,
            CodecError::TrailingBytes { .. } => DeadLetterReason::TrailingBytes,
            CodecError::Invalid(_) => DeadLetterReason::Invalid,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
