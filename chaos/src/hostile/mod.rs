//! Hostile input for the scorer, and the outcome each message must have: every kind of message
//! `aegis-chaos fuzz` writes, built from a seed. Most kinds are bad (random bytes, truncated or
//! foreign Avro, NaN, negative, infinite or out-of-bound amounts, unknown types, …) and must reach
//! the DLQ with a known reason; a few are odd but valid by the contract (empty or missing keys, the
//! largest amount accepted, the Confluent framing) and must be scored.

mod kind;
mod wire;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::transaction::MAX_MONEY;
use aegis_core::{Decision, Score, Transaction, TxType, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::expect::Expected;
pub use kind::Kind;
use wire::{read_long, type_index_position, write_long, CONFLUENT_HEADER, SINGLE_OBJECT_HEADER};

/// One message to write: key, value and what must become of it.
#[derive(Clone, Debug)]
pub struct Message {
    /// A [`Kind`] name, or `valid`: the manifest's `kind`.
    pub kind: &'static str,
    /// The outcome the checker will look for.
    pub expected: Expected,
    /// The Kafka key.
    pub key: Option<Vec<u8>>,
    /// The Kafka value.
    pub payload: Option<Vec<u8>>,
}

/// Builds valid and hostile messages from a seed; message `i` has transaction id
/// `<prefix>-<i>`, so ids never repeat within one run.
pub struct Generator {
    rng: StdRng,
    prefix: String,
    next: u64,
}

impl Generator {
    /// A generator whose ids start with `fuzz-<seed>`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            prefix: format!("fuzz-{seed}"),
            next: 0,
        }
    }

    /// An ordinary valid transaction, keyed by its origin account.
    pub fn valid(&mut self) -> Message {
        let tx = self.transaction();
        Message {
            kind: "valid",
            expected: Expected::Verdict,
            key: Some(tx.name_orig.clone().into_bytes()),
            payload: Some(encode(&tx, Framing::SingleObject)),
        }
    }

    /// A message of the given kind. Long: one arm per kind of hostile message, each saying how it
    /// is made.
    pub fn hostile(&mut self, kind: Kind) -> Message {
        let mut tx = self.transaction();
        let account = tx.name_orig.clone().into_bytes();
        let (key, payload) = match kind {
            Kind::RandomBytes => (Some(account), Some(self.garbage())),
            Kind::EmptyValue => (Some(account), Some(Vec::new())),
            Kind::NullValue => (Some(account), None),
            Kind::TruncatedHeader => {
                let (framing, header) = if self.rng.random_bool(0.5) {
                    (Framing::SingleObject, SINGLE_OBJECT_HEADER)
                } else {
                    (self.confluent(), CONFLUENT_HEADER)
                };
                let mut bytes = encode(&tx, framing);
                bytes.truncate(self.rng.random_range(1..header));
                (Some(account), Some(bytes))
            }
            Kind::TruncatedAvro | Kind::TruncatedConfluent => {
                let (framing, header) = if kind == Kind::TruncatedAvro {
                    (Framing::SingleObject, SINGLE_OBJECT_HEADER)
                } else {
                    (self.confluent(), CONFLUENT_HEADER)
                };
                let mut bytes = encode(&tx, framing);
                let cut = self.rng.random_range(header..bytes.len());
                bytes.truncate(cut);
                (Some(account), Some(bytes))
            }
            Kind::WrongFingerprint => {
                let mut bytes = encode(&tx, Framing::SingleObject);
                let at = self.rng.random_range(2..SINGLE_OBJECT_HEADER);
                bytes[at] ^= self.rng.random_range(1..=u8::MAX);
                (Some(account), Some(bytes))
            }
            Kind::ForeignSchema => {
                let verdict = verdict_for(&tx);
                let bytes = AvroCodec::verdict()
                    .encode(&verdict, Framing::SingleObject)
                    .expect("a verdict of finite numbers encodes");
                (Some(account), Some(bytes))
            }
            Kind::TrailingBytes => {
                let mut bytes = encode(&tx, Framing::SingleObject);
                let extra = self.rng.random_range(1..64);
                bytes.extend((0..extra).map(|_| self.rng.random::<u8>()));
                (Some(account), Some(bytes))
            }
            Kind::HugeLengthPrefix | Kind::NegativeLengthPrefix => {
                let length = if kind == Kind::HugeLengthPrefix {
                    1_i64 << 40
                } else {
                    -self.rng.random_range(1..1_000_i64)
                };
                let mut bytes = encode(&tx, Framing::SingleObject);
                bytes.truncate(SINGLE_OBJECT_HEADER);
                write_long(length, &mut bytes);
                bytes.extend((0..100).map(|_| self.rng.random::<u8>()));
                (Some(account), Some(bytes))
            }
            Kind::InvalidUtf8 => {
                let mut bytes = encode(&tx, Framing::SingleObject);
                let (_, start) = read_long(&bytes, SINGLE_OBJECT_HEADER);
                bytes[start] = 0xFF; // never valid in UTF-8
                (Some(account), Some(bytes))
            }
            Kind::UnknownType | Kind::NegativeTypeIndex => {
                let index = if kind == Kind::UnknownType {
                    if self.rng.random_bool(0.5) {
                        self.rng.random_range(5..64)
                    } else {
                        1_i64 << 40
                    }
                } else {
                    -self.rng.random_range(1..64_i64)
                };
                let bytes = encode(&tx, Framing::SingleObject);
                let at = type_index_position(&bytes);
                let mut patched = bytes[..at].to_vec();
                write_long(index, &mut patched);
                patched.extend_from_slice(&bytes[at + 1..]);
                (Some(account), Some(patched))
            }
            Kind::NanAmount => {
                tx.amount = f64::NAN;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::NanBalance => {
                tx.old_balance_dest = f64::NAN;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::InfiniteAmount => {
                tx.amount = f64::INFINITY;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::NegativeAmount => {
                tx.amount = -self.rng.random_range(0.01..1e6);
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::EmptyAccount => {
                tx.name_orig = String::new();
                (Some(Vec::new()), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::EmptyTxId => {
                tx.tx_id = String::new();
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::EmptyKeyGarbage => (Some(Vec::new()), Some(self.garbage())),
            Kind::EmptyKey => (Some(Vec::new()), Some(encode(&tx, Framing::SingleObject))),
            Kind::NullKey => (None, Some(encode(&tx, Framing::SingleObject))),
            Kind::HugeAmount => {
                tx.amount = MAX_MONEY;
                tx.old_balance_orig = MAX_MONEY;
                tx.new_balance_orig = 0.0;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::MaxAmount => {
                tx.amount = f64::MAX;
                tx.old_balance_orig = 0.0;
                tx.new_balance_orig = f64::MAX;
                tx.old_balance_dest = f64::MAX;
                tx.new_balance_dest = -f64::MAX;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::ZeroAmount => {
                tx.amount = 0.0;
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::ConfluentFramed => {
                let framing = self.confluent();
                (Some(account), Some(encode(&tx, framing)))
            }
            Kind::FutureDated
            | Kind::Microseconds
            | Kind::MaxTime
            | Kind::MinTime
            | Kind::NegativeTime
            | Kind::PastDated
            | Kind::EpochTime => {
                let now = aegis_core::clock::now_ms();
                tx.event_time = match kind {
                    Kind::FutureDated => now + 50 * 365 * 86_400_000,
                    Kind::Microseconds => now.saturating_mul(1_000),
                    Kind::MaxTime => i64::MAX,
                    Kind::MinTime => i64::MIN,
                    Kind::NegativeTime => -self.rng.random_range(1..1_000_000_000_000_i64),
                    Kind::PastDated => 1_000_000_000_000,
                    _ => 0,
                };
                (Some(account), Some(encode(&tx, Framing::SingleObject)))
            }
            Kind::LongStrings => {
                tx.tx_id = format!("{}-{}", tx.tx_id, "x".repeat(4_000));
                tx.name_orig = format!("C-Ωmega-💳-{}", "9".repeat(1_000));
                tx.name_dest = "M-ünïcødé-商户".to_owned();
                let key = tx.name_orig.clone().into_bytes();
                (Some(key), Some(encode(&tx, Framing::SingleObject)))
            }
        };
        Message {
            kind: kind.name(),
            expected: kind.expected(),
            key,
            payload,
        }
    }

    /// A plausible valid transaction with the next id.
    fn transaction(&mut self) -> Transaction {
        let id = self.next;
        self.next += 1;
        let rng = &mut self.rng;
        let tx_type = TxType::ALL[rng.random_range(0..TxType::ALL.len())];
        let amount = cents(rng.random_range(1.0..200_000.0));
        let old_balance_orig = cents(rng.random_range(0.0..400_000.0));
        let old_balance_dest = cents(rng.random_range(0.0..1_000_000.0));
        Transaction {
            tx_id: format!("{}-{id}", self.prefix),
            event_time: aegis_core::clock::now_ms(),
            step: rng.random_range(1..744),
            tx_type,
            amount,
            name_orig: format!("C{}", rng.random_range(100_000_000u64..2_000_000_000)),
            old_balance_orig,
            new_balance_orig: (old_balance_orig - amount).max(0.0),
            name_dest: format!("C{}", rng.random_range(100_000_000u64..2_000_000_000)),
            old_balance_dest,
            new_balance_dest: old_balance_dest + amount,
            is_fraud: None,
        }
    }

    /// 1 to 512 random bytes whose first byte is neither framing's magic.
    fn garbage(&mut self) -> Vec<u8> {
        let len = self.rng.random_range(1..=512);
        let mut bytes: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
        while bytes[0] == 0x00 || bytes[0] == 0xC3 {
            bytes[0] = self.rng.random();
        }
        bytes
    }

    fn confluent(&mut self) -> Framing {
        Framing::Confluent {
            schema_id: self.rng.random(),
        }
    }
}

fn encode(tx: &Transaction, framing: Framing) -> Vec<u8> {
    AvroCodec::transaction()
        .encode(tx, framing)
        .expect("every f64 and string fits the transaction schema")
}

fn verdict_for(tx: &Transaction) -> Verdict {
    let score = Score {
        fraud_probability: 0.5,
        decision: Decision::Review,
        reasons: vec!["chaos".to_owned()],
        explanation: None,
    };
    Verdict::of(tx, score, "chaos", tx.event_time)
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::wire::{read_long, type_index_position};
    use super::*;
    use aegis_core::DeadLetterReason;

    /// What the scorer does with a payload, by the same rules (decode, then validate), so that
    /// every expectation the fuzzer writes is checked here before a broker is involved.
    fn outcome(payload: Option<&[u8]>) -> Expected {
        let Some(bytes) = payload else {
            return Expected::DeadLetter(DeadLetterReason::Empty);
        };
        match AvroCodec::transaction().decode(bytes) {
            Err(e) => Expected::DeadLetter(e.reason()),
            Ok((tx, _)) if tx.validate().is_err() => {
                Expected::DeadLetter(DeadLetterReason::Invalid)
            }
            // Before 1970, or beyond the scorer's default --max-clock-skew of 300 s.
            Ok((tx, _))
                if tx.event_time < 0 || tx.event_time > aegis_core::clock::now_ms() + 300_000 =>
            {
                Expected::DeadLetter(DeadLetterReason::EventTime)
            }
            Ok(_) => Expected::Verdict,
        }
    }

    #[test]
    fn every_kind_has_the_outcome_it_promises() {
        let mut generator = Generator::new(7);
        for round in 0..200 {
            for kind in Kind::ALL {
                let message = generator.hostile(kind);
                assert_eq!(
                    outcome(message.payload.as_deref()),
                    kind.expected(),
                    "{} (round {round}): {:?}",
                    kind.name(),
                    message.payload
                );
            }
            assert_eq!(
                outcome(generator.valid().payload.as_deref()),
                Expected::Verdict
            );
        }
    }

    #[test]
    fn kinds_have_distinct_names() {
        let names: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn the_type_index_is_found() {
        let mut generator = Generator::new(1);
        let tx = generator.transaction();
        let bytes = encode(&tx, Framing::SingleObject);
        let index = TxType::ALL
            .iter()
            .position(|t| *t == tx.tx_type)
            .unwrap_or(9);
        assert_eq!(
            read_long(&bytes, type_index_position(&bytes)).0,
            index as i64
        );
    }
}
