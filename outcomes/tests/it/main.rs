//! The outcome service against a real Kafka broker (tansu, started per test), with the real
//! producer and scorer upstream.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod end_to_end;
mod group;
mod late_labels;
mod logs;
mod partitioners;
mod shadow;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aegis_core::avro::AvroCodec;
use aegis_core::Outcome;
use aegis_testkit::{free_port, unique_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const PARTITIONS: i32 = 4;

pub use aegis_testkit::data;

/// A small model, trained once per test binary with the trainer's own code.
pub fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| train(30, 10, 42));
    path
}

/// Another, smaller model (other trees, depth and seed): a shadow to compare with [`model`].
pub fn shadow_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| train(8, 5, 7));
    path
}

fn train(trees: usize, max_depth: u16, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("small.model");
    aegis_trainer::train::run(&aegis_trainer::TrainArgs {
        trees: Some(trees),
        max_depth: Some(max_depth),
        min_samples_leaf: Some(1),
        seed,
        legit_weight: Some(256.2),
        review_precision: 0.9,
        ..aegis_trainer::TrainArgs::new(data("paysim_fraud_enriched_steps_1-400.csv"), out.clone())
    })
    .unwrap();
    (dir, out)
}

/// Fresh topics of the closed loop on one broker.
pub struct Topics {
    pub transactions: String,
    pub verdicts: String,
    pub dlq: String,
    pub labels: String,
    pub outcomes: String,
    pub shadow: String,
}

impl Topics {
    pub async fn create(broker: &Broker) -> Topics {
        let topics = Topics {
            transactions: unique_topic("tx"),
            verdicts: unique_topic("verdicts"),
            dlq: unique_topic("dlq"),
            labels: unique_topic("labels"),
            outcomes: unique_topic("outcomes"),
            shadow: unique_topic("shadow"),
        };
        broker
            .create_topics(&[
                (&topics.transactions, PARTITIONS),
                (&topics.verdicts, PARTITIONS),
                (&topics.dlq, 1),
                (&topics.labels, PARTITIONS),
                (&topics.outcomes, PARTITIONS),
                (&topics.shadow, PARTITIONS),
            ])
            .await;
        topics
    }
}

/// An `aegis-outcomes` process, its log in a file; killed (SIGKILL) when dropped.
pub struct OutcomesProcess {
    pub child: Child,
    pub http: String,
    pub log: PathBuf,
}

impl OutcomesProcess {
    pub fn start(broker: &Broker, topics: &Topics, group: &str, log: PathBuf) -> Self {
        Self::start_with(broker, topics, group, log, &["--join-window", "2m"])
    }

    /// [`start`](Self::start) with other flags than `--join-window 2m`.
    pub fn start_with(
        broker: &Broker,
        topics: &Topics,
        group: &str,
        log: PathBuf,
        flags: &[&str],
    ) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aegis-outcomes"))
            .args(["--brokers", &broker.bootstrap()])
            .args(["--group-id", group])
            .args(["--verdicts-topic", &topics.verdicts])
            .args(["--labels-topic", &topics.labels])
            .args(["--outcomes-topic", &topics.outcomes])
            .args(["--shadow-verdicts-topic", &topics.shadow])
            .args(flags)
            .args(["--http-addr", &http])
            .env("AEGIS_LOG", "info,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        OutcomesProcess { child, http, log }
    }

    /// SIGKILL: no drain, no flush, no commit.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// `GET path` on the service's HTTP server.
    pub fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.http).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of the series `series` (name and labels as `/metrics` writes them), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.get("/metrics").lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }
}

impl Drop for OutcomesProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the outcomes topic from the beginning until `done` says so for the outcomes read (or
/// `limit` passed), then half a second more to catch extras; every message decoded.
pub fn read_outcomes(
    broker: &Broker,
    topic: &str,
    limit: Duration,
    done: impl Fn(&[(String, Outcome)]) -> bool,
) -> Vec<(String, Outcome)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", unique_topic("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let (outcome, _) = AvroCodec::outcome().decode(m.payload().unwrap()).unwrap();
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            out.push((key, outcome));
        }
        if settle.is_none() && done(&out) {
            settle = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    out
}

/// Distinct outcomes by tx_id (at least once: a replay may repeat one).
pub fn by_tx_id(outcomes: &[(String, Outcome)]) -> HashMap<String, Outcome> {
    outcomes
        .iter()
        .map(|(_, o)| (o.tx_id.clone(), o.clone()))
        .collect()
}
