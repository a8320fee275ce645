//! The end of a replica's stream side: flush the producer, commit stored offsets, close the
//! clients — within a bounded time, even with the broker gone.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};

use super::ScorerConsumer;

/// Flushes the producer, commits the stored offsets and closes both clients, giving up after
/// `timeout`. librdkafka's synchronous commit and consumer close wait for the group coordinator
/// without a limit, so they run on a thread of their own that is left behind when the broker is
/// gone: a scorer told to stop must stop, and offsets not committed only mean verdicts repeated.
pub(super) async fn finish(
    consumer: Arc<ScorerConsumer>,
    producer: FutureProducer,
    timeout: Duration,
) -> Result<()> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("aegis-finish".to_owned())
        .spawn(move || {
            let result = flush_and_commit(&consumer, &producer, timeout);
            // The last references: dropping them closes the clients (and may wait, here only).
            drop((consumer, producer));
            let _ = done.send(result);
        })
        .context("cannot start the shutdown thread")?;
    match tokio::time::timeout(timeout, finished).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(anyhow!("the shutdown thread panicked")),
        Err(_) => Err(anyhow!(
            "could not commit offsets and close the Kafka clients within {timeout:?} \
             (--shutdown-timeout); is the broker reachable? Uncommitted work will be scored again"
        )),
    }
}

fn flush_and_commit(
    consumer: &ScorerConsumer,
    producer: &FutureProducer,
    timeout: Duration,
) -> Result<()> {
    producer.flush(timeout).context("flushing the producer")?;
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last commit is not a failure.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => return Err(anyhow!("committing offsets: {e}")),
    }
    consumer.unsubscribe();
    tracing::info!("offsets committed; scorer stopped");
    Ok(())
}
