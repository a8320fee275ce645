//! The stream on the card spec, end to end on a real broker (docs/streaming-features.md): the
//! card sample replayed, with each label right after its transaction, through two scorer
//! processes — the card stage and the terminal stage in each — one of them killed with -9 halfway
//! and started again. Every transaction gets a verdict, and every verdict (repeats included)
//! carries the features and the probability the trainer computes offline for the same row, bit
//! for bit: the terminal features come from every card partition, put back in event-time order.
//! A shadow card model, published on the models topic, scores every transaction too, each
//! probability equal to its own offline one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing, SpecCodec};
use aegis_core::rules::RuleSet;
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, RecordReader};
use aegis_core::spec::Spec;
use aegis_core::{Decision, Label, Verdict};
use aegis_kafka::Settings;
use aegis_testkit::{unique_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const CARD_PARTITIONS: i32 = 3;
const TERMINAL_PARTITIONS: i32 = 2;

fn repository(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn cards_data() -> PathBuf {
    repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv")
}

/// A small card model, trained once per test binary with the trainer's own code.
fn cards_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    MODEL.get_or_init(|| train_cards(20, 8)).1.as_path()
}

/// Another card model, smaller: the shadow scored beside the live one.
fn shadow_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    MODEL.get_or_init(|| train_cards(8, 5)).1.as_path()
}

fn train_cards(trees: usize, max_depth: u16) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cards.model");
    aegis_trainer::train::run(&aegis_trainer::TrainArgs {
        trees: Some(trees),
        max_depth: Some(max_depth),
        spec: Some(repository("specs/cards.toml")),
        ..aegis_trainer::TrainArgs::new(cards_data(), out.clone())
    })
    .unwrap();
    (dir, out)
}

/// What the trainer computes offline: each row's features (the feature engine, in the trainer's
/// event-time order) and probability (`aegis-trainer evaluate --predictions`), by id.
struct Offline {
    features: HashMap<String, Vec<f64>>,
    probabilities: HashMap<String, f64>,
}

fn offline(spec: &Spec, records: &[Record], model: &Path) -> Offline {
    let mut engine = FeatureEngine::new(spec);
    let mut features = HashMap::new();
    for r in records {
        let mut out = Vec::new();
        engine.observe(r, &mut out);
        features.insert(engine.id_of(r).to_string(), out);
    }
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("predictions.csv");
    aegis_trainer::evaluate::run(&aegis_trainer::EvaluateArgs {
        model: model.to_owned(),
        data: cards_data(),
        spec: None,
        from: None,
        until: None,
        legit_weight: 1.0,
        json: true,
        predictions: Some(predictions.clone()),
    })
    .unwrap();
    let text = std::fs::read_to_string(&predictions).unwrap();
    let probabilities = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split(',');
            let id = cells.next().unwrap().to_owned();
            (id, cells.next().unwrap().parse::<f64>().unwrap())
        })
        .collect();
    Offline {
        features,
        probabilities,
    }
}

