//! Every kind of hostile message, its name in the manifest, and what the scorer must do with it.

use aegis_core::DeadLetterReason;

use crate::expect::Expected;

/// One kind of hostile message, named as in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Random bytes whose first byte is no framing's magic.
    RandomBytes,
    /// A value of zero bytes.
    EmptyValue,
    /// No value at all (a tombstone).
    NullValue,
    /// A valid message cut inside its framing header (either framing).
    TruncatedHeader,
    /// A valid single-object message cut inside its Avro body.
    TruncatedAvro,
    /// A valid Confluent-framed message cut inside its Avro body.
    TruncatedConfluent,
    /// A valid body behind a fingerprint no schema has.
    WrongFingerprint,
    /// A verdict, properly encoded with the verdict schema, sent as a transaction.
    ForeignSchema,
    /// A valid message followed by extra bytes.
    TrailingBytes,
    /// A string length prefix of a terabyte.
    HugeLengthPrefix,
    /// A negative string length prefix.
    NegativeLengthPrefix,
    /// A transaction id that is not UTF-8.
    InvalidUtf8,
    /// A `type` enum index past the five symbols.
    UnknownType,
    /// A negative `type` enum index.
    NegativeTypeIndex,
    /// Valid Avro, amount NaN.
    NanAmount,
    /// Valid Avro, a balance NaN.
    NanBalance,
    /// Valid Avro, amount +∞.
    InfiniteAmount,
    /// Valid Avro, amount negative.
    NegativeAmount,
    /// Valid Avro, empty origin account.
    EmptyAccount,
    /// Valid Avro, empty transaction id.
    EmptyTxId,
    /// Random bytes under an empty key.
    EmptyKeyGarbage,
    /// A valid transaction under an empty Kafka key: scored (the verdict is keyed by its account).
    EmptyKey,
    /// A valid transaction without a Kafka key: scored.
    NullKey,
    /// A transaction of 10^15 moving a balance of 10^15, the largest accepted: scored.
    HugeAmount,
    /// Valid Avro, amount and balances `±f64::MAX`: beyond ±10^15, so invalid (its balance errors
    /// and the blocked-amount counters would overflow to +∞).
    MaxAmount,
    /// A valid transaction of zero: scored.
    ZeroAmount,
    /// A valid transaction in the Confluent wire format (readers accept both framings): scored.
    ConfluentFramed,
    /// A valid transaction with kilobyte-long ids and non-ASCII account names: scored.
    LongStrings,
    /// Valid Avro, dated fifty years ahead: beyond `--max-clock-skew`.
    FutureDated,
    /// Valid Avro, event time in microseconds where milliseconds belong (a thousandfold ahead).
    Microseconds,
    /// Valid Avro, event time `i64::MAX`.
    MaxTime,
    /// Valid Avro, event time `i64::MIN`.
    MinTime,
    /// Valid Avro, event time before 1970.
    NegativeTime,
    /// A valid transaction dated 2001: scored (it cannot move its partition's clock back).
    PastDated,
    /// A valid transaction dated 0 (1970-01-01): scored.
    EpochTime,
}

impl Kind {
    /// Every kind, bad ones first.
    pub const ALL: [Kind; 35] = [
        Kind::RandomBytes,
        Kind::EmptyValue,
        Kind::NullValue,
        Kind::TruncatedHeader,
        Kind::TruncatedAvro,
        Kind::TruncatedConfluent,
        Kind::WrongFingerprint,
        Kind::ForeignSchema,
        Kind::TrailingBytes,
        Kind::HugeLengthPrefix,
        Kind::NegativeLengthPrefix,
        Kind::InvalidUtf8,
        Kind::UnknownType,
        Kind::NegativeTypeIndex,
        Kind::NanAmount,
        Kind::NanBalance,
        Kind::InfiniteAmount,
        Kind::NegativeAmount,
        Kind::EmptyAccount,
        Kind::EmptyTxId,
        Kind::EmptyKeyGarbage,
        Kind::EmptyKey,
        Kind::NullKey,
        Kind::HugeAmount,
        Kind::MaxAmount,
        Kind::ZeroAmount,
        Kind::ConfluentFramed,
        Kind::LongStrings,
        Kind::FutureDated,
        Kind::Microseconds,
        Kind::MaxTime,
        Kind::MinTime,
        Kind::NegativeTime,
        Kind::PastDated,
        Kind::EpochTime,
    ];

