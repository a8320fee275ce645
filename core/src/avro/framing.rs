//! The two headers an Aegis message may start with, written and read without touching the body.

use super::CodecError;

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const SINGLE_OBJECT_HEADER_LEN: usize = 2 + 8;
const CONFLUENT_MAGIC: u8 = 0x00;
const CONFLUENT_HEADER_LEN: usize = 1 + 4;

/// How a message is framed around its Avro body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Avro single-object encoding: `0xC3 0x01`, the schema's 8-byte little-endian CRC-64-AVRO
    /// fingerprint, then the body. Used when there is no Schema Registry.
    SingleObject,
    /// Confluent wire format: `0x00`, the 4-byte big-endian Schema Registry id, then the body.
    Confluent {
        /// The id under which the writer's schema is registered.
        schema_id: u32,
    },
}

impl Framing {
    /// Reads only the header of `bytes`: which framing it uses and, for Confluent, the schema id
    /// to look up before [`AvroCodec::decode_with_writer`](super::AvroCodec::decode_with_writer).
    /// The fingerprint of a single-object message is not checked here.
    pub fn detect(bytes: &[u8]) -> Result<Framing, CodecError> {
        Frame::parse(bytes).map(|frame| frame.framing)
    }

    /// Appends this framing's header for a schema with the given fingerprint.
    pub(super) fn write_header(self, fingerprint: [u8; 8], buf: &mut Vec<u8>) {
        match self {
            Framing::SingleObject => {
                buf.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                buf.extend_from_slice(&fingerprint);
            }
            Framing::Confluent { schema_id } => {
                buf.push(CONFLUENT_MAGIC);
                buf.extend_from_slice(&schema_id.to_be_bytes());
            }
        }
    }
}

/// A message split into its header and its Avro body.
pub(super) struct Frame<'a> {
    pub(super) framing: Framing,
    /// The schema fingerprint of a single-object message.
    pub(super) fingerprint: Option<[u8; 8]>,
    pub(super) body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The Avro body of `bytes`, after a header of either framing; a single-object message must
    /// carry `fingerprint`, or `legacy` (counted: [`super::legacy_fingerprint_reads`]). A
    /// Confluent one's schema id is the caller's to look up.
    pub(super) fn body_for(
        bytes: &'a [u8],
        fingerprint: [u8; 8],
        legacy: [u8; 8],
    ) -> Result<(Framing, &'a [u8]), CodecError> {
        let frame = Frame::parse(bytes)?;
        match frame.fingerprint {
            Some(found) if found == fingerprint => {}
            Some(found) if found == legacy => {
                super::LEGACY_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Some(found) => return Err(CodecError::UnknownFingerprint { found }),
            None => {}
        }
        Ok((frame.framing, frame.body))
    }

    pub(super) fn parse(bytes: &'a [u8]) -> Result<Self, CodecError> {
        match bytes {
            [] => Err(CodecError::Empty),
            [CONFLUENT_MAGIC, ..] => Self::confluent(bytes),
            [0xC3] | [0xC3, 0x01, ..] => Self::single_object(bytes),
            [first_byte, ..] => Err(CodecError::UnknownMagic {
                first_byte: *first_byte,
            }),
        }
    }

    fn confluent(bytes: &'a [u8]) -> Result<Self, CodecError> {
        let (header, body) = split_header::<CONFLUENT_HEADER_LEN>(bytes)?;
        let [_, id @ ..] = header;
        Ok(Frame {
            framing: Framing::Confluent {
                schema_id: u32::from_be_bytes(id),
            },
            fingerprint: None,
            body,
        })
    }

    fn single_object(bytes: &'a [u8]) -> Result<Self, CodecError> {
        let (header, body) = split_header::<SINGLE_OBJECT_HEADER_LEN>(bytes)?;
        let [_, _, fingerprint @ ..] = header;
        Ok(Frame {
            framing: Framing::SingleObject,
            fingerprint: Some(fingerprint),
            body,
        })
    }
}

fn split_header<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), CodecError> {
    match bytes.split_first_chunk::<N>() {
        Some((header, body)) => Ok((*header, body)),
        None => Err(CodecError::Truncated {
            needed: N,
            got: bytes.len(),
        }),
    }
}
