//! The producer against a real Kafka broker (tansu, started per test) and as a command line; the
//! simulator against the PaySim samples (no broker).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod cli;
mod connect;
mod fidelity;
mod labels;
mod measured;
mod out;
mod replay;
mod simulate;
mod spec;

use std::time::{Duration, Instant};

use aegis_core::avro::AvroCodec;
use aegis_core::Transaction;
use aegis_producer::{Counters, ProducerConfig, Summary};
use aegis_testkit::{unique_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

/// Partitions of every test topic.
const PARTITIONS: i32 = 4;

use aegis_testkit::data;

/// A broker with a fresh topic of [`PARTITIONS`] partitions.
async fn broker_with_topic(prefix: &str) -> (Broker, String) {
    let broker = Broker::start();
    let topic = unique_topic(prefix);
    broker.create_topics(&[(&topic, PARTITIONS)]).await;
    (broker, topic)
}

/// Runs the producer on a blocking thread, as the binary does.
async fn produce(config: ProducerConfig) -> anyhow::Result<Summary> {
    produce_until(config, CancellationToken::new()).await
}

async fn produce_until(
    config: ProducerConfig,
    cancel: CancellationToken,
) -> anyhow::Result<Summary> {
    tokio::task::spawn_blocking(move || aegis_producer::run(&config, Counters::new(), &cancel))
        .await
        .unwrap()
}

/// One message read back: its key, decoded transaction and partition.
struct Published {
    key: String,
    tx: Transaction,
    partition: i32,
}

/// Every message on the topic, read from the beginning until `n` arrived (plus a short settle to
/// catch extras) or a minute passed.
fn read_all(broker: &Broker, topic: &str, n: usize) -> Vec<Published> {
    read_records(broker, topic, n, |m| Published {
        key: String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
        tx: AvroCodec::transaction()
            .decode(m.payload().unwrap())
            .unwrap()
            .0,
        partition: m.partition(),
    })
}

/// Every record on the topic, each read by `read`, from the beginning until `n` arrived (plus a
/// short settle to catch extras) or a minute passed.
fn read_records<T>(
    broker: &Broker,
    topic: &str,
    n: usize,
    read: impl Fn(&BorrowedMessage) -> T,
) -> Vec<T> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", unique_topic("reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(read(&m));
        }
        if out.len() >= n && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    out
}