    /// The name in the manifest and the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RandomBytes => "random_bytes",
            Kind::EmptyValue => "empty_value",
            Kind::NullValue => "null_value",
            Kind::TruncatedHeader => "truncated_header",
            Kind::TruncatedAvro => "truncated_avro",
            Kind::TruncatedConfluent => "truncated_confluent",
            Kind::WrongFingerprint => "wrong_fingerprint",
            Kind::ForeignSchema => "foreign_schema",
            Kind::TrailingBytes => "bytes_after_body",
            Kind::HugeLengthPrefix => "huge_length_prefix",
            Kind::NegativeLengthPrefix => "negative_length_prefix",
            Kind::InvalidUtf8 => "invalid_utf8",
            Kind::UnknownType => "unknown_type",
            Kind::NegativeTypeIndex => "negative_type_index",
            Kind::NanAmount => "nan_amount",
            Kind::NanBalance => "nan_balance",
            Kind::InfiniteAmount => "infinite_amount",
            Kind::NegativeAmount => "negative_amount",
            Kind::EmptyAccount => "empty_account",
            Kind::EmptyTxId => "empty_tx_id",
            Kind::EmptyKeyGarbage => "empty_key_garbage",
            Kind::EmptyKey => "empty_key",
            Kind::NullKey => "null_key",
            Kind::HugeAmount => "huge_amount",
            Kind::MaxAmount => "max_amount",
            Kind::ZeroAmount => "zero_amount",
            Kind::ConfluentFramed => "confluent_framed",
            Kind::LongStrings => "long_strings",
            Kind::FutureDated => "future_dated",
            Kind::Microseconds => "microseconds",
            Kind::MaxTime => "max_time",
            Kind::MinTime => "min_time",
            Kind::NegativeTime => "negative_time",
            Kind::PastDated => "past_dated",
            Kind::EpochTime => "epoch_time",
        }
    }

    /// What the scorer must do with a message of this kind.
    pub fn expected(self) -> Expected {
        match self {
            Kind::RandomBytes | Kind::EmptyKeyGarbage => {
                Expected::DeadLetter(DeadLetterReason::UnknownMagic)
            }
            Kind::EmptyValue | Kind::NullValue => Expected::DeadLetter(DeadLetterReason::Empty),
            Kind::TruncatedHeader => Expected::DeadLetter(DeadLetterReason::Truncated),
            Kind::TruncatedAvro
            | Kind::TruncatedConfluent
            | Kind::HugeLengthPrefix
            | Kind::NegativeLengthPrefix
            | Kind::InvalidUtf8
            | Kind::UnknownType
            | Kind::NegativeTypeIndex => Expected::DeadLetter(DeadLetterReason::Body),
            Kind::WrongFingerprint | Kind::ForeignSchema => {
                Expected::DeadLetter(DeadLetterReason::UnknownFingerprint)
            }
            Kind::TrailingBytes => Expected::DeadLetter(DeadLetterReason::TrailingBytes),
            Kind::NanAmount
            | Kind::NanBalance
            | Kind::InfiniteAmount
            | Kind::NegativeAmount
            | Kind::MaxAmount
            | Kind::EmptyAccount
            | Kind::EmptyTxId => Expected::DeadLetter(DeadLetterReason::Invalid),
            Kind::FutureDated
            | Kind::Microseconds
            | Kind::MaxTime
            | Kind::MinTime
            | Kind::NegativeTime => Expected::DeadLetter(DeadLetterReason::EventTime),
            Kind::EmptyKey
            | Kind::NullKey
            | Kind::HugeAmount
            | Kind::ZeroAmount
            | Kind::ConfluentFramed
            | Kind::LongStrings
            | Kind::PastDated
            | Kind::EpochTime => Expected::Verdict,
        }
    }
}
