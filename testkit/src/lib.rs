//! # aegis-testkit
//!
//! Test support (a dev-dependency of the crates it tests, and the base of `aegis-stack`):
//!
//! - [`broker`]: a real Kafka-protocol broker (a `tansu` process with SQLite storage) on a
//!   loopback port — in a temporary directory for a test, or in a kept directory so that it can be
//!   killed and started again on the same storage; stopped when dropped.
//! - [`topics`]: topics created idempotently, from the contract's table (`deploy/topics.txt`) or
//!   ad hoc.
//! - [`cli`]: what command-line tests check of a failed run.
//! - [`fake_registry`]: an in-process fake of the Confluent Schema Registry calls Aegis makes.
//! - [`model_files`]: damaged and foreign copies of a model file.
#![deny(missing_docs)]

pub mod broker;
pub mod cli;
pub mod fake_registry;
pub mod model_files;
pub mod topics;

pub use broker::{free_port, unique_topic, Broker};
pub use model_files::{edited_model, model_with_unknown_feature};

/// A file in the repository's `data/` (the PaySim samples the tests and the demo use).
pub fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}
