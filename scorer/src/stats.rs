//! Counters of what the replica did, shared by the pipeline, the shutdown summary and (later) the
//! metrics endpoint. Lock-free: atomics only.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use aegis_core::Decision;

use crate::scoring::Output;

/// What one replica has done since it started.
#[derive(Default)]
pub struct Stats {
    received: AtomicU64,
    verdicts: [AtomicU64; 3],
    dead_letters: AtomicU64,
    batches: AtomicU64,
    scoring_nanos: AtomicU64,
    blocked_amount_cents: AtomicU64,
}

impl Stats {
    pub fn received(&self, n: usize) {
        self.received.fetch_add(n as u64, Relaxed);
    }

    pub fn scored_batch(&self, _n: usize, took: Duration) {
        self.batches.fetch_add(1, Relaxed);
        self.scoring_nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn output(&self, output: &Output) {
        match output {
            Output::Verdict {
                decision, amount, ..
            } => {
                self.verdicts[decision_slot(*decision)].fetch_add(1, Relaxed);
                if *decision == Decision::Block {
                    self.blocked_amount_cents
                        .fetch_add((amount * 100.0).round() as u64, Relaxed);
                }
            }
            Output::DeadLetter { .. } => {
                self.dead_letters.fetch_add(1, Relaxed);
            }
        }
    }

    /// Verdicts written with this decision.
    pub fn verdicts(&self, decision: Decision) -> u64 {
        self.verdicts[decision_slot(decision)].load(Relaxed)
    }

    /// Messages sent to the dead-letter topic.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Relaxed)
    }

    /// Messages consumed.
    pub fn received_total(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// One line for the log at shutdown.
    pub fn summary(&self) -> String {
        format!(
            "received {}, verdicts ALLOW {} REVIEW {} BLOCK {} (blocked amount {:.2}), dead letters {}, {} batches",
            self.received_total(),
            self.verdicts(Decision::Allow),
            self.verdicts(Decision::Review),
            self.verdicts(Decision::Block),
            self.blocked_amount_cents.load(Relaxed) as f64 / 100.0,
            self.dead_letters(),
            self.batches.load(Relaxed),
        )
    }
}

fn decision_slot(d: Decision) -> usize {
    match d {
        Decision::Allow => 0,
        Decision::Review => 1,
        Decision::Block => 2,
    }
}
