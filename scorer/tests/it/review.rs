//! The review queue, closed loop, in headless Chromium: a scorer (REVIEW from probability 0, so
//! every ordinary transaction waits for an analyst) with a labels topic and an API token, and
//! `aegis-outcomes` joining its verdicts with the labels; `scripts/ui/check-review.mjs` marks
//! three transactions on the live page — two fraud, one legit — and the labels topic then holds
//! exactly those three, from the analyst, keyed and partitioned as their verdicts, and the outcome
//! service counts them under `source="analyst"`. And without a broker: a label not acknowledged
//! is a 503 that leaves its verdict queued, and a transaction not in the queue is a 404.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use aegis_core::avro::AvroCodec;
use aegis_core::{Label, Outcome};
use aegis_scorer::models::Installed;
use aegis_scorer::{load_model, HttpFlags, LiveView, ScorerConfig};
use aegis_testkit::{free_port, unique_topic};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use crate::{run_page_check, small_payments, Pipeline, PARTITIONS};

const TOKEN: &str = "review-token-0123456789abcdef";

/// The body of `GET path` on `addr` (open routes only).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The sum of the series of metric `name` whose labels include every one of `labels`
/// (`source="analyst"`), in `metrics`; `None` when there is none.
fn metric(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .reduce(|a, b| a + b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_mark_three_on_the_live_page_and_labels_and_outcomes_count_them() {
    let pipeline = Pipeline::start().await;
    let (labels, outcomes) = (unique_topic("labels"), unique_topic("outcomes"));
    pipeline
        .broker
        .create_topics(&[(&labels, PARTITIONS), (&outcomes, PARTITIONS)])
        .await;
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{TOKEN}\n")).unwrap();

    let scorer_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = ScorerConfig {
        review_threshold: Some(0.0),
        block_threshold: Some(1.0),
        outcomes_topic: outcomes.clone(),
        live_view: LiveView::All,
        http_addr: scorer_addr,
        http: HttpFlags {
            api_token_file: Some(tokens.path().to_owned()),
            ..HttpFlags::default()
        },
        entities: aegis_scorer::entities::EntityFlags {
            labels_topic: labels.clone(),
            ..Default::default()
        },
        ..pipeline.scorer_config(&unique_topic("review"))
    };
    let live = Installed::file(&config, load_model(&config).unwrap());
    let scorer_cancel = CancellationToken::new();
    let scorer = tokio::spawn(aegis_scorer::run(config, live, scorer_cancel.clone()));

    let outcomes_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let outcomes_config = aegis_outcomes::OutcomesConfig {
        group_id: unique_topic("outcomes"),
        verdicts_topic: pipeline.verdicts.clone(),
        labels_topic: labels.clone(),
        shadow_verdicts_topic: String::new(),
        outcomes_topic: outcomes.clone(),
        join_window: 600,
        http_addr: outcomes_addr,
        ..aegis_outcomes::OutcomesConfig::new(pipeline.broker.bootstrap())
    };
    let outcomes_cancel = CancellationToken::new();
    let service = tokio::spawn(aegis_outcomes::run(
        outcomes_config,
        outcomes_cancel.clone(),
    ));

    // Six ordinary payments: each a REVIEW at these thresholds.
    let txs = small_payments("rv", 6);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len());
    assert!(verdicts
        .values()
        .all(|v| v.decision == aegis_core::Decision::Review));

    // The page: three marked, two fraud and one legit; the script prints `tx_id fraud|legit`
    // lines, then waits for the outcome tiles to count them.
    let stdout = run_page_check(
        "check-review.mjs",
        vec![format!("http://{scorer_addr}"), TOKEN.to_owned()],
    )
    .await;
    let marked: BTreeMap<String, bool> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("marked "))
        .map(|rest| {
            let (tx_id, class) = rest.split_once(' ').unwrap();
            (tx_id.to_owned(), class == "fraud")
        })
        .collect();
    assert_eq!(marked.len(), 3, "{stdout}");
    assert_eq!(marked.values().filter(|f| **f).count(), 2, "{stdout}");

    // The labels topic: exactly those three, from the analyst, each keyed by its account and on
    // its verdict's partition, with the transaction's event time.
    let messages = pipeline.read(&labels, 3, Duration::from_secs(30));
    assert_eq!(messages.len(), 3, "exactly three labels");
    let verdict_messages = pipeline.read(&pipeline.verdicts, txs.len(), Duration::from_secs(30));
    let mut written = BTreeMap::new();
    for m in &messages {
        let (label, _): (Label, _) = AvroCodec::label().decode(m.payload().unwrap()).unwrap();
        let verdict = &verdicts[&label.tx_id];
        assert_eq!(label.source.as_deref(), Some("analyst"));
        assert_eq!(label.event_time, Some(verdict.event_time));
        assert_eq!(m.key(), Some(verdict.account.as_bytes()));
        let verdict_partition = verdict_messages
            .iter()
            .find(|v| v.key() == m.key())
            .map(|v| v.partition());
        assert_eq!(Some(m.partition()), verdict_partition, "co-partitioned");
        written.insert(label.tx_id.clone(), label.is_fraud);
    }
    assert_eq!(written, marked);

    // The outcome service joined them, under the analyst's source; the outcomes topic has them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let analysts = |metrics: &str, label: &str| {
        let label = format!("label=\"{label}\"");
        let labels = [label.as_str(), "role=\"live\"", "source=\"analyst\""];
        metric(metrics, "aegis_outcomes_total", &labels)
    };
    let mut metrics = String::new();
    while Instant::now() < deadline {
        metrics = tokio::task::spawn_blocking(move || get(outcomes_addr, "/metrics"))
            .await
            .unwrap();
        if analysts(&metrics, "fraud") == Some(2.0) && analysts(&metrics, "legit") == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(analysts(&metrics, "fraud"), Some(2.0), "{metrics}");
    assert_eq!(analysts(&metrics, "legit"), Some(1.0), "{metrics}");
    let others = metric(&metrics, "aegis_outcomes_total", &["role=\"live\""]);
    assert_eq!(others, Some(3.0), "no outcome but the analysts': {metrics}");
    let joined = pipeline.read(&outcomes, 3, Duration::from_secs(30));
    let mut judged = BTreeMap::new();
    for m in &joined {
        let (outcome, _): (Outcome, _) = AvroCodec::outcome().decode(m.payload().unwrap()).unwrap();
        assert_eq!(outcome.label_source.as_deref(), Some("analyst"));
        judged.insert(outcome.tx_id.clone(), outcome.is_fraud);
    }
    assert_eq!(judged, marked);

    // The scorer counted the decisions, and the queue is three shorter.
    let scorer_metrics = tokio::task::spawn_blocking(move || get(scorer_addr, "/metrics"))
        .await
        .unwrap();
    for (name, label, value) in [
        ("aegis_review_decisions_total", "label=\"fraud\"", 2.0),
        ("aegis_review_decisions_total", "label=\"legit\"", 1.0),
        ("aegis_review_queue", "", 3.0),
    ] {
        let found = metric(&scorer_metrics, name, &[label]);
        assert_eq!(found, Some(value), "{name} {label}");
    }

    outcomes_cancel.cancel();
    service.await.unwrap().unwrap();
    scorer_cancel.cancel();
    scorer.await.unwrap().unwrap();
}

