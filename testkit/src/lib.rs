//! # aegis-testkit
//!
//! Test support, for dev-dependencies only:
//!
//! - [`broker`]: a real Kafka-protocol broker (a `tansu` process, SQLite storage in a temporary
//!   directory) on a free loopback port, with topics created from the contract's table; stopped
//!   when dropped. `aegis-stack` starts its brokers through the same code.
//! - [`fake_registry`]: an in-process fake of the Confluent Schema Registry calls Aegis makes.
//! - [`model_files`]: damaged and foreign copies of a model file.
#![deny(missing_docs)]

pub mod broker;
pub mod fake_registry;
pub mod model_files;

pub use broker::{free_port, unique_topic, Broker};
pub use model_files::{edited_model, model_with_unknown_feature};
