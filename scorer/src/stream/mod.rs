//! The stream side of a replica: the consumer-group pipeline, four tasks joined by bounded
//! channels:
//!
//! 1. **intake** polls the consumer and gathers batches (up to `--batch-size` messages, waiting at
//!    most `--batch-linger-ms` after the first);
//! 2. **processing** scores each batch on the blocking pool ([`scoring`]) and hands every output to
//!    the producer, and the accounts it changed to the changelog's own producer (a full producer
//!    queue means wait, never drop);
//! 3. **acknowledgement** awaits, batch by batch and in order, the broker's acknowledgement of every
//!    verdict and dead letter, and counts them;
//! 4. **offset storing** awaits the batch's account states in the changelog, and only then stores
//!    the batch's offsets — and only for partitions still held under the epoch the messages were
//!    received in ([`assignment`]).
//!
//! librdkafka commits stored offsets in the background, so a crash repeats at most the
//! unacknowledged tail: at least once, never lost. A delivery that fails for good stops the
//! replica with an error rather than skipping a message. On stop, `aegis_kafka::service::finish` flushes,
//! commits and closes within a bounded time.

mod acknowledge;
pub mod assignment;
pub(crate) mod clients;
pub mod model_updates;
mod pipeline;
pub mod scoring;
pub mod state;

pub use clients::{state_producer_settings, CONSUMER_SETTINGS, PRODUCER_SETTINGS};
pub use pipeline::run;

/// The scorer's consumer: a group member whose context tracks the assignment.
type ScorerConsumer = rdkafka::consumer::StreamConsumer<assignment::AssignmentContext>;
