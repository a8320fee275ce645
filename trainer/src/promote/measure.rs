//! The transactions `promote` judges on: the shadow verdicts of the shadow model, their labels,
//! and the live verdicts of the live model, joined by `tx_id` — the same transactions, scored by
//! both. Read in that order, each keeping only what the previous one matched, so memory is bounded
//! by the shadow model's verdicts (about 100 bytes each), not by the topics. Each topic is read
//! from `--since` (a Kafka record time; else whole, as the broker retains it) to the end it has
//! when its read starts; a transaction read twice (at-least-once delivery) counts once, with its
//! last verdict.

use std::collections::HashMap;
use std::time::Instant;

use aegis_core::avro::AvroCodec;
use aegis_core::{Decision, Label, Verdict};
use aegis_kafka::read::read_since;
use aegis_kafka::Property;
use anyhow::{Context, Result};
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;

use super::criterion::Paired;

/// The topics read, already prefixed.
pub struct Topics {
    pub verdicts: String,
    pub shadow_verdicts: String,
    pub labels: String,
}

/// What the join found, and what it could not read.
pub struct Joined {
    pub rows: Vec<Paired>,
    /// Records of the three topics that did not decode (not this release's schemas).
    pub undecodable: u64,
}

/// Joins the verdicts of `live_version` and `shadow_version` with the labels, reading the records
/// written at or after `since_ms` (blocking), within `deadline`.
pub fn join(
    brokers: &str,
    properties: &[Property],
    topics: &Topics,
    (live_version, shadow_version): (&str, &str),
    since_ms: i64,
    deadline: Instant,
) -> Result<Joined> {
    let consumer: BaseConsumer = aegis_kafka::Settings::reader("aegis-trainer-promote")
        .client_config(brokers, properties)
        .create()
        .context("cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)")?;
    let mut undecodable = 0;
    let mut read = |topic: &str, flag: &str, each: &mut dyn FnMut(&[u8]) -> bool| {
        let found = read_since(&consumer, topic, since_ms, deadline, |m| {
            if !m.payload().is_some_and(&mut *each) {
                undecodable += 1;
            }
        })
        .with_context(|| format!("{flag} {topic}: cannot read it to its end"))?;
        anyhow::ensure!(found, "{flag} {topic}: no such topic");
        Ok(())
    };
    let verdict = |bytes: &[u8]| AvroCodec::verdict().decode(bytes).ok().map(|(v, _)| v);

    // The shadow model's verdicts: tx_id → its probability.
    let mut shadow: HashMap<String, f64> = HashMap::new();
    read(
        &topics.shadow_verdicts,
        "--shadow-verdicts-topic",
        &mut |bytes| {
            verdict(bytes)
                .inspect(|v: &Verdict| {
                    if v.model_version == shadow_version {
                        shadow.insert(v.tx_id.clone(), v.fraud_probability);
                    }
                })
                .is_some()
        },
    )?;
    // Their labels: tx_id → (shadow probability, is fraud).
    let mut labelled: HashMap<String, (f64, bool)> = HashMap::new();
    read(&topics.labels, "--labels-topic", &mut |bytes| {
        AvroCodec::label()
            .decode(bytes)
            .ok()
            .inspect(|(l, _): &(Label, _)| {
                if let Some(&p) = shadow.get(&l.tx_id) {
                    labelled.insert(l.tx_id.clone(), (p, l.is_fraud));
                }
            })
            .is_some()
    })?;
    drop(shadow);
    // The live model's verdicts of those transactions.
    let mut rows: HashMap<String, Paired> = HashMap::new();
    read(&topics.verdicts, "--verdicts-topic", &mut |bytes| {
        verdict(bytes)
            .inspect(|v: &Verdict| {
                if v.model_version != live_version {
                    return;
                }
                if let Some(&(shadow, is_fraud)) = labelled.get(&v.tx_id) {
                    let row = Paired {
                        live: v.fraud_probability,
                        live_flagged: v.decision != Decision::Allow,
                        shadow,
                        is_fraud,
                    };
                    rows.insert(v.tx_id.clone(), row);
                }
            })
            .is_some()
    })?;
    Ok(Joined {
        rows: rows.into_values().collect(),
        undecodable,
    })
}
