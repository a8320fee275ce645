//! A real Kafka-protocol broker: a `tansu` process on a loopback port with SQLite storage, stopped
//! when dropped. Tests start one on a free port in a temporary directory ([`Broker::start`]) and
//! fail with a clear message — they never skip — when it cannot start (run `scripts/setup` to
//! install it); `aegis-stack` starts its broker in a directory it keeps ([`Broker::start_in`]), so
//! that a broker can be killed and started again on the same storage.

use std::fs::OpenOptions;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::topics::{self, Topic};

/// How long a broker may take to answer metadata requests after it was started.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long topic creation may take once the broker answers.
const TOPICS_LIMIT: Duration = Duration::from_secs(10);

/// A running broker. Dropping it stops the process (SIGKILL); storage in a temporary directory
/// is deleted with it.
pub struct Broker {
    child: Child,
    dir: PathBuf,
    /// Set when the storage is temporary: deleted on drop.
    _temp: Option<tempfile::TempDir>,
    addr: SocketAddr,
}

/// Why a broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The storage directory or the log file could not be made.
    #[error("cannot prepare the broker's directory {dir}: {source}")]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The `tansu` binary could not be run.
    #[error("cannot start the tansu broker ({binary}): {source}; run scripts/setup to install it")]
    Spawn {
        /// The binary tried.
        binary: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The broker exited before it answered.
    #[error("the tansu broker exited at start ({status}); its log: {log}")]
    Exited {
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// The broker did not answer metadata requests in time.
    #[error("the tansu broker did not answer on {addr} within {limit:?}; its log: {log}")]
    NotReady {
        /// Where it should listen.
        addr: SocketAddr,
        /// How long it was given.
        limit: Duration,
        /// Its log file.
        log: PathBuf,
    },
}

/// Where the `tansu` binary is: `$AEGIS_TANSU`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AEGIS_TANSU") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|dir| dir.join("tansu"))
            .collect::<Vec<_>>()
    });
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu"));
    on_path
        .chain(cargo_bin)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("tansu"))
}

/// The command that runs tansu on `127.0.0.1:port` with its SQLite storage in `dir` (created if
/// missing). SQLite, not memory: tansu's in-memory storage skipped messages across consumer-group
/// rebalances when tried here. `aegis-stack broker` execs it; [`Broker`] spawns it.
pub fn tansu_command(dir: &Path, port: u16) -> Result<Command, BrokerError> {
    std::fs::create_dir_all(dir).map_err(|source| BrokerError::Directory {
        dir: dir.to_owned(),
        source,
    })?;
    let url = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(tansu_binary());
    command
        .args(["broker", "--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        // The database path is relative to the broker's working directory.
        .args(["--storage-engine", "sqlite://broker.db"])
        // RUST_LOG set for Aegis (`RUST_LOG=debug cargo test`) is not meant for the broker: at
        // debug it logs every request and slows down enough for clients to time out.
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdin(Stdio::null());
    Ok(command)
}

impl Broker {
    /// Starts a broker on a free port in a temporary directory and waits until it answers
    /// metadata requests.
    ///
    /// # Panics
    /// When the broker cannot be started or does not answer within 30 s; the message says why
    /// and includes the broker's log.
    pub fn start() -> Broker {
        let temp = tempfile::tempdir().expect("a temporary directory for the broker");
        let dir = temp.path().to_owned();
        let started = Self::spawn(&dir, free_port(), Some(temp), false)
            .and_then(|mut broker| broker.wait_until_ready(READY_LIMIT).map(|()| broker));
        started.unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.join("broker.log")).unwrap_or_default();
            panic!("{e}\n{log}")
        })
    }

    /// Starts a broker on `port` with its storage in `dir`, kept after it stops: started again on
    /// the same `dir` and `port`, it serves what it stored. Its output is appended to
    /// `dir/broker.log`. The broker runs in a process group of its own, so that a Ctrl-C meant for
    /// the caller does not stop it before the caller's ordered shutdown; dropping the `Broker`
    /// stops it.
    pub fn start_in(dir: &Path, port: u16) -> Result<Broker, BrokerError> {
        let mut broker = Self::spawn(dir, port, None, true)?;
        broker.wait_until_ready(READY_LIMIT)?;
        Ok(broker)
    }

    fn spawn(
        dir: &Path,
        port: u16,
        temp: Option<tempfile::TempDir>,
        own_group: bool,
    ) -> Result<Broker, BrokerError> {
        let mut command = tansu_command(dir, port)?;
        let log_path = dir.join("broker.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|source| BrokerError::Directory {
                dir: dir.to_owned(),
                source,
            })?;
        command.stdout(log.0).stderr(log.1);
        if own_group {
            command.process_group(0);
        }
        let child = command.spawn().map_err(|source| BrokerError::Spawn {
            binary: tansu_binary(),
            source,
        })?;
        Ok(Broker {
            child,
            dir: dir.to_owned(),
            _temp: temp,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    fn wait_until_ready(&mut self, limit: Duration) -> Result<(), BrokerError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BrokerError::Exited {
                    status,
                    log: self.log_path(),
                });
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
                && answers_metadata(&self.bootstrap())
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(BrokerError::NotReady {
                    addr: self.addr,
                    limit,
                    log: self.log_path(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `bootstrap.servers` value for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the broker has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the broker at once (SIGKILL), as a crash or a lost host would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The broker's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// The broker's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Creates topics with the given partition counts (replication 1, cleanup policy `delete`);
    /// topics that exist with those counts are kept.
    ///
    /// # Panics
    /// If the broker refuses, or a topic exists with another partition count.
    pub async fn create_topics(&self, topics: &[(&str, i32)]) {
        let topics: Vec<Topic> = topics
            .iter()
            .map(|(name, partitions)| Topic::new(name, *partitions))
            .collect();
        self.create(&topics).await;
    }

    /// Creates the contract's topics (`deploy/topics.txt`: `transactions`, `verdicts`,
    /// `transactions.dlq`, …) with their partitions and cleanup policies.
    ///
    /// # Panics
    /// If the broker refuses, or a topic exists with another partition count.
    pub async fn create_contract_topics(&self) {
        self.create(&Topic::contract()).await;
    }

    async fn create(&self, topics: &[Topic]) {
        if let Err(e) = topics::create(&self.bootstrap(), topics, TOPICS_LIMIT).await {
            panic!("{e}");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a broker at `bootstrap` answers a metadata request within 2 s.
pub fn answers_metadata(bootstrap: &str) -> bool {
    let consumer: Result<BaseConsumer, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .create();
    consumer.is_ok_and(|c| c.fetch_metadata(None, Duration::from_secs(2)).is_ok())
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free TCP port on 127.0.0.1 (bound, read, released: free for a moment, as is usual).
///
/// # Panics
/// If no loopback port can be bound; [`try_free_port`] returns the error instead.
pub fn free_port() -> u16 {
    try_free_port().expect("a free loopback port")
}

/// A free TCP port on 127.0.0.1, or why none could be bound.
pub fn try_free_port() -> io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}
