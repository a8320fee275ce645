//! Writing to Kafka the way every Aegis writer does: a full local queue means wait and retry the
//! same record, never drop it; a record counts as written only once the broker acknowledged it
//! ([`delivered`], [`all_delivered`]); and dead letters carry the contract's headers
//! ([`aegis_core::dead_letter`]) as Kafka headers.

use std::ops::ControlFlow;
use std::time::Duration;

use aegis_core::dead_letter::{DeadLetter, DeadLetterHeaderError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::DeliveryFuture;
use rdkafka::Message;

/// One try at enqueueing: done, or librdkafka's queue is full and the record comes back.
enum Attempt<T, R> {
    Enqueued(T),
    QueueFull(R),
}

fn attempt<R, T>(
    record: R,
    send: impl FnOnce(R) -> Result<T, (KafkaError, R)>,
) -> Result<Attempt<T, R>, KafkaError> {
    match send(record) {
        Ok(enqueued) => Ok(Attempt::Enqueued(enqueued)),
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
            Ok(Attempt::QueueFull(back))
        }
        Err((error, _)) => Err(error),
    }
}

/// Enqueues `record` with `send` (`BaseProducer::send`, `ThreadedProducer::send`, …). While
/// librdkafka's queue is full it calls `wait` — which polls, sleeps or checks for cancellation —
/// and tries the same record again, until it is enqueued (`Ok(Some(_))`) or `wait` says stop
/// (`Ok(None)`). Any other error is returned.
pub fn enqueue<R, T>(
    mut record: R,
    mut send: impl FnMut(R) -> Result<T, (KafkaError, R)>,
    mut wait: impl FnMut() -> ControlFlow<()>,
) -> Result<Option<T>, KafkaError> {
    loop {
        match attempt(record, &mut send)? {
            Attempt::Enqueued(enqueued) => return Ok(Some(enqueued)),
            Attempt::QueueFull(_) if wait().is_break() => return Ok(None),
            Attempt::QueueFull(back) => record = back,
        }
    }
}

/// [`enqueue`] for async writers (`FutureProducer::send_result`): while the queue is full it
/// sleeps `backoff` on the runtime's timer, never blocking a worker thread, and tries again until
/// the record is enqueued.
pub async fn enqueue_async<R, T>(
    mut record: R,
    mut send: impl FnMut(R) -> Result<T, (KafkaError, R)>,
    backoff: Duration,
) -> Result<T, KafkaError> {
    loop {
        match attempt(record, &mut send)? {
            Attempt::Enqueued(enqueued) => return Ok(enqueued),
            Attempt::QueueFull(back) => record = back,
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Why a record handed to the producer was not written.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The broker refused it, or librdkafka gave up retrying.
    #[error("delivery failed: {0}")]
    Failed(KafkaError),
    /// The producer was dropped before the record's fate was known.
    #[error("delivery abandoned: the producer was dropped")]
    Abandoned,
}

/// Awaits the broker's acknowledgement of one record: its (partition, offset).
pub async fn delivered(delivery: DeliveryFuture) -> Result<(i32, i64), DeliveryError> {
    match delivery.await {
        Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
        Ok(Err((error, _))) => Err(DeliveryError::Failed(error)),
        Err(_) => Err(DeliveryError::Abandoned),
    }
}

/// Awaits every record's acknowledgement, in order; the first failure is the error.
pub async fn all_delivered(
    deliveries: impl IntoIterator<Item = DeliveryFuture>,
) -> Result<(), DeliveryError> {
    for delivery in deliveries {
        delivered(delivery).await?;
    }
    Ok(())
}

/// The contract's dead-letter headers as Kafka headers.
pub fn dead_letter_headers(letter: &DeadLetter) -> OwnedHeaders {
    letter
        .headers()
        .iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value.as_str()),
            })
        })
}

/// Reads the contract's headers of a message consumed from the dead-letter topic.
pub fn read_dead_letter(message: &impl Message) -> Result<DeadLetter, DeadLetterHeaderError> {
    let headers = message.headers();
    DeadLetter::from_headers(
        headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|header| (header.key, header.value)),
    )
}
