//! Reading topics with a consumer assigned by hand (no group, nothing committed): a topic's
//! partitions and their ends, and a compacted topic read whole to the end it had when the read
//! began — how the scorer restores account states, how every replica reads the models and rules
//! topics before its first batch, and how tests and checks read what was written.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

/// The partitions of `topic` from the cluster's metadata, asked within `timeout`; `None` when the
/// topic does not exist (or has no partitions yet). Blocking.
pub fn topic_partitions<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect()))
}

/// Reads partition `partition` of `topic` from its beginning to the end it has now (its high
/// watermark when the read starts), handing every message to `each`, with a consumer assigned by
/// hand (no group, nothing committed). Returns that end: where to follow the partition from.
/// Blocking; a transient error (the broker's connection coming and going) is read past; fails if
/// the end is not reached by `deadline`.
pub fn read_to_end<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    deadline: Instant,
    each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<i64, ReadError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let (low, high) = consumer.fetch_watermarks(topic, partition, remaining)?;
    read_range(consumer, topic, partition, (low, high), deadline, each)?;
    Ok(high)
}

/// Reads partition `partition` of `topic` from its beginning up to (not including) offset `end`,
/// handing every message to `each`, with a consumer assigned by hand — how a stage rebuilds the
/// state a partition's records before its committed offset give. Blocking; a transient error is
/// read past; fails if `end` is not reached by `deadline`.
pub fn read_before<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    end: i64,
    deadline: Instant,
    each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), ReadError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let (low, high) = consumer.fetch_watermarks(topic, partition, remaining)?;
    read_range(
        consumer,
        topic,
        partition,
        (low, high.min(end)),
        deadline,
        each,
    )
}

/// Reads `partition` of `topic` from offset `low` up to `high`, not including it:
/// [`read_to_end`], [`read_before`] and [`read_since`] once they know the partition's offsets.
fn read_range<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    (low, high): (i64, i64),
    deadline: Instant,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), ReadError> {
    let remaining = || deadline.saturating_duration_since(Instant::now());
    if high <= low {
        return Ok(());
    }
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(low))?;
    consumer.assign(&list)?;
    loop {
        if Instant::now() >= deadline {
            return Err(ReadError::Deadline { end: high });
        }
        let message = match consumer.poll(remaining().min(Duration::from_millis(200))) {
            None => continue,
            Some(Ok(message)) => message,
            // A broker restarting or slow to answer: librdkafka reconnects; read on until the
            // deadline.
            Some(Err(e)) if is_transient(&e) => {
                tracing::debug!(topic, partition, error = %e, "reading on after a transient error");
                continue;
            }
            Some(Err(e)) => return Err(e.into()),
        };
        if message.topic() != topic || message.partition() != partition {
            continue; // fetched for an earlier read by this consumer
        }
        if message.offset() >= high {
            return Ok(());
        }
        each(&message);
        if message.offset() + 1 >= high {
            return Ok(());
        }
    }
}

/// Whether a consumer error is the broker's connection coming and going, which librdkafka
/// recovers from by itself.
fn is_transient(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
        )
    )
}

/// Why [`read_to_end`] stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The broker refused or did not answer.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The deadline passed first.
    #[error("not read to its end (offset {end}) in time")]
    Deadline {
        /// The end the read was aiming for.
        end: i64,
    },
}

/// Each partition of `topic` with its high watermark (the offset after its last record), asked
/// within `timeout` each; `None` when the topic does not exist. Blocking.
pub fn ends_of<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<(i32, i64)>>, KafkaError> {
    let Some(partitions) = topic_partitions(consumer, topic, timeout)? else {
        return Ok(None);
    };
    partitions
        .into_iter()
        .map(|partition| {
            let (_, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            Ok((partition, high))
        })
        .collect::<Result<Vec<_>, KafkaError>>()
        .map(Some)
}

/// The high watermark (the offset after the last record) of each of `partitions` of `topic`, in
/// one request (a `ListOffsets` for the latest offsets); a partition the answer lacks is left
/// out. Blocking.
pub fn latest_offsets<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let mut list = rdkafka::TopicPartitionList::new();
    for &p in partitions {
        list.add_partition_offset(topic, p, rdkafka::Offset::End)?;
    }
    let answer = consumer.offsets_for_times(list, timeout)?;
    Ok(answer
        .elements_for_topic(topic)
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(end) if e.error().is_ok() => Some((e.partition(), end)),
            _ => None,
        })
        .collect())
}

/// Reads every partition of `topic` from its beginning to the end it has when its read starts,
/// handing every message to `each` ([`read_to_end`], partition by partition). Returns each
/// partition with that end — where to follow the topic from — or `None` when the topic does not
/// exist. Blocking; fails if the ends are not reached by `deadline`.
pub fn read_topic_to_end<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    deadline: Instant,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<Option<Vec<(i32, i64)>>, ReadError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let Some(partitions) = topic_partitions(consumer, topic, remaining)? else {
        return Ok(None);
    };
    partitions
        .into_iter()
        .map(|partition| {
            let end = read_to_end(consumer, topic, partition, deadline, &mut each)?;
            Ok((partition, end))
        })
        .collect::<Result<Vec<_>, ReadError>>()
        .map(Some)
}

/// Reads every partition of `topic` from its first record written at or after `since_ms` (the
/// records' Kafka timestamps, milliseconds since the Unix epoch) to the end it has when its read
/// starts, handing every message to `each`, with a consumer assigned by hand (no group, nothing
/// committed: a live consumer group is not touched). `false` when the topic does not exist.
/// Blocking; fails if the ends are not reached by `deadline`.
pub fn read_since<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    since_ms: i64,
    deadline: Instant,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<bool, ReadError> {
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let Some(partitions) = topic_partitions(consumer, topic, remaining())? else {
        return Ok(false);
    };
    let mut times = rdkafka::TopicPartitionList::new();
    for &partition in &partitions {
        times.add_partition_offset(topic, partition, rdkafka::Offset::Offset(since_ms))?;
    }
    let starts = consumer.offsets_for_times(times, remaining())?;
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, remaining())?;
        // No record at or after the time: nothing to read in this partition.
        let start = match starts.find_partition(topic, partition).map(|e| e.offset()) {
            Some(rdkafka::Offset::Offset(offset)) => offset.max(low),
            _ => high,
        };
        read_range(
            consumer,
            topic,
            partition,
            (start, high),
            deadline,
            &mut each,
        )?;
    }
    Ok(true)
}
