//! # aegis-core
//!
//! The domain library every Aegis binary shares, so that the producer, the scorer and the trainer
//! agree on one meaning of a transaction:
//!
//! - [`transaction`] and [`verdict`]: the types behind `schemas/transaction.avsc` and
//!   `schemas/verdict.avsc`, with validation and the ALLOW / REVIEW / BLOCK [`Thresholds`].
//! - [`avro`]: the Avro codec for both framings Aegis reads and writes (Confluent wire format and Avro
//!   single-object encoding). Foreign or truncated bytes are a typed error, never a panic.
//! - [`paysim`]: a streaming reader of PaySim CSV whose errors name the file, line and field.
//! - [`features`]: the feature vector of one transaction, in the order the model expects.
//! - [`forest`]: fitting a random forest with smartcore, compiling it to a flat array of nodes,
//!   and per-feature contributions that explain a score.
//! - [`kafka`]: the contract's topic names and librdkafka configs built from `-X key=value`
//!   properties, secrets masked in logs. With the `testkit` feature, `testkit` starts a real broker
//!   for tests.
//! - [`registry`]: a Confluent Schema Registry client (register, fetch by id, cached); with the
//!   `testkit` feature, `fake_registry` is an in-process fake of those calls for tests.
//! - [`model`]: the versioned model artifact (format version, content-hash model version, features,
//!   thresholds, training summary, compiled forest) and scoring a transaction with it.
//!
//! - [`error_line`]: a fatal error and its causes as the one line the binaries print.
//!
//! Everything here is synchronous and allocation-light; I/O happens only where a path is given.
#![deny(missing_docs)]

pub mod avro;
pub mod error_line;
#[cfg(feature = "testkit")]
pub mod fake_registry;
pub mod features;
pub mod forest;
pub mod kafka;
pub mod model;
pub mod paysim;
pub mod registry;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transaction;
pub mod verdict;

pub use model::{Model, ModelError, Score};
pub use transaction::{InvalidTransaction, Transaction, TxType};
pub use verdict::{Decision, Thresholds, Verdict};
