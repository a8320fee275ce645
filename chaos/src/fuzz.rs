//! `aegis-chaos fuzz`: writes hostile messages of every [`Kind`] interleaved, in a seeded random
//! order, with valid transactions, and a manifest naming each message's partition, offset, kind
//! and expected outcome; returns once the broker acknowledged every one (or says how many it did
//! not).
//!
//! The expectations travel in the manifest, not in Kafka headers: tansu 0.6.0's SQLite storage
//! scans its whole header table for every record it serves, so headers on the input would slow
//! every fetch of the scenario (see `chaos/README.md`).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use aegis_kafka::produce;
use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::hostile::{Generator, Kind, Message};
use crate::manifest::ManifestEntry;

/// How long the final flush may wait for acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// What to write.
#[derive(Clone, Debug)]
pub struct FuzzPlan {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topic the scorers read.
    pub topic: String,
    /// Hostile messages, spread evenly over every kind.
    pub hostile: u64,
    /// Ordinary valid transactions.
    pub valid: u64,
    /// Seed of the contents and of the order.
    pub seed: u64,
}

/// What was written.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    /// Messages the broker acknowledged.
    pub delivered: u64,
    /// Messages it did not.
    pub failed: u64,
}

/// Where each message landed, by its index in the plan (`None` until acknowledged).
struct Deliveries {
    landed: Mutex<Vec<Option<(i32, i64)>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        if let Ok(m) = result {
            let mut landed = self.landed.lock().unwrap_or_else(|e| e.into_inner());
            landed[*index] = Some((m.partition(), m.offset()));
        }
    }
}

/// The messages of a plan, in the order they are written.
pub fn messages(plan: &FuzzPlan) -> Vec<Message> {
    let mut generator = Generator::new(plan.seed);
    let mut messages: Vec<Message> = Kind::ALL
        .iter()
        .cycle()
        .take(usize::try_from(plan.hostile).unwrap_or(usize::MAX))
        .map(|kind| generator.hostile(*kind))
        .collect();
    messages.extend((0..plan.valid).map(|_| generator.valid()));
    messages.shuffle(&mut StdRng::seed_from_u64(plan.seed ^ 0x5eed));
    messages
}

/// Writes the plan's messages (idempotent producer, `acks=all`), then the manifest of those the
/// broker acknowledged to `manifest` (JSON lines, see [`ManifestEntry`]).
#[allow(clippy::result_large_err)] // rdkafka's send hands the record back in its Err
pub fn run(plan: &FuzzPlan, manifest: &Path) -> Result<Written> {
    let messages = messages(plan);
    let producer: BaseProducer<Deliveries> = aegis_kafka::Settings::reliable_producer()
        .set("linger.ms", 5)
        .client_config(&plan.brokers, &[])
        .create_with_context(Deliveries {
            landed: Mutex::new(vec![None; messages.len()]),
        })
        .with_context(|| format!("cannot create a Kafka producer for {}", plan.brokers))?;
    for (index, message) in messages.iter().enumerate() {
        let mut record: BaseRecord<'_, [u8], [u8], Box<usize>> =
            BaseRecord::with_opaque_to(&plan.topic, Box::new(index));
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &message.payload {
            record = record.payload(payload.as_slice());
        }
        let wait = || {
            producer.poll(Duration::from_millis(10));
            ControlFlow::Continue(())
        };
        if let Err(e) = produce::enqueue(record, |r| producer.send(r), wait) {
            bail!("cannot enqueue a {} message: {e}", message.kind);
        }
        producer.poll(Duration::ZERO);
    }
    if let Err(e) = producer.flush(FLUSH_TIMEOUT) {
        bail!("not every message was acknowledged within {FLUSH_TIMEOUT:?}: {e}");
    }
    let landed = std::mem::take(
        &mut *producer
            .context()
            .landed
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    write_manifest(manifest, &messages, &landed)?;
    let delivered = landed.iter().flatten().count() as u64;
    Ok(Written {
        delivered,
        failed: messages.len() as u64 - delivered,
    })
}

fn write_manifest(path: &Path, messages: &[Message], landed: &[Option<(i32, i64)>]) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the manifest {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for (message, at) in messages.iter().zip(landed) {
        let Some((partition, offset)) = *at else {
            continue;
        };
        let entry = ManifestEntry::new(partition, offset, message);
        serde_json::to_writer(&mut out, &entry).context("a manifest entry as JSON")?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("cannot write the manifest {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_covers_every_kind_and_is_reproducible() {
        let plan = FuzzPlan {
            brokers: String::new(),
            topic: String::new(),
            hostile: 100,
            valid: 50,
            seed: 3,
        };
        let first = messages(&plan);
        assert_eq!(first.len(), 150);
        for kind in Kind::ALL {
            assert!(first.iter().any(|m| m.kind == kind.name()), "{kind:?}");
        }
        assert_eq!(first.iter().filter(|m| m.kind == "valid").count(), 50);
        let again = messages(&plan);
        assert!(first
            .iter()
            .zip(&again)
            .all(|(a, b)| a.kind == b.kind && a.key == b.key));
    }
}
