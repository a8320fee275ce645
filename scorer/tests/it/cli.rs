//! The binaries: `aegis-verdicts` prints verdicts as JSON lines; `aegis-scorer` stops cleanly on
//! SIGTERM, and every mistake in its flags, files or Kafka setup ends in one line and a non-zero
//! exit (after a bounded, logged wait where waiting is right).

use std::process::{Command, Output};
use std::time::Duration;

use aegis_core::TxType;
use aegis_testkit::cli::error_after_waiting_for_kafka;
use aegis_testkit::{edited_model, model_with_unknown_feature};

use crate::process::{plain, without_control_topics, RunningScorer};
use crate::{cash_ins, model, small_payments, transaction, Pipeline, Replica};

/// Runs the scorer binary with `args` (no `AEGIS_*` variables from the environment).
fn scorer(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AEGIS_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .args(without_control_topics(args))
        .output()
        .unwrap()
}

/// Stderr without colour codes.
fn stderr(output: &Output) -> String {
    plain(&String::from_utf8_lossy(&output.stderr))
}

/// Asserts a failed run whose stderr is exactly one error line, and returns that line.
fn one_error_line(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("aegis-scorer: error: "), "{err}");
    err.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_consumer_prints_each_verdict_as_a_json_line() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(pipeline.scorer_config("printer"));
    let txs = small_payments("p", 20);
    pipeline.publish_transactions(&txs).await;
    pipeline.read_verdicts(20);
    replica.stop().await;

    let output = Command::new(env!("CARGO_BIN_EXE_aegis-verdicts"))
        .args([
            "--brokers",
            &pipeline.broker.bootstrap(),
            "--verdicts-topic",
            &pipeline.verdicts,
        ])
        .args([
            "--group-id",
            "printer-test",
            "--from-beginning",
            "--count",
            "20",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    for line in &lines {
        assert!(line["tx_id"].as_str().unwrap().starts_with("p-"));
        assert_eq!(line["decision"], "ALLOW");
        assert!(line["fraud_probability"].is_number());
        assert_eq!(line["type"], "PAYMENT");
    }
}

/// Publishes `n` transactions and waits for their verdicts.
async fn score_some(pipeline: &Pipeline, scorer: &RunningScorer, n: usize) {
    let txs = cash_ins("s", n);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(n);
    assert_eq!(verdicts.len(), n, "scorer log:\n{}", scorer.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scorer_binary_drains_and_exits_cleanly_on_sigterm() {
    let pipeline = Pipeline::start().await;
    // Secrets from a properties file, a value with commas among them.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "# test\nsasl.password=hunter2,with,commas\nclient.id=from-file\n",
    )
    .unwrap();
    let scorer = RunningScorer::spawn(
        &pipeline,
        "sigterm",
        &[
            "--kafka-config",
            config.path().to_str().unwrap(),
            "-X",
            "client.id=aegis-test",
        ],
    );
    score_some(&pipeline, &scorer, 50).await;

    let (status, stderr) = scorer.terminate(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("offsets committed"), "{stderr}");
    assert!(
        stderr.contains("sasl.password=***") && stderr.contains("client.id=aegis-test"),
        "properties are logged masked, -X after the file's: {stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "a secret reached the log: {stderr}"
    );

    // Everything was committed: a new replica in the group has nothing left to read.
    let replica = Replica::start(pipeline.scorer_config("sigterm"));
    replica.wait_for_partitions().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replica.stop().await.received_total(), 0);
}

/// librdkafka's synchronous commit and consumer close wait for the group coordinator without a
/// limit: with the broker gone, SIGTERM used to leave the scorer running for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_broker_gone_stops_within_the_shutdown_timeout() {
    let mut pipeline = Pipeline::start().await;
    let scorer = RunningScorer::spawn(&pipeline, "broker-gone", &["--shutdown-timeout", "3s"]);
    score_some(&pipeline, &scorer, 50).await;
    pipeline.broker.kill();

    // 3 s of shutdown budget, plus the runtime's 1 s and process start-up slack.
    let (status, stderr) = scorer.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("aegis-scorer: error: ") && last.contains("--shutdown-timeout"),
        "one line naming the flag: {stderr}"
    );
}

#[test]
fn a_bad_api_token_file_stops_the_scorer_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            dir.path().join("missing"),
            "missing: cannot read it (No such file or directory".to_owned(),
        ),
        (
            write("empty", "# no token yet\n\n"),
            "empty: holds no token; write one per line".to_owned(),
        ),
        (
            write("short", "a-long-enough-token-0123\nsecret-12\n"),
            "short line 2: a token of 9 characters is too easy to guess".to_owned(),
        ),
        (
            write("spaced", "two words-0123456789abcdef\n"),
            "spaced line 1: a bearer token is made of letters, digits".to_owned(),
        ),
    ];
    for (path, expected) in cases {
        // Checked before Kafka is waited for: no broker needed.
        let output = scorer(&[
            "--brokers",
            "127.0.0.1:1",
            "--model",
            model().to_str().unwrap(),
            "--api-token-file",
            path.to_str().unwrap(),
        ]);
        let line = one_error_line(&output);
        assert!(line.contains("--api-token-file "), "{line}");
        assert!(line.contains(&expected), "{line}");
        assert!(
            !line.contains("secret-12"),
            "a token is never printed: {line}"
        );
    }
}

