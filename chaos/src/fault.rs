//! The moment of a fault, as `aegis-chaos fault` saves it: the offsets the scorers' group had
//! committed and how far the verdict topic reached. It splits every verdict into before and after
//! the fault, which turns "duplicates bounded by the in-flight window" into a count:
//!
//! - the **uncommitted window** is every input message scored before the fault at or above the
//!   committed offset of its partition: scored, acknowledged, but not yet committed;
//! - a message **repeated across the fault** has a verdict before it and another after it.
//!
//! A new owner starts at the committed offset, and commits only move forward, so every message
//! repeated across the fault lies in the window; one below the committed offset means committed
//! work was redone. After a drained SIGTERM handover the window, and so the repeats, must be empty.
//!
//! The committed offsets are read before the verdict topic's ends, which keeps that argument true
//! for a snapshot taken while scorers run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::check::Topics;
use crate::topic;

/// A snapshot taken at a fault.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Offsets the group had committed, by input partition.
    pub committed: BTreeMap<i32, i64>,
    /// Ends (high watermarks) of the input topic, by partition.
    pub input: BTreeMap<i32, i64>,
    /// Ends of the verdict topic, by partition: a verdict below is from before the fault.
    pub verdicts: BTreeMap<i32, i64>,
}

impl Fault {
    /// Takes the snapshot: committed offsets first, then the topics' ends.
    pub fn take(topics: &Topics) -> Result<Fault> {
        let committed = topic::committed(&topics.brokers, &topics.group, &topics.input)?;
        let input = topic::high_watermarks(&topics.brokers, &topics.input)?;
        let verdicts = topic::high_watermarks(&topics.brokers, &topics.verdicts)?;
        Ok(Fault {
            committed,
            input,
            verdicts,
        })
    }

    /// Saves the snapshot as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string(self).context("a fault snapshot as JSON")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a snapshot saved by [`Fault::save`].
    pub fn load(path: &Path) -> Result<Fault> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the fault snapshot {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a fault snapshot", path.display()))
    }

    /// Input messages committed.
    pub fn committed_total(&self) -> i64 {
        self.committed.values().sum()
    }

    /// Input messages written.
    pub fn input_total(&self) -> i64 {
        self.input.values().sum()
    }

    /// The offset committed on an input partition (0 if none).
    pub fn committed_on(&self, partition: i32) -> i64 {
        self.committed.get(&partition).copied().unwrap_or(0)
    }

    /// Whether the verdict at this position was written before the fault.
    pub fn before(&self, verdict_partition: i32, verdict_offset: i64) -> bool {
        verdict_offset < self.verdicts.get(&verdict_partition).copied().unwrap_or(0)
    }
}

/// What the fault did, in messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultEffect {
    /// Input messages committed at the fault.
    pub committed: i64,
    /// Input messages written at the fault.
    pub written: i64,
    /// Scored before the fault but not committed: what a fault may repeat.
    pub window: u64,
    /// Scored before and again after the fault.
    pub repeated: u64,
}
