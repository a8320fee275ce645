//! The records of a repartition topic (`<input>.by.<ENTITY>`): the type behind
//! `schemas/repartitioned.avsc`. The scorer's first stage owns the transaction topic's key entity
//! (the card); what a stage owning another entity (the terminal) needs of each transaction it
//! forwards here, keyed by that entity, with watermarks that let the second stage put every
//! source partition's records back into event-time order (docs/streaming-features.md).

use serde::{Deserialize, Serialize};

use crate::spec::record::Value;

/// What a repartition record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RepartitionKind {
    /// A transaction, with the first stage's share of its features.
    Transaction,
    /// A transaction's label, due its spec's delay after the transaction.
    Label,
    /// Every transaction of the source partition at or before `time` has been sent.
    Watermark,
    /// The source partition has nothing more for now: do not wait for it.
    Idle,
}

/// One record of a repartition topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repartitioned {
    /// What it is.
    pub kind: RepartitionKind,
    /// The source partition (of the transaction topic, or of the labels topic for a label).
    pub source_partition: i32,
    /// The offset there (-1 for watermarks and idle marks).
    pub source_offset: i64,
    /// When it takes effect in event time, milliseconds since the Unix epoch.
    pub time: i64,
    /// A transaction's message value, as read.
    #[serde(default, with = "apache_avro::serde::bytes_opt")]
    pub transaction: Option<Vec<u8>>,
    /// The first stage's share of a transaction's features.
    #[serde(default)]
    pub features: Vec<f64>,
    /// A label's transaction id.
    #[serde(default)]
    pub tx_id: Option<String>,
    /// A label's transaction time.
    #[serde(default)]
    pub tx_time: Option<i64>,
    /// A label's entity value, when a number.
    #[serde(default)]
    pub entity_long: Option<i64>,
    /// A label's entity value, when text.
    #[serde(default)]
    pub entity_text: Option<String>,
    /// Whether a label says fraud.
    #[serde(default)]
    pub is_fraud: Option<bool>,
}

impl Repartitioned {
    fn bare(kind: RepartitionKind, source_partition: i32, source_offset: i64, time: i64) -> Self {
        Repartitioned {
            kind,
            source_partition,
            source_offset,
            time,
            transaction: None,
            features: Vec::new(),
            tx_id: None,
            tx_time: None,
            entity_long: None,
            entity_text: None,
            is_fraud: None,
        }
    }

    /// A transaction read at `offset` of partition `partition`, at event time `time`, with the
    /// first stage's `features`.
    pub fn transaction(
        partition: i32,
        offset: i64,
        time: i64,
        message: Vec<u8>,
        features: Vec<f64>,
    ) -> Self {
        Repartitioned {
            transaction: Some(message),
            features,
            ..Self::bare(RepartitionKind::Transaction, partition, offset, time)
        }
    }

    /// The label `is_fraud` of transaction `tx_id` of entity `entity` at `tx_time`, read at
    /// `offset` of labels partition `partition`, taking effect at `tx_time + delay_ms`.
    pub fn label(
        partition: i32,
        offset: i64,
        tx_id: &str,
        tx_time: i64,
        delay_ms: i64,
        entity: &Value,
        is_fraud: bool,
    ) -> Self {
        let (entity_long, entity_text) = match entity {
            Value::Integer(n) => (Some(*n), None),
            Value::Enum(i) => (Some(*i as i64), None),
            Value::Float(x) => (Some(x.to_bits() as i64), None),
            Value::Text(t) => (None, Some(t.clone())),
        };
        Repartitioned {
            tx_id: Some(tx_id.to_owned()),
            tx_time: Some(tx_time),
            entity_long,
            entity_text,
            is_fraud: Some(is_fraud),
            ..Self::bare(
                RepartitionKind::Label,
                partition,
                offset,
                tx_time.saturating_add(delay_ms),
            )
        }
    }

    /// Source partition `partition` has sent everything at or before `time`.
    pub fn watermark(partition: i32, time: i64) -> Self {
        Self::bare(RepartitionKind::Watermark, partition, -1, time)
    }

    /// Source partition `partition`, caught up at `time`, has nothing more for now.
    pub fn idle(partition: i32, time: i64) -> Self {
        Self::bare(RepartitionKind::Idle, partition, -1, time)
    }

    /// A label's entity value, as the feature engine keys entities (a number's kind does not
    /// matter to it: integers, enum indices and float bits are all keyed as integers).
    pub fn entity(&self) -> Option<Value> {
        match (&self.entity_long, &self.entity_text) {
            (Some(n), _) => Some(Value::Integer(*n)),
            (None, Some(t)) => Some(Value::Text(t.clone())),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{AvroCodec, Framing};

    #[test]
    fn every_kind_round_trips_through_its_schema() {
        let records = [
            Repartitioned::transaction(
                2,
                41,
                1_523_000_000_000,
                vec![0xC3, 1, 7],
                vec![1.5, -0.0, f64::NAN],
            ),
            Repartitioned::label(
                1,
                7,
                "10749",
                1_522_649_160_000,
                604_800_000,
                &Value::Integer(5671),
                true,
            ),
            Repartitioned::label(0, 8, "t-1", 5, 10, &Value::Text("T-9".into()), false),
            Repartitioned::watermark(2, 1_523_000_000_000 - 1),
            Repartitioned::idle(0, 17),
        ];
        for record in records {
            let bytes = AvroCodec::repartitioned()
                .encode(&record, Framing::SingleObject)
                .unwrap();
            let (back, _) = AvroCodec::repartitioned().decode(&bytes).unwrap();
            // NaN is not equal to itself: compare bits.
            let bits =
                |r: &Repartitioned| r.features.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&record));
            let (mut a, mut b) = (back.clone(), record.clone());
            a.features.clear();
            b.features.clear();
            assert_eq!(a, b);
        }
        let label = Repartitioned::label(1, 7, "10749", 100, 50, &Value::Integer(5671), true);
        assert_eq!(
            label.time, 150,
            "a label takes effect its delay after its transaction"
        );
        assert_eq!(label.entity(), Some(Value::Integer(5671)));
    }
}
