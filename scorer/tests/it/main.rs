//! End-to-end tests of the scorer against a real Kafka broker (tansu, started per test).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod backtest;
mod cli;
mod config;
mod dead_letters;
mod group;
mod http;
mod interop;
mod limits;
mod live;
mod models;
mod openapi;
mod process;
mod promote;
mod registry;
mod replay;
mod restore;
mod review;
mod sequences;
mod spec_stream;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Transaction, TxType, Verdict};
use aegis_scorer::metrics::Metrics as Stats;
use aegis_scorer::{LiveView, ReplicaState, ScorerConfig};
use aegis_testkit::{unique_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PARTITIONS: i32 = 4;

pub use aegis_testkit::data;

/// The demo model (trained once per test binary with the trainer's own code).
pub fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("demo.model");
        aegis_trainer::train::run(&aegis_trainer::TrainArgs {
            trees: Some(100),
            max_depth: Some(12),
            min_samples_leaf: Some(1),
            legit_weight: Some(256.2),
            ..aegis_trainer::TrainArgs::new(
                data("paysim_fraud_enriched_steps_1-400.csv"),
                out.clone(),
            )
        })
        .unwrap();
        (dir, out)
    });
    path
}

/// A broker with fresh input, verdict and dead-letter topics.
pub struct Pipeline {
    pub broker: Broker,
    pub input: String,
    pub verdicts: String,
    pub dlq: String,
}

impl Pipeline {
    pub async fn start() -> Pipeline {
        let broker = Broker::start();
        let (input, verdicts, dlq) = (
            unique_topic("tx"),
            unique_topic("verdicts"),
            unique_topic("dlq"),
        );
        broker
            .create_topics(&[(&input, PARTITIONS), (&verdicts, PARTITIONS), (&dlq, 1)])
            .await;
        Pipeline {
            broker,
            input,
            verdicts,
            dlq,
        }
    }

    /// A config for replica without a broker (HTTP API tests).
    pub fn config_without_broker() -> ScorerConfig {
        ScorerConfig {
            brokers: "127.0.0.1:1".to_owned(),
            group_id: "none".to_owned(),
            input_topic: "none".to_owned(),
            output_topic: "none".to_owned(),
            dlq_topic: "none".to_owned(),
            ..Self::config("127.0.0.1:1".to_owned(), "none")
        }
    }

    pub fn scorer_config(&self, group: &str) -> ScorerConfig {
        ScorerConfig {
            input_topic: self.input.clone(),
            output_topic: self.verdicts.clone(),
            dlq_topic: self.dlq.clone(),
            ..Self::config(self.broker.bootstrap(), group)
        }
    }

    fn config(brokers: String, group: &str) -> ScorerConfig {
        ScorerConfig {
            brokers,
            group_id: group.to_owned(),
            input_topic: String::new(),
            output_topic: String::new(),
            dlq_topic: String::new(),
            model: Some(model().to_owned()),
            // Tests that publish models create their own topic (see models.rs).
            models_topic: String::new(),
            rules_topic: String::new(),
            shadow_topic: "none".to_owned(),
            outcomes_topic: String::new(),
            rules: None,
            state_max_accounts: 100_000,
            state_ttl_secs: 86_400,
            state_restore_timeout_secs: 60,
            max_clock_skew_secs: 300,
            trusted_keys: None,
            allow_unsigned: true,
            state_changelog_topic: String::new(),
            state_linger_ms: 100,
            review_threshold: None,
            block_threshold: None,
            batch_size: 200,
            batch_linger_ms: 2,
            max_in_flight: 16,
            shutdown_timeout_secs: 15,
            http_addr: "127.0.0.1:0".parse().unwrap(),
            schema_registry_url: None,
            // Tests that look at the live page follow the topic themselves (see live.rs).
            live_view: LiveView::All,
            http: aegis_scorer::HttpFlags::default(),
            kafka: aegis_kafka::KafkaFlags::default(),
            entities: Default::default(),
            prefix: Default::default(),
        }
    }

    /// Publishes raw (key, value) messages to the input topic and waits for every acknowledgement.
    pub async fn publish(&self, messages: &[(String, Vec<u8>)]) {
        self.publish_to(&self.input, messages).await;
    }

