//! Labels from a producer that partitions as the Java client does (murmur2, as Aegis's producers
//! do) all join their verdicts. Labels from one that partitions with librdkafka's default (CRC32)
//! mostly land where their verdicts are not and can never join: aegis-outcomes counts each such
//! label and says so loudly (issue 29 item 7).

use std::time::{Duration, Instant};

use std::collections::HashSet;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Decision, Label, TxType, Verdict};
use aegis_testkit::Broker;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::{by_tx_id, read_outcomes, OutcomesProcess, Topics, PARTITIONS};

/// Publishes a verdict for transactions `t-0` … `t-199` (accounts `C0` …), as the scorer does.
async fn publish_verdicts(broker: &Broker, topic: &str) {
    let producer: FutureProducer = aegis_kafka::Settings::reliable_producer()
        .client_config(&broker.bootstrap(), &[])
        .create()
        .unwrap();
    for i in 0..200 {
        let verdict = Verdict {
            tx_id: format!("t-{i}"),
            account: format!("C{i}"),
            amount: 10.0,
            tx_type: TxType::Payment,
            event_time: 1,
            fraud_probability: 0.1,
            decision: Decision::Allow,
            reasons: Vec::new(),
            model_version: "rf-test".into(),
            scored_at: 2,
            rules: Vec::new(),
            features: Vec::new(),
            explanation: None,
        };
        let value = AvroCodec::verdict()
            .encode(&verdict, Framing::SingleObject)
            .unwrap();
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&verdict.account)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

/// Publishes a label per account with `partitioner`; returns the tx_ids of those that landed
/// on a partition other than the one murmur2 gives their key.
async fn publish_labels(
    broker: &Broker,
    topic: &str,
    partitioner: &str,
    from: usize,
) -> HashSet<String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("partitioner", partitioner)
        .create()
        .unwrap();
    let mut misrouted = HashSet::new();
    for i in from..from + 100 {
        let account = format!("C{i}");
        let label = Label {
            tx_id: format!("t-{i}"),
            is_fraud: false,
            labelled_at: 1,
            source: None,
            event_time: None,
        };
        let value = AvroCodec::label()
            .encode(&label, Framing::SingleObject)
            .unwrap();
        let delivery = producer
            .send(
                FutureRecord::to(topic).key(&account).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        if delivery.partition != aegis_kafka::java_partition(account.as_bytes(), PARTITIONS) {
            misrouted.insert(label.tx_id.clone());
        }
    }
    misrouted
}

fn misrouted_metric(service: &OutcomesProcess) -> Option<u64> {
    service
        .get("/metrics")
        .lines()
        .find_map(|l| l.strip_prefix("aegis_outcomes_misrouted_labels_total "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_partitioned_otherwise_than_verdicts_are_counted_and_said_loudly() {
    let broker = Broker::start();
    let topics = Topics::create(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let service = OutcomesProcess::start(&broker, &topics, "partitioners", dir.path().join("log"));

    publish_verdicts(&broker, &topics.verdicts).await;
    // Keyed as Aegis's producers key them: none misrouted.
    let none = publish_labels(&broker, &topics.labels, "murmur2_random", 0).await;
    assert!(none.is_empty(), "the Java partitioner is murmur2");
    // librdkafka's default: most land elsewhere.
    let misrouted = publish_labels(&broker, &topics.labels, "consistent_random", 100).await;
    let expected = misrouted.len() as u64;
    assert!(expected > 20, "{expected} of 100 on another partition");

    // Every label on its verdict's partition joins: all of the Java-partitioned ones, and those
    // of the others that happen to land there; none of the misrouted.
    let want = 200 - misrouted.len();
    let outcomes = read_outcomes(&broker, &topics.outcomes, Duration::from_secs(60), |o| {
        by_tx_id(o).len() >= want
    });
    let joined = by_tx_id(&outcomes);
    for i in 0..100 {
        assert!(
            joined.contains_key(&format!("t-{i}")),
            "t-{i}: a Java-partitioned label joins"
        );
    }
    for id in &misrouted {
        assert!(!joined.contains_key(id), "{id} cannot join");
    }
    assert_eq!(joined.len(), want);

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = misrouted_metric(&service);
        if seen == Some(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, Some(expected), "log:\n{}", service.log());
    assert!(
        service
            .log()
            .contains("labels are not partitioned as verdicts are"),
        "{}",
        service.log()
    );
}
