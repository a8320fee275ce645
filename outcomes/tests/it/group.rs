//! Two instances in one group share the partitions — each following its verdicts partitions with
//! the labels partitions of the same numbers — and between them write every outcome; labels that
//! do not have as many partitions as verdicts stop the service with one line.

use std::collections::HashMap;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Decision, Label, TxType, Verdict};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::*;

/// Publishes (key, value) pairs to `topic` and waits for every acknowledgement.
async fn publish(broker: &Broker, topic: &str, messages: Vec<(String, Vec<u8>)>) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for (key, value) in &messages {
        let record = FutureRecord::to(topic).key(key.as_bytes()).payload(value);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

fn verdict(i: usize) -> Verdict {
    let blocked = i.is_multiple_of(5);
    Verdict {
        tx_id: format!("t-{i}"),
        account: format!("C{}", 1000 + i % 37),
        amount: 100.0 + i as f64,
        tx_type: TxType::Transfer,
        event_time: 1_700_000_000_000,
        fraud_probability: if blocked { 0.99 } else { 0.01 },
        decision: if blocked {
            Decision::Block
        } else {
            Decision::Allow
        },
        reasons: vec![],
        model_version: "rf-test".into(),
        scored_at: 1_700_000_000_010,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_partitions_and_write_every_outcome() {
    const N: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let topics = Topics::create(&broker).await;
    let group = unique_topic("outcomes");
    let first = OutcomesProcess::start(&broker, &topics, &group, dir.path().join("1.log"));
    let second = OutcomesProcess::start(&broker, &topics, &group, dir.path().join("2.log"));
    // Both hold partitions before traffic starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    let holds = |p: &OutcomesProcess| {
        p.log()
            .lines()
            .filter(|l| l.contains("partitions assigned"))
            .any(|l| !l.ends_with("[]"))
    };
    while !(holds(&first) && holds(&second)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        holds(&first) && holds(&second),
        "{}\n{}",
        first.log(),
        second.log()
    );

    let verdicts: Vec<Verdict> = (0..N).map(verdict).collect();
    let labels: Vec<(String, Vec<u8>)> = verdicts
        .iter()
        .map(|v| {
            let label = Label {
                tx_id: v.tx_id.clone(),
                is_fraud: v.decision == Decision::Block,
                labelled_at: 1_700_000_001_000,
                source: Some("analyst".into()),
                event_time: Some(v.event_time),
            };
            let value = AvroCodec::label()
                .encode(&label, Framing::SingleObject)
                .unwrap();
            (v.account.clone(), value)
        })
        .collect();
    // Labels first this time: they wait for their verdicts.
    publish(&broker, &topics.labels, labels).await;
    let values = verdicts
        .iter()
        .map(|v| {
            let value = AvroCodec::verdict()
                .encode(v, Framing::SingleObject)
                .unwrap();
            (v.account.clone(), value)
        })
        .collect();
    publish(&broker, &topics.verdicts, values).await;

    let read = tokio::task::block_in_place(|| {
        read_outcomes(&broker, &topics.outcomes, Duration::from_secs(60), |o| {
            by_tx_id(o).len() >= N
        })
    });
    let distinct = by_tx_id(&read);
    assert_eq!(distinct.len(), N, "{}\n{}", first.log(), second.log());
    assert_eq!(read.len(), N, "no repeats without a crash");
    let by_id: HashMap<&str, &Verdict> = verdicts.iter().map(|v| (v.tx_id.as_str(), v)).collect();
    for outcome in distinct.values() {
        let v = by_id[outcome.tx_id.as_str()];
        assert_eq!(outcome.decision, v.decision);
        assert_eq!(outcome.is_fraud, v.decision == Decision::Block);
        assert_eq!(outcome.verdict_to_label_ms, 990);
        assert_eq!(outcome.label_source.as_deref(), Some("analyst"));
    }
    // Each wrote a share.
    let written = |p: &OutcomesProcess| -> u64 {
        p.get("/metrics")
            .lines()
            .filter(|l| l.starts_with("aegis_outcomes_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let (a, b) = (written(&first), written(&second));
    assert_eq!(a + b, N as u64);
    assert!(a > 0 && b > 0, "{a} and {b}");
    let metrics = first.get("/metrics");
    assert!(
        metrics.contains("aegis_outcomes_precision_ratio{flagged=\"block\",role=\"live\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_or_shadow_verdicts_not_co_partitioned_with_verdicts_are_one_error_line() {
    let broker = Broker::start();
    let [verdicts, labels, good_labels, shadow, outcomes] =
        ["verdicts", "labels", "labels", "shadow", "outcomes"].map(unique_topic);
    broker
        .create_topics(&[
            (&verdicts, PARTITIONS),
            (&labels, 2),
            (&good_labels, PARTITIONS),
            (&shadow, 2),
            (&outcomes, PARTITIONS),
        ])
        .await;
    let last_error_line = |labels: &str, shadow: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_aegis-outcomes"))
            .args(["--brokers", &broker.bootstrap()])
            .args(["--verdicts-topic", &verdicts])
            .args(["--labels-topic", labels])
            .args(["--shadow-verdicts-topic", shadow])
            .args(["--outcomes-topic", &outcomes])
            .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{err}");
        err.lines().last().unwrap().to_owned()
    };
    // Without shadow verdicts (`""`), the labels are checked.
    assert_eq!(
        last_error_line(&labels, ""),
        format!(
            "aegis-outcomes: error: --labels-topic {labels} has 2 partitions but --verdicts-topic \
             {verdicts} has 4: labels must be co-partitioned with verdicts (same key, same \
             partition count)"
        )
    );
    assert_eq!(
        last_error_line(&good_labels, &shadow),
        format!(
            "aegis-outcomes: error: --shadow-verdicts-topic {shadow} has 2 partitions but \
             --verdicts-topic {verdicts} has 4: shadow verdicts must be co-partitioned with \
             verdicts (same key, same partition count)"
        )
    );
}
