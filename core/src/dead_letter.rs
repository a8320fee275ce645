//! The dead-letter contract: why a message went to `transactions.dlq` ([`DeadLetterReason`], a
//! closed set fit for metric labels), the header names that carry it, and the one place that builds
//! those headers ([`DeadLetter::headers`]) and the one that reads them back
//! ([`DeadLetter::from_headers`]).
//!
//! A dead letter keeps the original key and value; the headers say why and where it came from.

use std::fmt;
use std::str::FromStr;

/// Header names of a dead letter.
pub mod header {
    /// The [`DeadLetterReason`](super::DeadLetterReason), e.g. `unknown_magic`.
    pub const REASON: &str = "aegis.dlq.reason";
    /// What exactly is wrong, for people (one line).
    pub const ERROR: &str = "aegis.dlq.error";
    /// The topic the message was read from.
    pub const SOURCE_TOPIC: &str = "aegis.source.topic";
    /// The partition it was read from (decimal).
    pub const SOURCE_PARTITION: &str = "aegis.source.partition";
    /// Its offset there (decimal).
    pub const SOURCE_OFFSET: &str = "aegis.source.offset";
}

/// Why a message went to the dead-letter topic: the message's own fault, never a transient
/// condition (an unreachable registry is retried, not dead-lettered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadLetterReason {
    /// The message has no value.
    Empty,
    /// The first byte is neither Confluent's `0x00` nor single-object's `0xC3 0x01`.
    UnknownMagic,
    /// The message ends inside its framing header.
    Truncated,
    /// A single-object message written with a schema this reader does not know.
    UnknownFingerprint,
    /// The Avro body is truncated, corrupt, or not of the schema.
    Body,
    /// Bytes follow a complete Avro body.
    TrailingBytes,
    /// It decodes, but is not a valid transaction (NaN, a negative amount, …).
    Invalid,
    /// Confluent-framed with a schema id the registry does not hold.
    UnknownSchema,
    /// Confluent-framed with a registered schema that is not Avro this reader can parse.
    UnreadableSchema,
    /// Its event time cannot be a payment's: before 1970, or further ahead of the replica's
    /// clock than `--max-clock-skew` (a date in the future, microseconds written as
    /// milliseconds).
    EventTime,
}

impl DeadLetterReason {
    /// Every reason, in a fixed order (metrics are pre-registered for each).
    pub const ALL: [DeadLetterReason; 10] = [
        DeadLetterReason::Empty,
        DeadLetterReason::UnknownMagic,
        DeadLetterReason::Truncated,
        DeadLetterReason::UnknownFingerprint,
        DeadLetterReason::Body,
        DeadLetterReason::TrailingBytes,
        DeadLetterReason::Invalid,
        DeadLetterReason::UnknownSchema,
        DeadLetterReason::UnreadableSchema,
        DeadLetterReason::EventTime,
    ];

    /// The name in the `aegis.dlq.reason` header and the metrics' `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Empty => "empty",
            DeadLetterReason::UnknownMagic => "unknown_magic",
            DeadLetterReason::Truncated => "truncated",
            DeadLetterReason::UnknownFingerprint => "unknown_fingerprint",
            DeadLetterReason::Body => "body",
            DeadLetterReason::TrailingBytes => "trailing_bytes",
            DeadLetterReason::Invalid => "invalid",
            DeadLetterReason::UnknownSchema => "unknown_schema",
            DeadLetterReason::UnreadableSchema => "unreadable_schema",
            DeadLetterReason::EventTime => "event_time",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason name outside the contract's closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dead-letter reason {0:?}")]
pub struct UnknownReason(pub String);

impl FromStr for DeadLetterReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeadLetterReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// Where a dead letter was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePosition {
    /// The input topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The message's offset there.
    pub offset: i64,
}

/// What a dead letter's headers say: why, what exactly, and where from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why (the closed set).
    pub reason: DeadLetterReason,
    /// What exactly is wrong, for people.
    pub error: String,
    /// Where the message was read.
    pub source: SourcePosition,
}

