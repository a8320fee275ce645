//! The producer against a real Kafka broker (tansu, started per test).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::avro::AvroCodec;
use aegis_core::testkit::{unique_topic, Broker};
use aegis_core::{Transaction, TxType};
use aegis_producer::{Counters, ProducerConfig, Scenario};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

fn config(broker: &Broker, topic: &str) -> ProducerConfig {
    ProducerConfig::new(broker.bootstrap(), topic)
}

/// Every (key, transaction) on the topic, read from the beginning until `n` arrived (plus a short
/// settle to catch extras).
fn read_all(broker: &Broker, topic: &str, n: usize) -> Vec<(String, Transaction, i32)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", unique_topic("reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let (tx, _) = AvroCodec::transaction()
                .decode(m.payload().unwrap())
                .unwrap();
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            out.push((key, tx, m.partition()));
        }
        if out.len() >= n && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_every_row_once_keyed_by_account_in_step_order() {
    let broker = Broker::start();
    let topic = unique_topic("tx");
    broker.create_topics(&[(&topic, 4)]).await;
    let mut cfg = config(&broker, &topic);
    cfg.replay = Some(data("paysim_fraud_enriched_steps_1-400.csv"));
    cfg.count = Some(3_000);
    let counters = Counters::new();
    let summary = tokio::task::spawn_blocking(move || {
        aegis_producer::run(&cfg, counters, &CancellationToken::new())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (summary.sent, summary.delivered, summary.failed),
        (3_000, 3_000, 0)
    );

    let messages = read_all(&broker, &topic, 3_000);
    assert_eq!(messages.len(), 3_000, "exactly N messages");
    let ids: HashSet<_> = messages.iter().map(|(_, tx, _)| tx.tx_id.clone()).collect();
    assert_eq!(ids.len(), 3_000, "distinct transactions");
    for (key, tx, _) in &messages {
        assert_eq!(key, &tx.name_orig, "keyed by origin account");
        tx.validate().unwrap();
        assert!(tx.event_time > 1_700_000_000_000, "stamped when published");
    }
    // Within a partition, steps never go backwards.
    for p in 0..4 {
        let steps: Vec<i32> = messages
            .iter()
            .filter(|m| m.2 == p)
            .map(|m| m.1.step)
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] <= w[1]),
            "partition {p} out of step order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_with_takeover_keeps_each_accounts_order_and_the_rate() {
    let broker = Broker::start();
    let topic = unique_topic("sim");
    broker.create_topics(&[(&topic, 4)]).await;
    let mut cfg = config(&broker, &topic);
    cfg.simulate = true;
    cfg.scenario = Some(Scenario::AccountTakeover);
    cfg.takeover_every = 100;
    cfg.count = Some(1_000);
    cfg.rate = Some(2_000.0);
    let summary = tokio::task::spawn_blocking(move || {
        aegis_producer::run(&cfg, Counters::new(), &CancellationToken::new())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(summary.sent, 1_000);
    // Paced: 1,000 at 2,000/s cannot finish in under half a second.
    assert!(summary.elapsed >= Duration::from_millis(499), "{summary}");

    let messages = read_all(&broker, &topic, 1_000);
    assert_eq!(messages.len(), 1_000);
    let takeovers: Vec<_> = messages
        .iter()
        .filter(|(_, tx, _)| {
            tx.tx_type == TxType::Transfer
                && tx.is_fraud == Some(true)
                && tx.old_balance_orig == tx.amount
        })
        .collect();
    assert!(takeovers.len() >= 9, "{}", takeovers.len());
    for (account, transfer, partition) in takeovers {
        // Its account's earlier transactions sit before it on the same partition.
        let same: Vec<_> = messages.iter().filter(|m| &m.0 == account).collect();
        assert!(same.iter().all(|m| m.2 == *partition));
        if same.len() == 2 {
            assert_eq!(same[0].1.tx_type, TxType::Payment, "small payment first");
            assert_eq!(same[1].1.tx_id, transfer.tx_id);
        }
    }
}

#[test]
fn a_bad_csv_row_stops_with_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("aegis-producer-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.csv");
    std::fs::write(
        &path,
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n\
         1,PAYMENT,1.0,C1,5.0,4.0,M1,0.0,0.0,0,0\n\
         2,PAYMENT,1.0,C1,five,4.0,M1,0.0,0.0,0,0\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args([
            "--brokers",
            "127.0.0.1:1",
            "--replay",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.csv line 3, field oldbalanceOrg: is not a number"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn flags_are_checked_before_any_work() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args(["--brokers", "127.0.0.1:1", "--simulate", "--rate", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--rate must be a positive number"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args(["--brokers", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "a source is required");
}
