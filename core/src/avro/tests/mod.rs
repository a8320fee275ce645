//! Tests of the codec: round trips and wire format, malformed input, and the schema files.

mod encoding;
mod malformed;
mod schema_files;

use super::*;
use crate::transaction::TxType;
use crate::verdict::Decision;

/// A takeover-style transfer with the given label.
pub(super) fn transaction(is_fraud: Option<bool>) -> Transaction {
    Transaction {
        tx_id: "t-42".into(),
        event_time: 1_700_000_123_456,
        step: 743,
        tx_type: TxType::Transfer,
        amount: 181_000.25,
        name_orig: "C1305486145".into(),
        old_balance_orig: 181_000.25,
        new_balance_orig: 0.0,
        name_dest: "C553264065".into(),
        old_balance_dest: -12.5,
        new_balance_dest: 0.0,
        is_fraud,
    }
}

/// A BLOCK verdict with the given reasons.
pub(super) fn verdict(reasons: &[&str]) -> Verdict {
    Verdict {
        tx_id: "t-42".into(),
        account: "C1305486145".into(),
        amount: 181_000.25,
        tx_type: TxType::CashOut,
        event_time: 1_700_000_123_456,
        fraud_probability: 0.97,
        decision: Decision::Block,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        model_version: "sha256:0123abcd".into(),
        scored_at: 1_700_000_123_470,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    }
}

/// A BLOCK verdict's explanation: base value, raw score and three contributions that sum to it.
pub(super) fn explanation() -> crate::verdict::Explanation {
    use crate::verdict::{Contribution, Explanation};
    let contribution = |feature: &str, value: f64, contribution: f64| Contribution {
        feature: feature.into(),
        value,
        contribution,
    };
    Explanation {
        base_score: 0.25,
        raw_score: 0.875,
        contributions: vec![
            contribution("error_balance_orig", 181_000.25, 0.5),
            contribution("type_TRANSFER", 1.0, 0.25),
            contribution("amount", 181_000.25, -0.125),
        ],
    }
}

/// Both framings, with a small and the largest schema id.
pub(super) const FRAMINGS: [Framing; 3] = [
    Framing::SingleObject,
    Framing::Confluent { schema_id: 7 },
    Framing::Confluent {
        schema_id: u32::MAX,
    },
];

/// Valid messages of both codecs in every framing, for the error tests.
pub(super) fn valid_messages() -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    for framing in FRAMINGS {
        let tx = AvroCodec::transaction().encode(&transaction(Some(true)), framing);
        messages.push(tx.unwrap());
        let v = AvroCodec::verdict().encode(&verdict(&["amount", "error_balance_orig"]), framing);
        messages.push(v.unwrap());
    }
    messages
}

/// Whether neither codec accepts the bytes.
pub(super) fn is_rejected(bytes: &[u8]) -> bool {
    AvroCodec::transaction().decode(bytes).is_err() && AvroCodec::verdict().decode(bytes).is_err()
}

/// Avro's zig-zag varint encoding of a long, written out independently of apache-avro.
pub(super) fn zigzag_varint(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    while z > 0x7f {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    out
}