/// Headers that do not make a dead letter of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadLetterHeaderError {
    /// A header the contract requires is absent (or has no value).
    #[error("dead letter without a {0} header")]
    Missing(&'static str),
    /// A header's value is not UTF-8, not a number where one is due, or not a known reason.
    #[error("dead letter header {name} is invalid: {value:?}")]
    Invalid {
        /// The header.
        name: &'static str,
        /// Its value, lossily decoded.
        value: String,
    },
}

impl DeadLetter {
    /// The headers to write, in the contract's order, as (name, value) pairs.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            (header::REASON, self.reason.as_str().to_owned()),
            (header::ERROR, self.error.clone()),
            (header::SOURCE_TOPIC, self.source.topic.clone()),
            (header::SOURCE_PARTITION, self.source.partition.to_string()),
            (header::SOURCE_OFFSET, self.source.offset.to_string()),
        ]
    }

    /// Reads the headers of a message on the dead-letter topic (other headers are ignored; the
    /// last of repeated names wins).
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<DeadLetter, DeadLetterHeaderError> {
        let names = [
            header::REASON,
            header::ERROR,
            header::SOURCE_TOPIC,
            header::SOURCE_PARTITION,
            header::SOURCE_OFFSET,
        ];
        let mut values: [Option<&[u8]>; 5] = [None; 5];
        for (name, value) in headers {
            if let Some(i) = names.iter().position(|n| *n == name) {
                values[i] = value;
            }
        }
        let text = |i: usize| -> Result<&str, DeadLetterHeaderError> {
            let bytes = values[i].ok_or(DeadLetterHeaderError::Missing(names[i]))?;
            std::str::from_utf8(bytes).map_err(|_| DeadLetterHeaderError::Invalid {
                name: names[i],
                value: String::from_utf8_lossy(bytes).into_owned(),
            })
        };
        fn parsed<T: FromStr>(name: &'static str, s: &str) -> Result<T, DeadLetterHeaderError> {
            s.parse().map_err(|_| DeadLetterHeaderError::Invalid {
                name,
                value: s.to_owned(),
            })
        }
        Ok(DeadLetter {
            reason: parsed(header::REASON, text(0)?)?,
            error: text(1)?.to_owned(),
            source: SourcePosition {
                topic: text(2)?.to_owned(),
                partition: parsed(header::SOURCE_PARTITION, text(3)?)?,
                offset: parsed(header::SOURCE_OFFSET, text(4)?)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeadLetter {
        DeadLetter {
            reason: DeadLetterReason::UnknownMagic,
            error: "unknown magic byte 0x7B".into(),
            source: SourcePosition {
                topic: "transactions".into(),
                partition: 3,
                offset: 1_234_567,
            },
        }
    }

    #[test]
    fn reason_names_round_trip_and_are_distinct() {
        for reason in DeadLetterReason::ALL {
            assert_eq!(reason.as_str().parse::<DeadLetterReason>(), Ok(reason));
        }
        let mut names: Vec<_> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DeadLetterReason::ALL.len());
        assert!("registry_unavailable".parse::<DeadLetterReason>().is_err());
    }

    #[test]
    fn headers_round_trip() {
        let letter = sample();
        let headers = letter.headers();
        let read = DeadLetter::from_headers(headers.iter().map(|(k, v)| (*k, Some(v.as_bytes()))));
        assert_eq!(read, Ok(letter));
    }

    #[test]
    fn missing_or_bad_headers_are_named() {
        let letter = sample();
        let headers = letter.headers();
        let without_offset = headers
            .iter()
            .filter(|(k, _)| *k != header::SOURCE_OFFSET)
            .map(|(k, v)| (*k, Some(v.as_bytes())));
        assert_eq!(
            DeadLetter::from_headers(without_offset),
            Err(DeadLetterHeaderError::Missing(header::SOURCE_OFFSET))
        );
        let foreign_reason = headers.iter().map(|(k, v)| {
            let v = if *k == header::REASON { "encode" } else { v };
            (*k, Some(v.as_bytes()))
        });
        assert!(matches!(
            DeadLetter::from_headers(foreign_reason),
            Err(DeadLetterHeaderError::Invalid { name, .. }) if name == header::REASON
        ));
    }
}
