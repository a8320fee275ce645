//! `--label-delay` and `--label-share`: each transaction's label follows it on the labels topic,
//! after the delay, keyed by the same account, with the share the plan publishes, carrying its
//! transaction's event time.

use std::collections::HashMap;

use aegis_core::Label;
use aegis_producer::labels::LabelPlan;

use crate::*;

const N: u64 = 300;

/// Every label on the topic, with its key and partition, read from the beginning until `n`
/// arrived (plus a settle).
pub(crate) fn read_labels(broker: &Broker, topic: &str, n: usize) -> Vec<(String, i32, Label)> {
    read_records(broker, topic, n, |m| {
        let (label, _) = AvroCodec::label().decode(m.payload().unwrap()).unwrap();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        (key, m.partition(), label)
    })
}

/// A broker with a fresh transactions topic and a fresh labels topic.
pub(crate) async fn broker_with_labels_topic() -> (Broker, String, String) {
    let broker = Broker::start();
    let (topic, labels) = (unique_topic("tx"), unique_topic("labels"));
    broker
        .create_topics(&[(&topic, PARTITIONS), (&labels, PARTITIONS)])
        .await;
    (broker, topic, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_follow_their_transactions_after_the_delay_with_the_share_asked() {
    let (broker, topic, labels) = broker_with_labels_topic().await;
    let config = ProducerConfig {
        replay: Some(data("paysim_transfer_cashout_steps_1-10.csv")),
        count: Some(N),
        rate: Some(200.0),
        label_delay: Some(Duration::from_millis(500)),
        label_share: 0.6,
        labels_topic: labels.clone(),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let plan = config.label_plan().unwrap();
    let summary = produce(config).await.unwrap();
    assert_eq!((summary.sent, summary.failed), (N, 0));
    assert_eq!(summary.labels_sent + summary.labels_withheld, N);
    assert_eq!(summary.labels_failed, 0);

    let transactions: HashMap<String, Published> = read_all(&broker, &topic, N as usize)
        .into_iter()
        .map(|p| (p.tx.tx_id.clone(), p))
        .collect();
    let expected: Vec<&String> = transactions
        .keys()
        .filter(|id| plan.publishes(id))
        .collect();
    assert_eq!(expected.len() as u64, summary.labels_sent);
    assert!((120..=240).contains(&expected.len()), "{}", expected.len());

    let read = read_labels(&broker, &labels, expected.len());
    assert_eq!(read.len(), expected.len(), "one label per published share");
    for (key, partition, label) in &read {
        let tx = &transactions[&label.tx_id];
        assert!(LabelPlan::publishes(&plan, &label.tx_id));
        assert_eq!(key, &tx.tx.name_orig, "keyed by origin account");
        assert_eq!(*partition, tx.partition, "on its transaction's partition");
        assert_eq!(Some(label.is_fraud), tx.tx.is_fraud);
        assert_eq!(label.source.as_deref(), Some("replay"));
        assert_eq!(
            label.event_time,
            Some(tx.tx.event_time),
            "its transaction's event time"
        );
        assert!(
            label.labelled_at >= tx.tx.event_time + 500,
            "published after the delay: {label:?} for {:?}",
            tx.tx
        );
    }
    assert!(
        read.iter().any(|(_, _, l)| l.is_fraud),
        "frauds are labelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_publishes_the_labels_still_waiting() {
    let (broker, topic, labels) = broker_with_labels_topic().await;
    let config = ProducerConfig {
        replay: Some(data("paysim_transfer_cashout_steps_1-10.csv")),
        rate: Some(100.0),
        label_delay: Some(Duration::from_secs(3600)),
        labels_topic: labels.clone(),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // Stopped once more than 50 transactions are on the topic (not after a fixed time: a loaded
    // machine starts the producer late), all of their labels an hour from due.
    let (bootstrap, watched) = (broker.bootstrap(), topic.clone());
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(25);
        while Instant::now() < deadline {
            let written: i64 = aegis_kafka::ends_of(&consumer, &watched, Duration::from_secs(5))
                .ok()
                .flatten()
                .map_or(0, |ends| ends.iter().map(|(_, end)| end).sum());
            if written > 50 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.cancel();
    });
    let started = Instant::now();
    let summary = produce_until(config, cancel).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no hour's wait"
    );
    assert!(summary.sent > 50, "{summary}");
    assert_eq!(summary.labels_sent, summary.sent, "{summary}");
    let read = read_labels(&broker, &labels, summary.sent as usize);
    assert_eq!(read.len() as u64, summary.sent);
}
