//! `--spec`: a card CSV replayed in event-time order, keyed by card, in the schema generated from
//! the spec, each row's own event time kept; its labels after the delay, keyed by card; and
//! `--speedup` pacing the rows by their event time.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::avro::{SpecCodec, WireRecord};
use aegis_core::spec::record::{RecordReader, Value};
use aegis_core::spec::Spec;

use crate::labels::{broker_with_labels_topic, read_labels};
use crate::*;

const CARDS: &str = "cards_every_10th_card_2018-04-01_2018-05-31.csv";

fn cards_spec_path() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/cards.toml")
}

fn integer(value: &Value) -> i64 {
    match value {
        Value::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_file_is_replayed_in_event_time_order_keyed_by_card_with_its_labels() {
    const ROWS: u64 = 2_000;
    let (broker, topic, labels) = broker_with_labels_topic().await;
    let config = ProducerConfig {
        replay: Some(data(CARDS)),
        spec: Some(cards_spec_path()),
        count: Some(ROWS),
        label_delay: Some(Duration::from_millis(200)),
        labels_topic: labels.clone(),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let summary = produce(config).await.unwrap();
    assert_eq!(
        (summary.sent, summary.delivered, summary.failed),
        (ROWS, ROWS, 0)
    );
    assert_eq!(
        summary.labels_sent, ROWS,
        "every row of the file is labelled"
    );

    let spec = Spec::load(&cards_spec_path()).unwrap();
    let codec = SpecCodec::new(&spec).unwrap();
    let messages: Vec<(String, i32, WireRecord)> =
        read_records(&broker, &topic, ROWS as usize, |m| {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            (
                key,
                m.partition(),
                codec.decode(m.payload().unwrap()).unwrap(),
            )
        });
    assert_eq!(messages.len(), ROWS as usize, "exactly N messages");

    // The file's first N rows (it is in event-time order), each sent as it was read.
    let expected: HashMap<String, _> = RecordReader::open(&spec, &data(CARDS))
        .unwrap()
        .take(ROWS as usize)
        .map(|r| {
            let r = r.unwrap();
            (integer(&r.values[0]).to_string(), r)
        })
        .collect();
    let mut ids = HashSet::new();
    for (key, _, wire) in &messages {
        assert_eq!(
            expected[&wire.tx_id], wire.record,
            "row {} unchanged",
            wire.tx_id
        );
        assert_eq!(
            *key,
            integer(&wire.record.values[2]).to_string(),
            "keyed by card"
        );
        ids.insert(wire.tx_id.clone());
    }
    assert_eq!(ids.len(), ROWS as usize, "distinct transactions");
    for p in 0..PARTITIONS {
        let times: Vec<i64> = messages
            .iter()
            .filter(|m| m.1 == p)
            .map(|m| m.2.record.event_time_ms)
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "partition {p} out of event-time order"
        );
    }

    // Labels: one per row, keyed by its card, saying what the row says.
    let labels = read_labels(&broker, &labels, ROWS as usize);
    assert_eq!(labels.len(), ROWS as usize);
    for (key, _, label) in &labels {
        let row = &expected[&label.tx_id];
        assert_eq!(*key, integer(&row.values[2]).to_string());
        assert_eq!(Some(label.is_fraud), row.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speedup_sends_each_row_when_its_event_time_comes() {
    const ROWS: u64 = 300;
    let (broker, topic) = broker_with_topic("speedup").await;
    let spec = Spec::load(&cards_spec_path()).unwrap();
    let times: Vec<i64> = RecordReader::open(&spec, &data(CARDS))
        .unwrap()
        .take(ROWS as usize)
        .map(|r| r.unwrap().event_time_ms)
        .collect();
    let span_s = (times[times.len() - 1] - times[0]) as f64 / 1000.0;
    // About two seconds of wall time for the rows' event-time span.
    let speedup = span_s / 2.0;
    let config = ProducerConfig {
        replay: Some(data(CARDS)),
        spec: Some(cards_spec_path()),
        count: Some(ROWS),
        speedup: Some(speedup),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    let started = Instant::now();
    let summary = produce(config).await.unwrap();
    assert_eq!(summary.delivered, ROWS);
    // The last row cannot go before its event time, scaled, has passed (a lower bound only: a
    // slow machine may take longer).
    let taken = started.elapsed().as_secs_f64();
    assert!(
        taken >= 0.95 * span_s / speedup,
        "{taken} s for {span_s} s at {speedup}×"
    );
}

#[tokio::test]
async fn a_bad_row_stops_the_replay_before_anything_is_sent_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cards.csv");
    std::fs::write(
        &csv,
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n\
         1,2018-04-01 00:00:31,596,3156,57.16,0\n\
         2,2018-04-01 00:02:10,4961,3412,eighty,0\n",
    )
    .unwrap();
    let config = ProducerConfig {
        replay: Some(csv),
        spec: Some(cards_spec_path()),
        // Nothing listens here: the error must come before any connection is tried.
        ..ProducerConfig::new("127.0.0.1:1", "transactions")
    };
    let err = produce(config).await.unwrap_err().to_string();
    assert!(
        err.contains("cards.csv:3") && err.contains("TX_AMOUNT"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_registry_the_spec_s_schema_is_registered_under_the_topic_s_subject() {
    use aegis_core::avro::Framing;
    use aegis_testkit::fake_registry::FakeSchemaRegistry;

    let (broker, topic) = broker_with_topic("spec-registry").await;
    let registry = FakeSchemaRegistry::start();
    let config = ProducerConfig {
        replay: Some(data(CARDS)),
        spec: Some(cards_spec_path()),
        count: Some(50),
        schema_registry_url: Some(registry.url()),
        ..ProducerConfig::new(broker.bootstrap(), &topic)
    };
    produce(config).await.unwrap();
    let subject = aegis_kafka::registry::subject_for(&topic);
    assert!(
        registry
            .requests()
            .contains(&format!("POST /subjects/{subject}/versions")),
        "{:?}",
        registry.requests()
    );
    // Registering the generated schema again gives the id the messages carry.
    let spec = Spec::load(&cards_spec_path()).unwrap();
    let id = registry.register(&subject, &spec.avro_schema());
    let codec = SpecCodec::new(&spec).unwrap();
    let messages = read_records(&broker, &topic, 50, |m| {
        let payload = m.payload().unwrap();
        assert_eq!(
            Framing::detect(payload).unwrap(),
            Framing::Confluent { schema_id: id }
        );
        codec.decode(payload).unwrap()
    });
    assert_eq!(messages.len(), 50);
}
