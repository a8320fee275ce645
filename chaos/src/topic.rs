//! Reading a topic from the beginning to its current end, and a consumer group's committed
//! offsets — without joining the group, so the checker never disturbs the scorers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// How long one metadata, watermark or offset request may take: a broker busy with a backlog can
/// be slow to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One message, detached from the consumer.
#[derive(Clone, Debug)]
pub struct Record {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The key (`None` when the message has none).
    pub key: Option<Vec<u8>>,
    /// The value (`None` for a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Headers in order; a header without a value has an empty one.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// The value of the first header called `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// A consumer that never joins a group or commits: for reading and for offset queries.
fn consumer(brokers: &str, group: &str) -> Result<BaseConsumer> {
    aegis_kafka::Settings::reader(group)
        .client_config(brokers, &[])
        .create()
        .with_context(|| format!("cannot create a Kafka consumer for {brokers}"))
}

/// The partitions of `topic`, sorted.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let mut ids = aegis_kafka::topic_partitions(consumer, topic, REQUEST_TIMEOUT)
        .with_context(|| format!("cannot fetch the metadata of topic {topic}"))?
        .ok_or_else(|| anyhow!("topic {topic} does not exist (or has no partitions)"))?;
    ids.sort_unstable();
    Ok(ids)
}

/// The high watermark (the offset the next message will get) of every partition of `topic`.
pub fn high_watermarks(brokers: &str, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let consumer = consumer(brokers, "aegis-chaos-reader")?;
    retry(|| watermarks(&consumer, topic))
}

/// Up to three tries of a request a busy broker may not answer in time.
fn retry<T>(mut request: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 1;
    loop {
        match request() {
            Err(e) if tries < 3 => {
                eprintln!("aegis-chaos: {e:#}; asking again");
                tries += 1;
            }
            result => return result,
        }
    }
}

fn watermarks(consumer: &BaseConsumer, topic: &str) -> Result<BTreeMap<i32, i64>> {
    Ok(aegis_kafka::ends_of(consumer, topic, REQUEST_TIMEOUT)
        .with_context(|| format!("cannot fetch the watermarks of {topic}"))?
        .ok_or_else(|| anyhow!("topic {topic} does not exist (or has no partitions)"))?
        .into_iter()
        .collect())
}

/// The offsets `group` has committed on every partition of `topic` (0 where it has none yet).
pub fn committed(brokers: &str, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let consumer = consumer(brokers, group)?;
    let mut list = TopicPartitionList::new();
    for p in retry(|| partitions(&consumer, topic))? {
        list.add_partition(topic, p);
    }
    let offsets = retry(|| {
        consumer
            .committed_offsets(list.clone(), REQUEST_TIMEOUT)
            .with_context(|| format!("cannot fetch the offsets group {group} committed"))
    })?;
    Ok(offsets
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            _ => (e.partition(), 0),
        })
        .collect())
}

/// Every message of `topic` from the beginning up to the high watermarks found at the start
/// (`aegis_kafka::read_topic_to_end`). Fails if that end is not reached within `timeout`; a read
/// that fails is tried again from the start, up to three times.
pub fn read_to_end(brokers: &str, topic: &str, timeout: Duration) -> Result<Vec<Record>> {
    let consumer = consumer(brokers, "aegis-chaos-reader")?;
    retry(|| {
        let mut records = Vec::new();
        let deadline = Instant::now() + timeout;
        aegis_kafka::read_topic_to_end(&consumer, topic, deadline, |m| {
            records.push(Record::of(m));
        })
        .with_context(|| {
            format!("reading {topic} to its end within {timeout:?} (is the broker up?)")
        })?
        .ok_or_else(|| anyhow!("topic {topic} does not exist"))?;
        Ok(records)
    })
}

impl Record {
    fn of(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers,
        }
    }
}
