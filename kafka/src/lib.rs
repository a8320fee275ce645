//! # aegis-kafka
//!
//! The adapters between Aegis's domain ([`aegis_core`]) and the outside world its services talk
//! to. Everything here does network or process I/O; nothing in `aegis-core` does.
//!
//! - [`properties`]: `-X key=value` librdkafka properties (as kcat takes them) and client configs
//!   built from them; secrets are masked wherever a property is shown.
//! - [`flags`]: the Kafka flags every binary takes (`-X`, `--kafka-config`, `--connect-timeout`,
//!   `--topic-prefix`), each one clap struct the binaries flatten into theirs.
//! - [`duration`]: durations on the command line, every one with its unit (`30s`, `500ms`, `1d`).
//! - [`renamed`]: old spellings of flags and environment variables, read for one release with a
//!   warning.
//! - [`cluster`]: the start-up check — do the brokers answer and hold the topics a binary needs —
//!   retried until a deadline, so a binary started beside its broker waits for it.
//! - [`registry`]: a blocking Confluent Schema Registry client (register, fetch by id, cached) and a
//!   decoder that reads messages with their writer's schema.
//! - [`build_info`]: `aegis_build_info{version, git_sha}` and the process collector, in every
//!   binary's metrics.
//! - [`logs`]: the logger of the long-running binaries (`AEGIS_LOG`, else `RUST_LOG`;
//!   `--log-format text|json`).
//! - [`service`]: process plumbing of the long-running binaries: logs, a cancellation token fired
//!   by SIGINT or SIGTERM, and `GET /metrics`.
//! - [`assignment`]: the partitions a group member holds, each under an epoch of its own, so that
//!   work read before a rebalance never stores an offset after it.
//! - [`settings`]: the librdkafka settings of every Aegis client — group member, reader, reliable
//!   and changelog producers — written once.
//! - [`read`]: a topic's partitions and ends, and a compacted topic read whole to its end.
//! - [`signed`]: the headers of a signed model or rule set.
//! - [`produce`]: sending with librdkafka's bounded queue (a full queue means wait and retry, never
//!   drop), and awaiting the broker's acknowledgements.
#![deny(missing_docs)]

pub mod assignment;
pub mod build_info;
pub mod cluster;
pub mod duration;
pub mod flags;
pub mod logs;
pub mod produce;
pub mod properties;
pub mod read;
pub mod registry;
pub mod renamed;
pub mod service;
pub mod settings;
pub mod signed;

pub use cluster::{check_properties, ClusterCheck, ClusterError};
pub use flags::{ConnectFlags, KafkaFlags, PropertiesFile, TopicPrefix};
pub use logs::{LogFlags, LogFormat};
pub use properties::{client_config, describe, Property};
pub use read::{ends_of, read_to_end, read_topic_to_end, topic_partitions, ReadError};
pub use settings::{java_partition, Settings, JAVA_PARTITIONER};
