//! Configuration that can't misfire (issue 31): a scorer started without `--model` takes the
//! models topic's live model, or stops with one line when there is none; `--topic-prefix` names
//! every topic; old spellings still work, each with a warning; a duration without its unit is
//! refused.

use std::process::{Command, Output};
use std::time::Duration;

use aegis_core::{Model, Thresholds};
use aegis_testkit::unique_topic;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::process::{http_addr_in, plain};
use crate::{cash_ins, model, small_payments, Pipeline, PARTITIONS};

/// The scorer binary with no AEGIS_* variable of the caller's shell.
fn scorer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AEGIS_") {
            command.env_remove(key);
        }
    }
    command
}

fn stderr(output: &Output) -> String {
    plain(&String::from_utf8_lossy(&output.stderr))
}

/// Publishes a model artifact as the `live` record of `topic`, unsigned.
async fn publish_live(pipeline: &Pipeline, topic: &str, model: &Model) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .set("compression.type", "gzip")
        .set("message.max.bytes", "67108864")
        .create()
        .unwrap();
    let bytes = model.to_bytes();
    producer
        .send(
            FutureRecord::to(topic).key("live").payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// A scorer process with the given flags, its stderr in a file; killed when dropped.
struct Process {
    child: std::process::Child,
    stderr: tempfile::NamedTempFile,
}

impl Process {
    fn spawn(args: &[&str]) -> Process {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let child = scorer()
            .args(args)
            .env("AEGIS_LOG", "info,rdkafka=warn")
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        Process { child, stderr }
    }

    fn log(&self) -> String {
        plain(&std::fs::read_to_string(self.stderr.path()).unwrap_or_default())
    }

    /// Waits for the HTTP server (it starts once the model is in hand).
    fn wait_until_serving(&mut self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while http_addr_in(&self.log()).is_none() {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the scorer exited: {}",
                self.log()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "no HTTP server: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_model_the_scorer_scores_with_the_models_topics_live_model() {
    let pipeline = Pipeline::start().await;
    let topic = unique_topic("models");
    pipeline.broker.create_topics(&[(&topic, 1)]).await;
    // The demo forest with other thresholds: another version than any --model file of the tests.
    let published = Model::load(model())
        .unwrap()
        .with_thresholds(Thresholds::new(0.25, 0.95).unwrap());
    publish_live(&pipeline, &topic, &published).await;
    let brokers = pipeline.broker.bootstrap();
    let mut process = Process::spawn(&[
        "--brokers",
        &brokers,
        "--group-id",
        &unique_topic("no-model"),
        "--transactions-topic",
        &pipeline.input,
        "--verdicts-topic",
        &pipeline.verdicts,
        "--dlq-topic",
        &pipeline.dlq,
        "--models-topic",
        &topic,
        "--rules-topic=",
        "--allow-unsigned",
        "--state-changelog-topic=",
        "--http-addr",
        "127.0.0.1:0",
        "--connect-timeout",
        "30s",
    ]);
    process.wait_until_serving(Duration::from_secs(60));
    let txs = small_payments("m", 20);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len(), "{}", process.log());
    assert!(
        verdicts
            .values()
            .all(|v| v.model_version == published.model_version()),
        "every verdict from the published model: {:?}",
        verdicts.values().next().map(|v| &v.model_version)
    );
    assert!(
        process
            .log()
            .contains("no --model given: took the models topic's live model"),
        "{}",
        process.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_model_and_without_a_published_one_the_scorer_stops_with_one_line() {
    let pipeline = Pipeline::start().await;
    let topic = unique_topic("models");
    pipeline.broker.create_topics(&[(&topic, 1)]).await;
    let brokers = pipeline.broker.bootstrap();
    let output = scorer()
        .args(["--brokers", &brokers, "--models-topic", &topic])
        .args(["--transactions-topic", &pipeline.input])
        .args(["--verdicts-topic", &pipeline.verdicts])
        .args(["--dlq-topic", &pipeline.dlq])
        .args([
            "--rules-topic=",
            "--allow-unsigned",
            "--state-changelog-topic=",
        ])
        .args(["--connect-timeout", "2s"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "aegis-scorer: error: no --model given, and the models topic {topic} held no live \
             model this replica can install within --connect-timeout (2s): publish one with \
             `aegis-trainer publish --role live`, or pass --model FILE"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_prefix_names_every_topic_and_the_group() {
    let started = Pipeline::start().await;
    let prefix = format!("{}.", unique_topic("staging"));
    let named = |topic: &str| format!("{prefix}{topic}");
    started
        .broker
        .create_topics(&[
            (&named("transactions"), PARTITIONS),
            (&named("verdicts"), PARTITIONS),
            (&named("transactions.dlq"), 1),
            (&named("scorer.state"), PARTITIONS),
        ])
        .await;
    // The same broker, read and written under the prefixed names.
    let pipeline = Pipeline {
        input: named("transactions"),
        verdicts: named("verdicts"),
        dlq: named("transactions.dlq"),
        ..started
    };
    let brokers = pipeline.broker.bootstrap();
    let mut process = Process::spawn(&[
        "--brokers",
        &brokers,
        "--topic-prefix",
        &prefix,
        "--model",
        model().to_str().unwrap(),
        "--models-topic=",
        "--rules-topic=",
        "--http-addr",
        "127.0.0.1:0",
    ]);
    process.wait_until_serving(Duration::from_secs(60));
    let txs = cash_ins("p", 10);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len(), "{}", process.log());
    // Account states went to the prefixed changelog, under the prefixed group.
    let states = pipeline.read(&named("scorer.state"), 1, Duration::from_secs(30));
    assert!(!states.is_empty(), "{}", process.log());
    let group = named("aegis-scorer");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&brokers, &group, &pipeline.input) < txs.len() as i64 {
        assert!(
            std::time::Instant::now() < deadline,
            "no offsets committed under {group}: {}",
            process.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The offsets `group` committed on `topic`, summed over its partitions.
fn committed(brokers: &str, group: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(topic, partition);
    }
    let Ok(committed) = consumer.committed_offsets(list, Duration::from_secs(5)) else {
        return 0;
    };
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        })
        .sum()
}

#[test]
fn old_spellings_are_read_with_a_warning_and_a_duration_needs_its_unit() {
    let model = model().to_str().unwrap();
    let output = scorer()
        .args(["--brokers", "127.0.0.1:1", "--model", model])
        .args(["--input-topic", "tx", "--batch-linger-ms", "5"])
        .args([
            "--connect-timeout",
            "1",
            "--models-topic=",
            "--rules-topic=",
        ])
        .env("AEGIS_MAX_IN_FLIGHT", "8")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    for warning in [
        "`--input-topic tx` is an old spelling, read as `--transactions-topic tx`",
        "`--batch-linger-ms 5` is an old spelling, read as `--batch-linger 5ms`",
        "`--connect-timeout 1` is an old spelling, read as `--connect-timeout 1s`",
        "AEGIS_MAX_IN_FLIGHT=8 is an old spelling, read as AEGIS_SCORER_MAX_IN_FLIGHT=8",
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(" WARN ") && l.contains(warning)),
            "{warning}: {err}"
        );
    }
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("aegis-scorer: error: Kafka not ready after 1s (--connect-timeout)"),
        "{err}"
    );

    let output = scorer()
        .args(["--brokers", "127.0.0.1:1", "--model", model])
        .args(["--batch-linger", "5"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(
            "error: invalid value '5' for '--batch-linger <DURATION>': `5` has no unit: write it \
             with one, e.g. `5s` or `5ms` (also m, h, d)"
        ),
        "{err}"
    );
}

#[test]
fn without_model_nor_a_models_topic_to_read_the_scorer_stops_at_once() {
    let output = scorer()
        .args([
            "--brokers",
            "127.0.0.1:1",
            "--models-topic=",
            "--rules-topic=",
        ])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().last().unwrap(),
        "aegis-scorer: error: no --model given, and --models-topic \"\" reads no models topic: \
         give one of them",
        "{err}"
    );
    let output = scorer()
        .args(["--brokers", "127.0.0.1:1", "--review-threshold", "0.5"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("--model <FILE>"), "{err}");
}
