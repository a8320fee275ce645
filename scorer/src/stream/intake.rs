//! Stage 1, intake: polls the group consumer and gathers batches — up to `--batch-size` messages,
//! waiting at most `--batch-linger` after the first — each message detached from the consumer
//! with the assignment epoch it was received under. It owns the polling; it touches nothing else
//! but the `received` counter. When it stops (shutdown, or the next stage gone after a fatal
//! error) it cancels the pipeline's stop token, so the pipeline knows to shut down.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::assignment::Assignment;
use super::ScorerConsumer;
use crate::metrics::Metrics;

/// One consumed message, detached from the consumer.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its input partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The assignment epoch of the partition when the message was received.
    pub epoch: u64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its value, if any.
    pub payload: Option<Vec<u8>>,
}

/// The intake stage's state.
pub(super) struct Intake {
    pub consumer: Arc<ScorerConsumer>,
    /// Which epoch each partition is held under.
    pub assignment: Arc<Assignment>,
    pub metrics: Arc<Metrics>,
    /// Most messages a batch.
    pub batch_size: usize,
    /// Longest wait for a batch to fill after its first message.
    pub linger: Duration,
    /// To the processing stage.
    pub batches: mpsc::Sender<Vec<Received>>,
    /// Fires to stop; cancelled by this stage when it ends for any reason.
    pub stop: CancellationToken,
}

impl Intake {
    pub async fn run(self) {
        let _stopping = self.stop.clone().drop_guard();
        loop {
            let first = tokio::select! {
                () = self.stop.cancelled() => break,
                m = self.consumer.recv() => m,
            };
            let mut batch = Vec::with_capacity(self.batch_size);
            match first {
                Ok(m) => batch.push(self.detach(&m)),
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let deadline = Instant::now() + self.linger;
            while batch.len() < self.batch_size {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(self.detach(&m)),
                    Ok(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                    Err(_) => break,
                }
            }
            self.metrics.received(batch.len());
            if self.batches.send(batch).await.is_err() {
                break; // processing stopped after a fatal error
            }
        }
        tracing::info!("intake stopped");
    }

    fn detach(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Received {
        Received {
            partition: m.partition(),
            offset: m.offset(),
            epoch: self.assignment.epoch(m.partition()),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        }
    }
}
