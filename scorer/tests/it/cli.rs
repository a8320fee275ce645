//! The binaries: `aegis-verdicts` prints verdicts as JSON lines; `aegis-scorer` stops cleanly on
//! SIGTERM and refuses a bad model file with one line.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aegis_core::TxType;

use crate::{model, transaction, Pipeline, Replica};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_consumer_prints_each_verdict_as_a_json_line() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(pipeline.scorer_config("printer"));
    let txs: Vec<_> = (0..20)
        .map(|i| {
            transaction(
                &format!("p-{i}"),
                &format!("C{i}"),
                TxType::Payment,
                12.0,
                500.0,
                488.0,
            )
        })
        .collect();
    pipeline.publish_transactions(&txs).await;
    pipeline.read_verdicts(20);
    replica.stop().await;

    let output = Command::new(env!("CARGO_BIN_EXE_aegis-verdicts"))
        .args([
            "--brokers",
            &pipeline.broker.bootstrap(),
            "--topic",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scorer_binary_drains_and_exits_cleanly_on_sigterm() {
    let pipeline = Pipeline::start().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aegis-scorer"))
        .args([
            "--brokers",
            &pipeline.broker.bootstrap(),
            "--group-id",
            "sigterm",
        ])
        .args([
            "--input-topic",
            &pipeline.input,
            "--output-topic",
            &pipeline.verdicts,
        ])
        .args([
            "--dlq-topic",
            &pipeline.dlq,
            "--model",
            model().to_str().unwrap(),
        ])
        .args(["-X", "sasl.password=hunter2", "-X", "client.id=aegis-test"])
        .args(["--http-addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let txs: Vec<_> = (0..50)
        .map(|i| {
            transaction(
                &format!("s-{i}"),
                &format!("C{i}"),
                TxType::CashIn,
                40.0,
                10.0,
                50.0,
            )
        })
        .collect();
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(50);
    assert_eq!(verdicts.len(), 50);

    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "scorer did not stop within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("offsets committed"), "{stderr}");
    assert!(
        stderr.contains("sasl.password=***"),
        "properties are logged masked: {stderr}"
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
