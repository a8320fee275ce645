//! The local Aegis stack behind `aegis-stack`: a tansu broker with the contract's topics, a model
//! trained once and shared, scorer replicas, the producer and optionally Prometheus, each a child
//! process with its log in the stack's directory, started in order with a bounded wait for each
//! and stopped in order (producer, scorers, Prometheus, broker). `scripts/demo`, the live checks,
//! `aegis-chaos run` (through this library: [`process`], [`commands`], [`model`], [`wait`]) and
//! the tansu reproductions start everything through it; [`summary`] sums the scorers' final
//! metrics for `scripts/demo`.

pub mod commands;
pub mod info;
pub mod keys;
pub mod model;
pub mod process;
pub mod prometheus;
pub mod start;
pub mod summary;
pub mod up;
pub mod wait;

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use aegis_testkit::broker::BrokerError;
use aegis_testkit::topics::TopicError;

/// Why the stack, or one step of it, failed. Each names the thing and, where it helps, the log
/// to read.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A file or directory could not be read or written.
    #[error("{what} {path}: {source}")]
    File {
        /// What was being done, e.g. "cannot write".
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stack's directory holds files the stack did not make.
    #[error(
        "{0} is not empty and was not made by aegis-stack: pass a new or empty directory \
         (its contents are replaced at each start)"
    )]
    ForeignDirectory(PathBuf),
    /// A binary the stack runs is not there.
    #[error("{0} is missing: build it (cargo build --release --locked --bins) or pass --bin-dir")]
    MissingBinary(PathBuf),
    /// A tool the stack runs is not installed.
    #[error("{tool} is not installed (not on PATH): {hint}")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// What installs it.
        hint: &'static str,
    },
    /// The spec given with `--spec` is refused.
    #[error("--spec: {0}")]
    Spec(String),
    /// A file the stack reads from the repository is not there.
    #[error("{0} is missing: run aegis-stack from the root of the Aegis repository")]
    MissingRepositoryFile(PathBuf),
    /// A child process could not be started.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// The stack's name for it, e.g. `scorer-1`.
        name: String,
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A child process exited when it should have kept running, or failed.
    #[error("{name} exited ({status}); its log: {log}")]
    Exited {
        /// The stack's name for it.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// Something was not ready within its bounded wait.
    #[error("{what} was not ready within {limit:?}{}", log.as_ref().map(|l| format!("; its log: {}", l.display())).unwrap_or_default())]
    NotReady {
        /// What was waited for, e.g. `scorer-1 (http://127.0.0.1:8080/readyz)`.
        what: String,
        /// How long.
        limit: Duration,
        /// The log to read, when there is one.
        log: Option<PathBuf>,
    },
    /// Prometheus's configuration could not be made from the template.
    #[error("{path}: {reason}")]
    Template {
        /// The template.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The process that should have answered a wait is gone.
    #[error("{what} will not answer: its process {pid} is gone (see its log)")]
    ProcessGone {
        /// What was waited for.
        what: String,
        /// The process.
        pid: u32,
    },
    /// A stop signal arrived before the stack was up.
    #[error("stopped by a signal before the stack was up")]
    Cancelled,
    /// The broker did not start.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The topics could not be created.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// The publishing key could not be made or read.
    #[error(transparent)]
    Key(#[from] aegis_core::signing::KeyError),
}

impl StackError {
    /// A [`StackError::File`] for `path`.
    pub fn file(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StackError::File { what, path, source }
    }
}
