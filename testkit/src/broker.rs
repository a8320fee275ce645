//! A real Kafka-protocol broker for tests: a `tansu` process on a free loopback port with SQLite
//! storage in a temporary directory, stopped when dropped. Tests fail with a clear message — they
//! never skip — when the broker cannot start (run `scripts/setup` to install it).

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// A running broker. Dropping it stops the process and deletes its storage.
pub struct Broker {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
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

impl Broker {
    /// Starts a broker and waits until it answers metadata requests.
    ///
    /// # Panics
    /// When the broker cannot be started or does not answer within 30 s; the message says why
    /// and includes the broker's log.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("a temporary directory for the broker");
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::create(dir.path().join("broker.log")).expect("broker log file");
        let binary = tansu_binary();
        let url = format!("tcp://127.0.0.1:{port}");
        // SQLite storage, relative to the broker's directory: tansu's in-memory storage skipped
        // messages across consumer-group rebalances when tried here.
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://broker.db"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("broker log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the tansu broker ({}): {e}; run scripts/setup to install it",
                    binary.display()
                )
            });
        let mut broker = Broker { child, dir, addr };
        broker.wait_until_ready(Duration::from_secs(30));
        broker
    }

    fn wait_until_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the tansu broker exited at start ({status}); its log:\n{}",
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
                && self.answers_metadata()
            {
                return;
            }
            if started.elapsed() > limit {
                panic!(
                    "the tansu broker did not answer on {} within {limit:?}; its log:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn answers_metadata(&self) -> bool {
        let consumer: Result<BaseConsumer, _> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create();
        consumer.is_ok_and(|c| c.fetch_metadata(None, Duration::from_secs(2)).is_ok())
    }

    /// The `bootstrap.servers` value for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the broker at once (SIGKILL), as a crash or a lost host would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The broker's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// Creates topics with the given partition counts (replication 1).
    ///
    /// # Panics
    /// If the broker refuses.
    pub async fn create_topics(&self, topics: &[(&str, i32)]) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client");
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(
                &new,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create_topics request");
        for result in results {
            if let Err((topic, code)) = result {
                panic!("the broker refused to create topic {topic}: {code}");
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
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
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