/// A scorer process on the card topics, its stderr to a file.
struct Scorer {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Scorer {
    fn spawn(broker: &Broker, topics: &Topics) -> Scorer {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"))
            .args([
                "--brokers",
                &broker.bootstrap(),
                "--group-id",
                &topics.group,
            ])
            .args([
                "--transactions-topic",
                &topics.input,
                "--verdicts-topic",
                &topics.verdicts,
            ])
            .args(["--dlq-topic", &topics.dlq, "--labels-topic", &topics.labels])
            .args(["--model", cards_model().to_str().unwrap()])
            .args([
                "--rules",
                repository("deploy/rules/cards.json").to_str().unwrap(),
            ])
            .args(["--http-addr", "127.0.0.1:0", "--state-changelog-topic="])
            .args(["--models-topic", &topics.models])
            .args([
                "--shadow-verdicts-topic",
                &topics.shadow,
                "--allow-unsigned",
            ])
            .args(["--rules-topic=", "--idle-after", "1500ms"])
            .env(
                "AEGIS_LOG",
                std::env::var("SPEC_STREAM_LOG").unwrap_or_else(|_| "info,rdkafka=warn".to_owned()),
            )
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Scorer { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Its `aegis_entity_*` metrics, scraped from its HTTP server.
    fn entity_metrics(&self) -> String {
        self.http("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .lines()
            .filter(|l| l.starts_with("aegis_entity"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The answer to `request`, sent to its HTTP server.
    /// The answer to `request`, asked of its HTTP server (found in its log) for up to 20 s — a
    /// loaded machine can be slow to let it in; or why there is none.
    fn http(&self, request: &str) -> String {
        use std::io::{Read, Write};
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let log = crate::process::plain(&self.log());
            let answer = match crate::process::http_addr_in(&log) {
                None => "no \"HTTP server listening\" line in the scorer's log".to_owned(),
                Some(addr) => match std::net::TcpStream::connect(addr) {
                    Err(e) => format!("cannot connect to {addr}: {e}"),
                    Ok(mut stream) => {
                        let _ = stream.write_all(request.as_bytes());
                        let mut answer = String::new();
                        let _ = stream.read_to_string(&mut answer);
                        if !answer.is_empty() {
                            return answer;
                        }
                        format!("{addr} answered nothing")
                    }
                },
            };
            if std::time::Instant::now() >= deadline {
                return format!("{answer}\nscorer log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Scorer {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

struct Topics {
    group: String,
    input: String,
    labels: String,
    verdicts: String,
    dlq: String,
    models: String,
    shadow: String,
}

/// Publishes every record in event-time order, keyed by card, each label right after its
/// transaction (known at once; it counts from its delay on, as offline).
async fn publish(broker: &Broker, topics: &Topics, codec: &SpecCodec, records: &[Record]) {
    let producer: FutureProducer = Settings::reliable_producer()
        .set("linger.ms", 5)
        .client_config(&broker.bootstrap(), &[])
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for r in records {
        let key = codec.key(r);
        let tx_id = codec.id("", r);
        let value = codec.encode(&tx_id, r, Framing::SingleObject).unwrap();
        pending.push(
            producer
                .send_result(FutureRecord::to(&topics.input).key(&key).payload(&value))
                .unwrap(),
        );
        let label = Label {
            tx_id,
            is_fraud: r.label == Some(true),
            labelled_at: aegis_core::clock::now_ms(),
            source: Some("replay".to_owned()),
            event_time: Some(r.event_time_ms),
        };
        let value = AvroCodec::label()
            .encode(&label, Framing::SingleObject)
            .unwrap();
        pending.push(
            producer
                .send_result(FutureRecord::to(&topics.labels).key(&key).payload(&value))
                .unwrap(),
        );
        if pending.len() >= 10_000 {
            for delivery in pending.drain(..) {
                delivery.await.unwrap().unwrap();
            }
        }
    }
    for delivery in pending {
        delivery.await.unwrap().unwrap();
    }
}

/// Follows the verdicts topic from its beginning.
struct Verdicts {
    consumer: BaseConsumer,
    /// Every verdict read, repeats included.
    all: Vec<Verdict>,
    distinct: HashMap<String, usize>,
}

impl Verdicts {
    fn follow(broker: &Broker, topic: &str) -> Verdicts {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("group.id", unique_topic("reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut list = TopicPartitionList::new();
        for p in 0..CARD_PARTITIONS {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&list).unwrap();
        Verdicts {
            consumer,
            all: Vec::new(),
            distinct: HashMap::new(),
        }
    }

    /// Reads until `n` distinct transactions have verdicts or `limit` passes.
    fn read_until(&mut self, n: usize, limit: Duration) {
        let started = Instant::now();
        while self.distinct.len() < n && started.elapsed() < limit {
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
                let (verdict, _) = AvroCodec::verdict().decode(m.payload().unwrap()).unwrap();
                *self.distinct.entry(verdict.tx_id.clone()).or_default() += 1;
                self.all.push(verdict);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_give_every_card_payment_its_offline_features_and_score() {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let codec = SpecCodec::new(&spec).unwrap();
    let mut records: Vec<Record> = RecordReader::open(&spec, &cards_data())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    records.sort_by_key(|r| r.event_time_ms); // stable: the trainer's order
    let model = cards_model();
    let (offline, shadow_offline) = (
        offline(&spec, &records, model),
        offline(&spec, &records, shadow_model()),
    );
    assert_eq!(offline.probabilities.len(), records.len());

    let broker = Broker::start();
    let topics = Topics {
        group: unique_topic("cards"),
        input: unique_topic("cards-tx"),
        labels: unique_topic("cards-labels"),
        verdicts: unique_topic("cards-verdicts"),
        dlq: unique_topic("cards-dlq"),
        models: unique_topic("cards-models"),
        shadow: unique_topic("cards-shadow"),
    };
    let repartition = format!("{}.by.TERMINAL_ID", topics.input);
    broker
        .create_topics(&[
            (&topics.input, CARD_PARTITIONS),
            (&topics.labels, CARD_PARTITIONS),
            (&topics.verdicts, CARD_PARTITIONS),
            (&topics.dlq, 1),
            (&repartition, TERMINAL_PARTITIONS),
            (&topics.models, 1),
            (&topics.shadow, CARD_PARTITIONS),
        ])
        .await;
    // A shadow model of the same spec, published before the scorers start: they read the models
    // topic to its end first, so it scores every transaction beside the live one.
    let shadow_bytes = std::fs::read(shadow_model()).unwrap();
    let publisher: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("compression.type", "gzip")
        .create()
        .unwrap();
    publisher
        .send(
            FutureRecord::to(&topics.models)
                .key("shadow")
                .payload(&shadow_bytes),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let mut first = Scorer::spawn(&broker, &topics);
    let second = Scorer::spawn(&broker, &topics);
    publish(&broker, &topics, &codec, &records).await;

    let mut verdicts = Verdicts::follow(&broker, &topics.verdicts);
    let half = records.len() / 2;
    verdicts.read_until(half, Duration::from_secs(180));
    assert!(
        verdicts.distinct.len() >= half,
        "{} verdicts before the kill; logs:\n{}\n---\n{}",
        verdicts.distinct.len(),
        first.log(),
        second.log()
    );
    // kill -9 halfway; tansu hands a dead member's partitions only to members that join after
    // it left the group, so it is started again once its session has expired.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let killed_log = first.log();
    std::thread::sleep(Duration::from_secs(12));
    let restarted = Scorer::spawn(&broker, &topics);
    verdicts.read_until(records.len(), Duration::from_secs(240));
    let logs = || {
        format!(
            "killed:\n{killed_log}\n---\nrestarted:\n{}\n{}\n---\nthe other:\n{}\n{}",
            restarted.log(),
            restarted.entity_metrics(),
            second.log(),
            second.entity_metrics(),
        )
    };
    assert_eq!(
        verdicts.distinct.len(),
        records.len(),
        "every card payment has a verdict; {}",
        logs()
    );

    let names = spec.feature_names();
    // The backtest's decisions with the card seed rules: the stream's must be the same.
    let rules = RuleSet::from_json_for(
        &std::fs::read(repository("deploy/rules/cards.json")).unwrap(),
        &spec,
    )
    .unwrap();
    let backtest = aegis_trainer::backtest::decide_history(
        &aegis_core::Model::load(model).unwrap(),
        &rules,
        &cards_data(),
    )
    .unwrap();
    let decided: HashMap<&str, &Verdict> = backtest
        .iter()
        .map(|d| (d.verdict.tx_id.as_str(), &d.verdict))
        .collect();
    let mut blocked_by_rule = 0;
    let mut wrong: HashMap<&str, usize> = HashMap::new();
    let mut example = None;
    let mut wrong_at = Vec::new();
    for (n, v) in verdicts.all.iter().enumerate() {
        if (0..names.len())
            .any(|i| v.features[i].to_bits() != offline.features[&v.tx_id][i].to_bits())
        {
            wrong_at.push((n, v.event_time, verdicts.distinct[&v.tx_id]));
        }
        let want = &offline.features[&v.tx_id];
        assert_eq!(v.features.len(), want.len(), "{v:?}");
        for (i, name) in names.iter().enumerate() {
            if v.features[i].to_bits() != want[i].to_bits() {
                *wrong.entry(name).or_default() += 1;
                example.get_or_insert_with(|| {
                    format!(
                        "transaction {} at {}, {name}: {} online, {} offline",
                        v.tx_id, v.event_time, v.features[i], want[i]
                    )
                });
            }
        }
        if v.fraud_probability.to_bits() != offline.probabilities[&v.tx_id].to_bits() {
            *wrong.entry("probability").or_default() += 1;
        }
        // Decided as the backtest decides: the card seed rules fire where they fire offline.
        let offline_verdict = decided[v.tx_id.as_str()];
        if (v.decision, &v.rules) != (offline_verdict.decision, &offline_verdict.rules) {
            *wrong.entry("decision or rules").or_default() += 1;
        }
        let fired = &offline_verdict.rules;
        if !fired.is_empty() {
            blocked_by_rule += 1;
            assert_eq!(v.decision, Decision::Block, "{v:?}");
            assert!(
                v.reasons[0].starts_with("rule compromised_terminal: "),
                "{v:?}"
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "values differing from the trainer's, by feature: {wrong:?}; e.g. {}; (verdict number, event time, verdicts of it) {wrong_at:?}; {}",
        example.unwrap_or_default(),
        logs()
    );
    // Terminal risk was exercised: many verdicts had a known fraud at their terminal.
    let frauds = names
        .iter()
        .position(|n| n == "terminal_frauds_30d")
        .unwrap();
    let exercised = verdicts
        .all
        .iter()
        .filter(|v| v.features[frauds] > 0.0)
        .count();
    assert!(
        exercised > 100,
        "{exercised} verdicts with a known terminal fraud"
    );
    assert!(
        blocked_by_rule > 10,
        "{blocked_by_rule} verdicts blocked by the card rule"
    );
    let repeats = verdicts.all.len() - verdicts.distinct.len();
    eprintln!(
        "{} verdicts for {} payments ({repeats} repeated after the kill); {exercised} with a known terminal fraud; {blocked_by_rule} blocked by the card rule",
        verdicts.all.len(),
        records.len()
    );
    // The shadow model scored every transaction on the same features, as offline, bit for bit:
    // its verdicts in the shadow topic carry its version, and the live verdicts stayed the live
    // model's (checked above).
    let shadow_version = aegis_core::Model::load(shadow_model())
        .unwrap()
        .model_version()
        .to_owned();
    let mut shadows = Verdicts::follow(&broker, &topics.shadow);
    shadows.read_until(records.len(), Duration::from_secs(120));
    assert_eq!(
        shadows.distinct.len(),
        records.len(),
        "one shadow verdict per card payment; {}",
        logs()
    );
    let mut wrong_shadows = 0;
    for v in &shadows.all {
        assert_eq!(v.model_version, shadow_version, "{v:?}");
        let want = shadow_offline.probabilities[&v.tx_id];
        wrong_shadows += usize::from(v.fraud_probability.to_bits() != want.to_bits());
    }
    assert_eq!(
        wrong_shadows, 0,
        "shadow probabilities differing from offline"
    );
    assert!(
        verdicts
            .all
            .iter()
            .all(|v| v.model_version != shadow_version),
        "a live verdict by the shadow model"
    );
    // The scoring API takes PaySim transactions: it says so rather than scoring cards wrongly.
    let body = r#"{"type":"PAYMENT","amount":10.0,"name_orig":"C1","old_balance_orig":10.0,"new_balance_orig":0.0,"name_dest":"M1","old_balance_dest":0.0,"new_balance_dest":0.0}"#;
    let answer = second.http(&format!(
        "POST /v1/score HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(
        answer.starts_with("HTTP/1.0 400") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(answer.contains("spec `cards`"), "{answer}");
    // The restarted replica took partitions over and rebuilt their state from the topics.
    assert!(
        restarted.log().contains("partition state restored"),
        "{}",
        logs()
    );
}