#[test]
fn bad_model_files_stop_the_scorer_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(model()).unwrap();
    let truncated = dir.path().join("truncated.model");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let tampered = edited_model(model(), dir.path(), "tampered.model", |json| {
        json["forest"]["nodes"][1]["value"] = 0.123.into();
    });
    let missing = dir.path().join("missing.model");
    let cases = [
        (
            missing,
            "missing.model: No such file or directory (os error 2); train one with `aegis-trainer train",
        ),
        (truncated, "truncated.model is truncated"),
        (tampered, "tampered.model is corrupt: its content hashes to rf-"),
        (
            model_with_unknown_feature(model(), dir.path()),
            "it needs feature `dest_emptied`, which this build does not compute",
        ),
    ];
    for (path, expected) in cases {
        // A reachable broker is never needed: the model is checked first.
        let output = scorer(&[
            "--brokers",
            "127.0.0.1:1",
            "--model",
            path.to_str().unwrap(),
        ]);
        let line = one_error_line(&output);
        assert!(line.contains(expected), "{line}");
        assert!(
            line.matches("(os error").count() <= 1,
            "the cause is said once: {line}"
        );
    }
}

#[test]
fn unknown_flags_and_bad_properties_stop_before_any_work() {
    let output = scorer(&[
        "--brokers",
        "127.0.0.1:1",
        "--model",
        "m",
        "--colour",
        "red",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(
        err.lines().next(),
        Some("error: unexpected argument '--colour' found"),
        "{err}"
    );
    assert_eq!(err.matches("error").count(), 1, "{err}");

    // librdkafka's own message would end with the value: a mistyped secret key must not print it.
    let model = model().to_str().unwrap();
    let output = scorer(&[
        "--brokers",
        "127.0.0.1:1",
        "--model",
        model,
        "-X",
        "sasl.pasword=hunter2",
    ]);
    let line = one_error_line(&output);
    assert_eq!(
        line,
        "aegis-scorer: error: -X sasl.pasword: No such configuration property: \"sasl.pasword\""
    );
    let output = scorer(&[
        "--brokers",
        "127.0.0.1:1",
        "--model",
        model,
        "--http-addr",
        "localhost",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid value 'localhost' for '--http-addr"));

    // A properties file that is missing, or has a bad line: named, the secret not shown.
    let output = scorer(&[
        "--brokers",
        "b:1",
        "--model",
        model,
        "--kafka-config",
        "/nonexistent.properties",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read /nonexistent.properties: No such file"),
        "{}",
        stderr(&output)
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "client.id=ok\nsasl.pasword=hunter2\n").unwrap();
    let path = file.path().to_str().unwrap();
    let output = scorer(&["--brokers", "b:1", "--model", model, "--kafka-config", path]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "{path}: line 2: sasl.pasword: No such configuration property"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn an_unreachable_broker_is_retried_with_a_log_line_then_one_error() {
    let model = model().to_str().unwrap();
    let output = scorer(&[
        "--brokers",
        "127.0.0.1:1",
        "--model",
        model,
        "--connect-timeout",
        "2s",
    ]);
    let last = error_after_waiting_for_kafka(&output, "aegis-scorer");
    assert!(
        last.starts_with(
            "aegis-scorer: error: Kafka not ready after 2s (--connect-timeout): cannot reach the \
             Kafka brokers at 127.0.0.1:1 (127.0.0.1:1/bootstrap: Connect to"
        ) && last.contains("Connection refused")
            && last.ends_with(
                "check --brokers, and -X / --kafka-config properties such as security.protocol"
            ),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_and_a_busy_port_are_named_with_their_flag() {
    let pipeline = Pipeline::start().await;
    let brokers = pipeline.broker.bootstrap();
    let base = |input: &str, dlq: &str, http: &str| -> Vec<String> {
        [
            "--brokers",
            &brokers,
            "--model",
            model().to_str().unwrap(),
            "--transactions-topic",
            input,
            "--verdicts-topic",
            &pipeline.verdicts,
            "--dlq-topic",
            dlq,
            "--http-addr",
            http,
            "--connect-timeout",
            "1s",
            "--state-changelog-topic=",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scorer(&args)
    };
    for (input, dlq, flag) in [
        (
            "no-such-input",
            pipeline.dlq.as_str(),
            "--transactions-topic",
        ),
        (pipeline.input.as_str(), "no-such-dlq", "--dlq-topic"),
    ] {
        let output = run(base(input, dlq, "127.0.0.1:0"));
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        let last = err.lines().last().unwrap();
        let missing = if flag == "--transactions-topic" {
            input
        } else {
            dlq
        };
        assert!(
            last.contains(&format!(
                "topic \"{missing}\" does not exist on {brokers}: create it (e.g. `rpk topic create {missing}`) or pass another {flag}"
            )),
            "{err}"
        );
    }

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(base(&pipeline.input, &pipeline.dlq, &addr));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.lines().last().unwrap().starts_with(&format!(
            "aegis-scorer: error: cannot listen on {addr}; pass another --http-addr: Address already in use"
        )),
        "{err}"
    );
}

#[test]
fn the_http_server_binds_to_localhost_unless_told_otherwise() {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        config: aegis_scorer::ScorerConfig,
    }
    let flags = <Flags as clap::Parser>::try_parse_from([
        "aegis-scorer",
        "--brokers",
        "b:9092",
        "--model",
        "m",
    ]);
    let addr = flags.unwrap().config.http_addr;
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(addr.to_string(), "127.0.0.1:8080");
}

#[test]
fn scorer_refuses_a_bad_model_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.model");
    std::fs::write(&bad, "{\"not\": \"a model\"}").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"))
        .args(["--brokers", "127.0.0.1:1", "--model", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("is not an Aegis model"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"))
        .args([
            "--brokers",
            "127.0.0.1:1",
            "--model",
            model().to_str().unwrap(),
        ])
        .args(["--review-threshold", "0.9", "--block-threshold", "0.5"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("review <= block"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_state_survives_a_sigkill_and_replays_are_not_counted_twice() {
    let pipeline = Pipeline::start().await;
    let changelog = aegis_testkit::unique_topic("state");
    pipeline
        .broker
        .create_topics(&[(&changelog, crate::PARTITIONS)])
        .await;
    // The seed rule, and one that fires only when exactly three transactions came before: a
    // history counted twice after the crash would not fire it.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    let seed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rules/default.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut set = seed.clone();
    set["rules"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "three_before", "action": "REVIEW", "reason": "exactly three transactions before",
        "when": [{"field": "state.count_short", "op": "==", "value": 3}]
    }));
    std::fs::write(&rules, set.to_string()).unwrap();
    let args = [
        "--rules",
        rules.to_str().unwrap(),
        "--state-changelog-topic",
        &changelog,
        "--batch-size",
        "1",
    ];

    let start = aegis_core::clock::now_ms();
    let payment = |i: i64| {
        let mut tx = transaction(
            &format!("k-probe-{i}"),
            "C8001",
            TxType::Payment,
            9.5,
            181_000.0 + 9.5 * (3 - i) as f64,
            181_000.0 + 9.5 * (2 - i) as f64,
        );
        tx.event_time = start + i * 1_000;
        tx
    };
    let first = RunningScorer::spawn(&pipeline, "state-crash", &args);
    let probes: Vec<_> = (0..3).map(payment).collect();
    pipeline.publish_transactions(&probes).await;
    let (_, verdicts) = pipeline.read_verdicts(3);
    assert_eq!(verdicts.len(), 3, "first scorer's log:\n{}", first.log());
    // The account's states reach the changelog (their producer lingers longer than the verdicts').
    let states = pipeline.read(&changelog, 3, Duration::from_secs(20));
    assert_eq!(states.len(), 3, "first scorer's log:\n{}", first.log());
    // kill -9: whatever offsets were not committed are read again by the next scorer.
    drop(first);
    // tansu hands a dead member's partitions only to members that join after it left the group.
    tokio::time::sleep(Duration::from_secs(12)).await;

    let second = RunningScorer::spawn(&pipeline, "state-crash", &args);
    let mut transfer = transaction(
        "k-transfer",
        "C8001",
        TxType::Transfer,
        171_950.0,
        181_000.0,
        9_050.0,
    );
    transfer.event_time = start + 60_000;
    pipeline.publish_transactions(&[transfer]).await;
    let (_, verdicts) = pipeline.read_verdicts(4);
    let v = verdicts
        .get("k-transfer")
        .unwrap_or_else(|| panic!("no verdict for the transfer; log:\n{}", second.log()));
    assert_eq!(v.decision, aegis_core::Decision::Block, "{v:?}");
    assert_eq!(
        v.rules,
        ["drain_after_probe", "three_before"],
        "the restored history holds the three payments, once each; log:\n{}",
        second.log()
    );
    assert!(
        second.log().contains("account states restored"),
        "{}",
        second.log()
    );
}
