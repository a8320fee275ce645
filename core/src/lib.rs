//! # aegis-core
//!
//! The domain library every Aegis binary shares, so that the producer, the scorer and the trainer
//! agree on one meaning of a transaction. It is pure: no Kafka client, async runtime, CLI parser or
//! HTTP client, and I/O only where a caller hands it a path (reading a CSV or a model file).
//!
//! - [`transaction`] and [`verdict`]: the types behind `schemas/transaction.avsc` and
//!   `schemas/verdict.avsc`, with validation and the ALLOW / REVIEW / BLOCK [`Thresholds`].
//! - [`label`] and [`outcome`]: the types behind `schemas/label.avsc` (the ground truth of a
//!   transaction, learnt late) and `schemas/outcome.avsc` (a verdict joined with its label).
//! - [`avro`]: the Avro codec for both framings Aegis reads and writes (Confluent wire format and Avro
//!   single-object encoding). Foreign or truncated bytes are a typed error, never a panic.
//! - [`dead_letter`]: the dead-letter contract — the closed set of reasons, the header names, and
//!   building and reading those headers.
//! - [`topics`]: the contract's topic names and the one table of their partitions.
//! - [`paysim`]: a streaming reader of PaySim CSV whose errors name the file, line and field.
//! - [`features`]: the feature vector of one transaction, in the order the model expects.
//! - [`forest`]: the compiled forest — a flat array of nodes that scores bit for bit as smartcore's
//!   `predict` (fitting lives in `aegis-trainer`) — and per-feature contributions that explain it.
//! - [`calibration`]: the isotonic map from the forest's raw score to a calibrated probability.
//! - [`model`]: the versioned model artifact (format version, content-hash model version, features,
//!   thresholds, training summary, compiled forest) and scoring transactions with it.
//! - [`error_line`]: a fatal error and its causes as the one line the binaries print.
//! - [`account_state`]: an origin account's remembered history and the state features of its next
//!   transaction — one implementation online (scorer) and offline (trainer).
//! - [`role`]: a model's slot, `live` or `shadow` — the models topic's key and the metrics' `role`
//!   label.
//! - [`decide`]: the model's decision escalated by the rules, one pure function for the stream and
//!   the scoring API.
//! - [`rules`]: declarative rules over a transaction, its score and its state features.
//! - [`spec`]: a spec file — one shape of transaction data, its fields, event time, label delay
//!   and features — checked whole.
//! - [`repartition`]: the records the scorer's stages pass between them on a repartition topic.
//! - [`clock`]: the wall clock in the contract's unit, milliseconds since the Unix epoch.
#![deny(missing_docs)]

pub mod account_state;
pub mod avro;
pub mod calibration;
pub mod card_precision;
pub mod clock;
pub mod dead_letter;
pub mod decide;
pub mod error_line;
pub mod features;
pub mod forest;
pub mod label;
pub mod model;
pub mod outcome;
pub mod paysim;
pub mod repartition;
pub mod role;
pub mod rules;
pub mod signing;
pub mod spec;
pub mod topics;
pub mod transaction;
pub mod verdict;

pub use dead_letter::{DeadLetter, DeadLetterReason};

pub use label::Label;
pub use model::{Model, ModelError, Score};
pub use outcome::Outcome;
pub use role::{ModelKey, Role};
pub use transaction::{InvalidTransaction, Transaction, TxType};
pub use verdict::{Decision, Thresholds, Verdict};
