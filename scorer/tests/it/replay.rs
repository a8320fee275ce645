//! N replayed PaySim transactions in, exactly N distinct verdicts out, each the decision
//! `aegis-trainer evaluate` gives the same row; and the account takeover is blocked.

use std::collections::HashMap;

use aegis_core::avro::AvroCodec;
use aegis_core::paysim::PaysimReader;
use aegis_core::{Decision, Model, TxType};
use rdkafka::Message;

use crate::{data, model, transaction, Pipeline, Replica};

const SAMPLE: &str = "paysim_transfer_cashout_steps_1-10.csv";
const N: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replayed_transaction_gets_exactly_one_verdict_equal_to_evaluate() {
    let pipeline = Pipeline::start().await;
    let path = data(SAMPLE);
    // What `aegis-trainer evaluate` decides for every row of the file, by transaction id.
    let model = Model::load(model()).unwrap();
    let rows: Vec<_> = PaysimReader::open(&path)
        .unwrap()
        .map(|r| r.unwrap().transaction)
        .collect();
    let expected: HashMap<String, Decision> = aegis_trainer::evaluate::predict(&model, &path)
        .unwrap()
        .into_iter()
        .zip(&rows)
        .map(|(p, tx)| (tx.tx_id.clone(), p.decision))
        .collect();
    assert_eq!(expected.len(), rows.len(), "sample tx_ids are distinct");

    let replica = Replica::start(pipeline.scorer_config("replay"));
    // The real producer replays the first N rows in step order.
    let producer = aegis_producer::ProducerConfig {
        replay: Some(path.clone()),
        count: Some(N as u64),
        ..aegis_producer::ProducerConfig::new(pipeline.broker.bootstrap(), pipeline.input.clone())
    };
    let summary = tokio::task::spawn_blocking(move || {
        aegis_producer::run(
            &producer,
            aegis_producer::Counters::new(),
            &Default::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((summary.sent, summary.failed), (N as u64, 0));

    let (messages, verdicts) = pipeline.read_verdicts(N);
    let stats = replica.stop().await;
    assert_eq!(messages.len(), N, "exactly one verdict per transaction");
    assert_eq!(verdicts.len(), N, "distinct tx_ids");
    for (tx_id, verdict) in &verdicts {
        assert_eq!(verdict.decision, expected[tx_id], "{tx_id}: {verdict:?}");
        assert_eq!(verdict.model_version, model.model_version());
        assert!(verdict.scored_at >= verdict.event_time);
    }
    let blocked = verdicts
        .values()
        .filter(|v| v.decision == Decision::Block)
        .count();
    assert!(blocked > 0, "the sample's frauds are blocked");
    assert!(verdicts
        .values()
        .filter(|v| v.decision != Decision::Allow)
        .all(|v| !v.reasons.is_empty()));
    assert_eq!(stats.received_total(), N as u64);
    assert_eq!(stats.dead_letters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_takeover_transfer_is_blocked_and_its_small_payment_allowed() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(pipeline.scorer_config("takeover"));
    let account = "C1234567890";
    pipeline
        .publish_transactions(&[
            transaction(
                "takeover-payment",
                account,
                TxType::Payment,
                23.5,
                181_023.5,
                181_000.0,
            ),
            transaction(
                "takeover-transfer",
                account,
                TxType::Transfer,
                181_000.0,
                181_000.0,
                0.0,
            ),
        ])
        .await;
    let (messages, verdicts) = pipeline.read_verdicts(2);
    replica.stop().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(verdicts["takeover-payment"].decision, Decision::Allow);
    let transfer = &verdicts["takeover-transfer"];
    assert_eq!(transfer.decision, Decision::Block, "{transfer:?}");
    assert!(!transfer.reasons.is_empty());
    // Same account, same partition, in order.
    assert_eq!(messages[0].partition(), messages[1].partition());
    let (first, _) = AvroCodec::verdict()
        .decode(messages[0].payload().unwrap())
        .unwrap();
    assert_eq!(first.tx_id, "takeover-payment");
}
