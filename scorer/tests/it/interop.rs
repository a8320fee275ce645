//! Other clients can talk to Aegis (issue 29 item 7): Confluent's Python client with fastavro —
//! nothing of Aegis's code, only the schema files — writes transactions the scorer scores, reads
//! the verdicts it writes, and writes labels Aegis reads back on the partition of their verdicts.
//! The client is `scorer/tests/interop/client.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aegis_core::avro::AvroCodec;
use rdkafka::Message;

use crate::{Pipeline, Replica, PARTITIONS};

const N: usize = 40;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the Python client; its stdout. Fails the test with its stderr.
fn client(args: &[&str]) -> String {
    let python = repository().join(".aegis/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup",
        python.display()
    );
    let output = Command::new(python)
        .arg(repository().join("scorer/tests/interop/client.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_writes_transactions_and_labels_and_reads_verdicts() {
    let pipeline = Pipeline::start().await;
    let labels = aegis_testkit::unique_topic("labels");
    pipeline
        .broker
        .create_topics(&[(&labels, PARTITIONS)])
        .await;
    let replica = Replica::start(pipeline.scorer_config("interop"));
    replica.wait_for_partitions().await;
    let brokers = pipeline.broker.bootstrap();

    // Transactions framed by fastavro: every one scored, none dead-lettered.
    client(&[
        "produce-transactions",
        &brokers,
        &pipeline.input,
        &N.to_string(),
    ]);
    let (messages, verdicts) = pipeline.read_verdicts(N);
    assert_eq!(verdicts.len(), N, "every Python transaction has a verdict");
    assert!(verdicts.keys().all(|id| id.starts_with("py-")));
    let stats = replica.stop().await;
    assert_eq!(stats.dead_letters(), 0, "nothing dead-lettered");

    // Verdicts read by the Python client, with fastavro's fingerprint, on the partition the Java
    // client would choose for their key (murmur2), as Aegis's producers write them.
    let lines = client(&[
        "read-verdicts",
        &brokers,
        &pipeline.verdicts,
        &N.to_string(),
    ]);
    let read: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(read.len(), N);
    for v in &read {
        let id = v["tx_id"].as_str().unwrap();
        let ours = &verdicts[id];
        assert_eq!(v["account"], ours.account.as_str(), "{v}");
        assert_eq!(v["key"], ours.account.as_str(), "{v}");
        assert_eq!(
            v["fraud_probability"].as_f64(),
            Some(ours.fraud_probability),
            "{v}"
        );
        assert_eq!(v["decision"], ours.decision.as_str(), "{v}");
        let partition = messages
            .iter()
            .find(|m| m.key() == Some(ours.account.as_bytes()))
            .map(|m| m.partition());
        assert_eq!(v["partition"].as_i64(), partition.map(i64::from), "{v}");
    }

    // Labels from the Python client, keyed by account: read back by Aegis's codec, each on the
    // partition of its transaction's verdict (the co-partitioning aegis-outcomes joins on).
    let pairs: Vec<String> = verdicts
        .values()
        .map(|v| format!("{}:{}", v.tx_id, v.account))
        .collect();
    let mut args = vec!["produce-labels", brokers.as_str(), labels.as_str()];
    args.extend(pairs.iter().map(String::as_str));
    client(&args);
    let label_messages = pipeline.read(&labels, N, Duration::from_secs(30));
    assert_eq!(label_messages.len(), N);
    for m in &label_messages {
        let (label, _) = AvroCodec::label().decode(m.payload().unwrap()).unwrap();
        let verdict = messages
            .iter()
            .find(|v| {
                AvroCodec::verdict()
                    .decode(v.payload().unwrap())
                    .is_ok_and(|(v, _)| v.tx_id == label.tx_id)
            })
            .unwrap();
        assert_eq!(
            m.partition(),
            verdict.partition(),
            "label {} on its verdict's partition",
            label.tx_id
        );
        assert_eq!(label.source.as_deref(), Some("chargeback"));
    }
}
