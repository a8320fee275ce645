//! Labels from a producer that partitions with librdkafka's default (CRC32), not the Java
//! client's (murmur2) that Aegis's producers use, land where their verdicts are not: they can
//! never join. aegis-outcomes counts each such label and says so loudly (issue 29 item 7).

use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::Label;
use aegis_testkit::Broker;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::{OutcomesProcess, Topics, PARTITIONS};

/// Publishes a label per account with `partitioner`; returns how many landed on a partition
/// other than the one murmur2 gives their key.
async fn publish_labels(broker: &Broker, topic: &str, partitioner: &str, from: usize) -> u64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("partitioner", partitioner)
        .create()
        .unwrap();
    let mut misrouted = 0;
    for i in from..from + 100 {
        let account = format!("C{i}");
        let label = Label {
            tx_id: format!("t-{i}"),
            is_fraud: false,
            labelled_at: 1,
            source: None,
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
            misrouted += 1;
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

    // Keyed as Aegis's producers key them: none misrouted.
    let none = publish_labels(&broker, &topics.labels, "murmur2_random", 0).await;
    assert_eq!(none, 0, "the Java partitioner is murmur2");
    // librdkafka's default: most land elsewhere.
    let expected = publish_labels(&broker, &topics.labels, "consistent_random", 100).await;
    assert!(expected > 20, "{expected} of 100 on another partition");

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