/// A REVIEW verdict of account `account`, as the stream would have written it.
fn review_verdict(tx_id: &str, account: &str) -> aegis_core::Verdict {
    aegis_core::Verdict {
        tx_id: tx_id.to_owned(),
        account: account.to_owned(),
        amount: 120.0,
        tx_type: aegis_core::TxType::Transfer,
        event_time: 1_700_000_000_000,
        fraud_probability: 0.2,
        decision: aegis_core::Decision::Review,
        reasons: vec!["type is TRANSFER".to_owned()],
        model_version: "rf-test".to_owned(),
        scored_at: 1_700_000_000_100,
        rules: vec!["big-transfer".to_owned()],
        features: Vec::new(),
        explanation: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_not_acknowledged_is_a_503_and_the_verdict_stays_queued_and_unknown_ones_are_404() {
    // A labels producer whose broker does not answer (nothing listens on port 1).
    let config = ScorerConfig {
        entities: aegis_scorer::entities::EntityFlags {
            labels_topic: "labels".to_owned(),
            ..Default::default()
        },
        ..Pipeline::config_without_broker()
    };
    let replica = std::sync::Arc::new(aegis_scorer::ReplicaState::new(&config).unwrap());
    let labeller = aegis_scorer::review::Labeller::connect(&config).unwrap();
    assert!(
        labeller.is_some(),
        "--labels-topic labels turns labelling on"
    );
    let settings = aegis_scorer::http::Settings::default().with_labeller(labeller);
    let api = aegis_scorer::http::routes_with(replica.clone(), settings);
    replica.live.record(&review_verdict("rv-1", "C1305486145"));

    let queue = warp::test::request().path("/api/review").reply(&api).await;
    let queue: serde_json::Value = serde_json::from_slice(queue.body()).unwrap();
    assert_eq!(queue["labelling"], true);
    assert_eq!(queue["items"][0]["tx_id"], "rv-1");
    assert_eq!(queue["items"][0]["account"], "…6145", "masked");
    assert_eq!(queue["items"][0]["rules"][0], "big-transfer");
    assert!(queue["items"][0]["history"].is_null(), "no state held");

    let mark = |tx_id: &str| {
        warp::test::request()
            .method("POST")
            .path("/v1/labels")
            .body(format!(r#"{{"tx_id": "{tx_id}", "is_fraud": true}}"#))
    };
    let unknown = mark("nope").reply(&api).await;
    assert_eq!(unknown.status(), 404);
    let refused = mark("rv-1").reply(&api).await;
    assert_eq!(refused.status(), 503);
    let error: serde_json::Value = serde_json::from_slice(refused.body()).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("did not acknowledge"),
        "{error}"
    );
    let metrics = replica.metrics.render();
    assert_eq!(
        metric(&metrics, "aegis_review_label_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(replica.metrics.review_decisions(true), 0);
    let queue = warp::test::request().path("/api/review").reply(&api).await;
    let queue: serde_json::Value = serde_json::from_slice(queue.body()).unwrap();
    assert_eq!(queue["items"][0]["tx_id"], "rv-1", "still waiting: {queue}");
}