    /// Publishes raw (key, value) messages to `topic` and waits for every acknowledgement.
    pub async fn publish_to(&self, topic: &str, messages: &[(String, Vec<u8>)]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap())
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let mut pending = Vec::new();
        for (key, value) in messages {
            let record = FutureRecord::to(topic)
                .key(key.as_bytes())
                .payload(value.as_slice());
            pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for delivery in pending {
            delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
    }

    /// Publishes transactions, Avro single-object encoded, keyed by origin account.
    pub async fn publish_transactions(&self, transactions: &[Transaction]) {
        let messages: Vec<(String, Vec<u8>)> = transactions
            .iter()
            .map(|tx| {
                let value = AvroCodec::transaction()
                    .encode(tx, Framing::SingleObject)
                    .unwrap();
                (tx.name_orig.clone(), value)
            })
            .collect();
        self.publish(&messages).await;
    }

    /// Reads a topic from the beginning until `n` messages arrived (or `limit` passed).
    pub fn read(&self, topic: &str, n: usize, limit: Duration) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.bootstrap())
            .set("group.id", unique_topic("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let partitions = aegis_kafka::topic_partitions(&consumer, topic, Duration::from_secs(5))
            .unwrap()
            .expect("the topic exists");
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let deadline = std::time::Instant::now() + limit;
        let mut out = Vec::new();
        while out.len() < n && std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(m.detach());
            }
        }
        // Anything beyond `n` is a duplicate or a stray: give it a moment to show up.
        let settle = std::time::Instant::now() + Duration::from_millis(500);
        while std::time::Instant::now() < settle {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                out.push(m.detach());
            }
        }
        out
    }

    /// Reads `n` verdicts, decoded, by tx_id.
    pub fn read_verdicts(&self, n: usize) -> (Vec<OwnedMessage>, HashMap<String, Verdict>) {
        let messages = self.read(&self.verdicts, n, Duration::from_secs(90));
        let verdicts = messages
            .iter()
            .map(|m| {
                let (v, _) = AvroCodec::verdict().decode(m.payload().unwrap()).unwrap();
                assert_eq!(
                    m.key(),
                    Some(v.account.as_bytes()),
                    "verdicts are keyed by account"
                );
                (v.tx_id.clone(), v)
            })
            .collect();
        (messages, verdicts)
    }
}

/// A replica's `GET /api/live`, asked every 100 ms (for up to 10 s) until its total is `total`;
/// the last answer.
pub async fn live_snapshot(replica: &Arc<ReplicaState>, total: u64) -> serde_json::Value {
    let api = aegis_scorer::http::routes(replica.clone());
    let mut snapshot = serde_json::Value::Null;
    for _ in 0..100 {
        let response = warp::test::request().path("/api/live").reply(&api).await;
        snapshot = serde_json::from_slice(response.body()).unwrap();
        if snapshot["total"] == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    snapshot
}

/// A running scorer replica.
pub struct Replica {
    pub cancel: CancellationToken,
    pub replica: Arc<ReplicaState>,
    pub assignment: Arc<aegis_scorer::stream::assignment::Assignment>,
    pub handle: JoinHandle<anyhow::Result<Arc<Stats>>>,
}

impl Replica {
    pub fn start(config: ScorerConfig) -> Replica {
        let cancel = CancellationToken::new();
        let replica = Arc::new(ReplicaState::new(&config).unwrap());
        let assignment = replica.assignment.clone();
        let stats = replica.metrics.clone();
        let run = aegis_scorer::stream::run(config, replica.clone(), cancel.clone());
        let handle = tokio::spawn(async move { run.await.map(|()| stats) });
        Replica {
            cancel,
            replica,
            assignment,
            handle,
        }
    }

    /// Waits until the replica holds at least one partition.
    pub async fn wait_for_partitions(&self) {
        for _ in 0..300 {
            if !self.assignment.partitions().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica got no partitions within 30 s");
    }

    /// Stops the replica as SIGTERM would and returns its counters.
    pub async fn stop(self) -> Arc<Stats> {
        self.cancel.cancel();
        self.handle.await.unwrap().unwrap()
    }
}

/// Runs the page check `scripts/ui/SCRIPT` in node (headless Chromium through playwright-core,
/// which scripts/setup installs, as for scripts/check-ui) with `args`; fails the test with its
/// output unless it succeeds, and returns its stdout.
pub async fn run_page_check(script: &str, args: Vec<String>) -> String {
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ui");
    assert!(
        ui.join("node_modules/playwright-core").exists(),
        "{} is missing: run scripts/setup",
        ui.join("node_modules/playwright-core").display()
    );
    let script = ui.join(script);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (scripts/setup installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    println!("{stdout}");
    stdout
}

/// `n` payments of 12 from a balance of 500, each from its own account `C0`, `C1`, …, with ids
/// `PREFIX-0`, `PREFIX-1`, …: ALLOWed by the seed rules and any sane model.
pub fn small_payments(prefix: &str, n: usize) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            transaction(
                &format!("{prefix}-{i}"),
                &format!("C{i}"),
                TxType::Payment,
                12.0,
                500.0,
                488.0,
            )
        })
        .collect()
}

/// `n` cash-ins of 40 onto a balance of 10, each to its own account `C0`, `C1`, …, with ids
/// `PREFIX-0`, `PREFIX-1`, ….
pub fn cash_ins(prefix: &str, n: usize) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            transaction(
                &format!("{prefix}-{i}"),
                &format!("C{i}"),
                TxType::CashIn,
                40.0,
                10.0,
                50.0,
            )
        })
        .collect()
}

/// A transaction with the given shape.
pub fn transaction(
    id: &str,
    account: &str,
    tx_type: TxType,
    amount: f64,
    old: f64,
    new: f64,
) -> Transaction {
    Transaction {
        tx_id: id.to_owned(),
        event_time: aegis_core::clock::now_ms(),
        step: 1,
        tx_type,
        amount,
        name_orig: account.to_owned(),
        old_balance_orig: old,
        new_balance_orig: new,
        name_dest: "C424242".to_owned(),
        old_balance_dest: 0.0,
        new_balance_dest: 0.0,
        is_fraud: None,
    }
}
