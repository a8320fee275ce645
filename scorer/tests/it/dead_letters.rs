//! Malformed messages mixed into the stream land in the dead-letter topic with their reason and
//! source; every valid message around them still gets its verdict.

use std::collections::HashMap;
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{DeadLetter, DeadLetterReason, Decision, TxType};
use aegis_kafka::produce::read_dead_letter;
use rdkafka::Message;

use crate::{transaction, Pipeline, Replica};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_the_dlq_and_valid_ones_still_get_verdicts() {
    let pipeline = Pipeline::start().await;
    let codec = AvroCodec::transaction();
    let valid = |i: usize| {
        transaction(
            &format!("ok-{i}"),
            &format!("C{i}"),
            TxType::Payment,
            10.0 + i as f64,
            1_000.0,
            990.0 - i as f64,
        )
    };
    let encode = |tx: &aegis_core::Transaction| codec.encode(tx, Framing::SingleObject).unwrap();

    let good = encode(&valid(0));
    let mut nan = valid(1);
    nan.amount = f64::NAN;
    let mut negative = valid(2);
    negative.amount = -5.0;
    // An enum index past TRANSFER: tx_id "x" (2 bytes), event_time 0, step 0, then the type.
    let mut unknown_type = valid(3);
    unknown_type.tx_id = "x".into();
    unknown_type.event_time = 0;
    unknown_type.step = 0;
    let mut unknown_type = encode(&unknown_type);
    unknown_type[10 + 2 + 1 + 1] = 18; // zigzag(9)
    let verdict_bytes = AvroCodec::verdict()
        .encode(
            &aegis_core::Verdict {
                tx_id: "v".into(),
                account: "C1".into(),
                amount: 1.0,
                tx_type: TxType::Payment,
                event_time: 0,
                fraud_probability: 0.0,
                decision: Decision::Allow,
                reasons: vec![],
                model_version: "rf-x".into(),
                scored_at: 0,
                rules: Vec::new(),
                features: Vec::new(),
                explanation: None,
            },
            Framing::SingleObject,
        )
        .unwrap();

    let bad: Vec<(&str, Vec<u8>, DeadLetterReason)> = vec![
        (
            "garbage",
            b"hello, world".to_vec(),
            DeadLetterReason::UnknownMagic,
        ),
        ("no-value", Vec::new(), DeadLetterReason::Empty),
        (
            "cut-short",
            good[..good.len() - 3].to_vec(),
            DeadLetterReason::Body,
        ),
        (
            "header-only",
            good[..6].to_vec(),
            DeadLetterReason::Truncated,
        ),
        (
            "trailing",
            [good.clone(), vec![0, 0]].concat(),
            DeadLetterReason::TrailingBytes,
        ),
        (
            "verdict",
            verdict_bytes,
            DeadLetterReason::UnknownFingerprint,
        ),
        ("nan", encode(&nan), DeadLetterReason::Invalid),
        ("negative", encode(&negative), DeadLetterReason::Invalid),
        ("unknown-type", unknown_type, DeadLetterReason::Body),
    ];
    // Interleave: valid, bad, valid, bad, ... all on one key so order is kept on one partition.
    let mut messages = Vec::new();
    for (i, (_, bytes, _)) in bad.iter().enumerate() {
        messages.push(("C-mixed".to_owned(), encode(&valid(100 + i))));
        messages.push(("C-mixed".to_owned(), bytes.clone()));
    }
    messages.push(("C-mixed".to_owned(), encode(&valid(999))));

    let replica = Replica::start(pipeline.scorer_config("dlq"));
    pipeline.publish(&messages).await;
    let (_, verdicts) = pipeline.read_verdicts(bad.len() + 1);
    let dead = pipeline.read(&pipeline.dlq, bad.len(), Duration::from_secs(60));
    let stats = replica.stop().await;

    assert_eq!(
        verdicts.len(),
        bad.len() + 1,
        "every valid message has its verdict"
    );
    assert_eq!(
        dead.len(),
        bad.len(),
        "every bad message is in the DLQ, once"
    );
    let by_offset: HashMap<i64, (DeadLetter, &rdkafka::message::OwnedMessage)> = dead
        .iter()
        .map(|m| {
            let letter = read_dead_letter(m).expect("the contract's headers");
            (letter.source.offset, (letter, m))
        })
        .collect();
    for (i, (name, bytes, reason)) in bad.iter().enumerate() {
        let source_offset = (2 * i + 1) as i64;
        let (letter, m) = by_offset
            .get(&source_offset)
            .unwrap_or_else(|| panic!("{name} not in DLQ"));
        assert_eq!(letter.reason, *reason, "{name}: {}", letter.error);
        assert!(!letter.error.is_empty());
        assert_eq!(letter.source.topic, pipeline.input);
        assert_eq!(
            m.payload().unwrap_or_default(),
            bytes.as_slice(),
            "{name}: original bytes kept"
        );
        assert_eq!(m.key(), Some("C-mixed".as_bytes()));
    }
    assert_eq!(stats.dead_letters(), bad.len() as u64);
}
