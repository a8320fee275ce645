//! The three kinds of message the ledger compares, read from Kafka records: inputs (or the fuzz
//! manifest's entries), verdicts and dead letters.

use aegis_core::avro::AvroCodec;
use aegis_core::dead_letter::DeadLetterHeaderError;

use crate::expect::Expected;
use crate::topic::Record;

/// The kind of a message read from the input topic (written by `aegis-producer`).
pub const PRODUCER_KIND: &str = "producer";

/// One message of the input topic.
#[derive(Clone, Debug)]
pub struct Input {
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// A hostile kind's name, `valid`, or `producer`.
    pub kind: String,
    /// What must become of it.
    pub expected: Expected,
    /// The transaction id, when the value decodes.
    pub tx_id: Option<String>,
    /// Key and value, to compare with the dead letter.
    pub key: Option<Vec<u8>>,
    /// See `key`.
    pub payload: Option<Vec<u8>>,
}

impl Input {
    /// An input message written by `aegis-producer`: it must decode and must be scored.
    pub fn from_record(record: Record) -> Input {
        let tx_id = record
            .payload
            .as_deref()
            .and_then(|bytes| AvroCodec::transaction().decode(bytes).ok())
            .map(|(tx, _)| tx.tx_id);
        Input {
            partition: record.partition,
            offset: record.offset,
            kind: PRODUCER_KIND.to_owned(),
            expected: Expected::Verdict,
            tx_id,
            key: record.key,
            payload: record.payload,
        }
    }
}

/// One message of the dead-letter topic.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// What its headers say, read by the contract's one parser; `Err` when they break it.
    pub headers: Result<aegis_core::DeadLetter, DeadLetterHeaderError>,
    /// The key and value as the dead letter carries them.
    pub key: Option<Vec<u8>>,
    /// See `key`.
    pub payload: Option<Vec<u8>>,
}

impl DeadLetter {
    /// Reads the scorer's headers from a dead-letter message.
    pub fn from_record(record: Record) -> DeadLetter {
        let headers = aegis_core::DeadLetter::from_headers(
            record
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), Some(value.as_slice()))),
        );
        DeadLetter {
            headers,
            key: record.key,
            payload: record.payload,
        }
    }
}

/// One verdict: where it is, and its transaction id if it decodes.
#[derive(Clone, Debug)]
pub struct VerdictAt {
    /// Partition of the verdict topic.
    pub partition: i32,
    /// Offset there.
    pub offset: i64,
    /// The transaction id, `None` if the value does not decode.
    pub tx_id: Option<String>,
}

impl VerdictAt {
    /// Reads one verdict message.
    pub fn from_record(record: &Record) -> VerdictAt {
        let tx_id = record
            .payload
            .as_deref()
            .and_then(|bytes| AvroCodec::verdict().decode(bytes).ok())
            .map(|(verdict, _)| verdict.tx_id);
        VerdictAt {
            partition: record.partition,
            offset: record.offset,
            tx_id,
        }
    }
}
