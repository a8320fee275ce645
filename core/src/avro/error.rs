//! What can be wrong with bytes handed to the codec, or with a value it cannot encode.

/// Why a message could not be decoded (or a value encoded). Each variant names the problem, so the
/// message can go to the dead-letter topic with a reason.
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
    /// A valid body is followed by bytes that belong to no field.
    #[error("{count} trailing bytes after a complete Avro body")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// The value does not fit the schema (a bug, not bad input).
    #[error("cannot encode as Avro: {0}")]
    Encode(#[source] apache_avro::Error),
}

impl CodecError {
    /// A short fixed name for the kind of error, fit for a metric label or a DLQ header:
    /// `empty`, `unknown_magic`, `truncated`, `unknown_fingerprint`, `body`, `trailing_bytes`,
    /// `encode`.
    pub fn kind(&self) -> &'static str {
        match self {
            CodecError::Empty => "empty",
            CodecError::UnknownMagic { .. } => "unknown_magic",
            CodecError::Truncated { .. } => "truncated",
            CodecError::UnknownFingerprint { .. } => "unknown_fingerprint",
            CodecError::Body(_) => "body",
            CodecError::TrailingBytes { .. } => "trailing_bytes",
            CodecError::Encode(_) => "encode",
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
