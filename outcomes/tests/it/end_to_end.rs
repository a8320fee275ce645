//! Replayed PaySim rows with labels after a delay, through the real producer, scorer and outcome
//! service, with the outcome service SIGKILLed mid-stream and started again: the outcomes topic
//! holds one outcome (counted by tx_id: at least once) per labelled transaction, and its
//! confusion counts are those of `aegis-trainer evaluate` on the same rows with the same model.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aegis_core::paysim::PaysimReader;
use aegis_core::{Decision, Model};
use aegis_outcomes::quality::Confusion;
use aegis_scorer::{LiveView, ReplicaState, ScorerConfig};
use tokio_util::sync::CancellationToken;

use crate::*;

/// Rows of the sample: the file's first 300, then its frauds up to 60 more.
const FIRST_ROWS: usize = 300;
const MORE_FRAUDS: usize = 60;

/// A PaySim CSV of a few hundred rows with dozens of frauds, written in `dir`.
pub fn sample(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(data("paysim_transfer_cashout_steps_1-10.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut rows: Vec<&str> = lines.by_ref().take(FIRST_ROWS).collect();
    rows.extend(
        lines
            .filter(|l| l.split(',').nth(9) == Some("1"))
            .take(MORE_FRAUDS),
    );
    let path = dir.join("sample.csv");
    std::fs::write(&path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    path
}

pub fn scorer_config(broker: &Broker, topics: &Topics) -> ScorerConfig {
    ScorerConfig {
        brokers: broker.bootstrap(),
        group_id: unique_topic("scorer"),
        input_topic: topics.transactions.clone(),
        output_topic: topics.verdicts.clone(),
        dlq_topic: topics.dlq.clone(),
        model: Some(model().to_owned()),
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
        http_addr: "127.0.0.1:0".parse().unwrap(),
        schema_registry_url: None,
        review_threshold: None,
        block_threshold: None,
        batch_size: 100,
        batch_linger_ms: 2,
        max_in_flight: 16,
        shutdown_timeout_secs: 15,
        live_view: LiveView::Own,
        http: aegis_scorer::HttpFlags::default(),
        kafka: aegis_kafka::KafkaFlags::default(),
        entities: Default::default(),
        prefix: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_labelled_transaction_gets_one_outcome_despite_a_sigkill_and_counts_equal_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample(dir.path());
    // What `aegis-trainer evaluate` decides for every row, by tx_id, and its confusion counts.
    let model = Model::load(model()).unwrap();
    let rows: Vec<_> = PaysimReader::open(&csv)
        .unwrap()
        .map(|r| r.unwrap().transaction)
        .collect();
    let predictions = aegis_trainer::evaluate::predict(&model, &csv).unwrap();
    let mut expected_confusion = Confusion::default();
    let mut expected: HashMap<String, (Decision, bool)> = HashMap::new();
    for (p, tx) in predictions.iter().zip(&rows) {
        expected_confusion.add(p.decision, p.is_fraud);
        expected.insert(tx.tx_id.clone(), (p.decision, p.is_fraud));
    }
    let n = rows.len();
    assert_eq!(expected.len(), n, "sample tx_ids are distinct");
    assert!(expected_confusion.get(Decision::Block, true) > 10);

    let broker = Broker::start();
    let topics = Topics::create(&broker).await;
    let scorer_cancel = CancellationToken::new();
    let scorer = {
        let config = scorer_config(&broker, &topics);
        let replica = Arc::new(ReplicaState::new(&config).unwrap());
        tokio::spawn(aegis_scorer::stream::run(
            config,
            replica,
            scorer_cancel.clone(),
        ))
    };
    let group = unique_topic("outcomes");
    let log = dir.path().join("outcomes.log");
    let mut outcomes = OutcomesProcess::start(&broker, &topics, &group, log.clone());

    // The real producer replays the rows at 60/s, each label 1 s after its transaction.
    let producer = aegis_producer::ProducerConfig {
        replay: Some(csv.clone()),
        rate: Some(60.0),
        label_delay: Some(std::time::Duration::from_secs(1)),
        labels_topic: topics.labels.clone(),
        ..aegis_producer::ProducerConfig::new(broker.bootstrap(), topics.transactions.clone())
    };
    let producing = tokio::task::spawn_blocking(move || {
        aegis_producer::run(
            &producer,
            aegis_producer::Counters::new(),
            &CancellationToken::new(),
        )
    });

    // Mid-stream, once outcomes are flowing: SIGKILL, then a new process in the same group.
    let flowing = {
        let (broker, topic) = (&broker, topics.outcomes.clone());
        tokio::task::block_in_place(|| {
            read_outcomes(broker, &topic, Duration::from_secs(60), |o| o.len() >= 30)
        })
    };
    assert!(flowing.len() >= 30, "outcomes flow: {}", outcomes.log());
    outcomes.kill();
    let before_kill = outcomes.log();
    // tansu 0.6 does not hand a dead member's partitions to a member that joined while the dead
    // one was still in the group (chaos/README.md, tansu problems): start the new process once
    // the session timeout (10 s) has expelled the old one, as a supervisor's back-off would.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let mut outcomes = OutcomesProcess::start(&broker, &topics, &group, log);

    let summary = producing.await.unwrap().unwrap();
    assert_eq!((summary.sent, summary.failed), (n as u64, 0));
    assert_eq!((summary.labels_sent, summary.labels_failed), (n as u64, 0));

    let read = tokio::task::block_in_place(|| {
        read_outcomes(&broker, &topics.outcomes, Duration::from_secs(120), |o| {
            by_tx_id(o).len() >= n
        })
    });
    let distinct = by_tx_id(&read);
    let log_text = outcomes.log();
    if distinct.len() != n {
        let broker_log = broker.log();
        let groups: Vec<&str> = broker_log
            .lines()
            .filter(|l| l.contains("heartbeat") || l.contains("generation"))
            .collect();
        eprintln!("broker group lines:\n{}", groups.join("\n"));
    }
    assert_eq!(
        distinct.len(),
        n,
        "one outcome per labelled transaction ({} read); log before the kill:\n{before_kill}\nlog:\n{log_text}",
        read.len()
    );
    let mut confusion = Confusion::default();
    for (key, outcome) in &read {
        assert_eq!(key, &outcome.account, "keyed by account");
        let (decision, is_fraud) = expected[&outcome.tx_id];
        assert_eq!(
            (outcome.decision, outcome.is_fraud),
            (decision, is_fraud),
            "{outcome:?}"
        );
        assert_eq!(outcome.model_version, model.model_version());
        assert!(
            outcome.labelled_at >= outcome.event_time + 1_000,
            "{outcome:?}"
        );
        assert_eq!(outcome.label_source.as_deref(), Some("replay"));
    }
    for outcome in distinct.values() {
        confusion.add(outcome.decision, outcome.is_fraud);
    }
    assert_eq!(
        confusion, expected_confusion,
        "the confusion counts of evaluate"
    );

    // The restarted service reports on /metrics and /healthz, then stops cleanly on SIGTERM.
    let metrics = outcomes.get("/metrics");
    for series in [
        "aegis_outcomes_total{decision=\"BLOCK\",label=\"fraud\",role=\"live\",source=\"replay\"}",
        "aegis_outcomes_total{decision=\"BLOCK\",label=\"fraud\",role=\"shadow\",source=\"replay\"}",
        "aegis_outcomes_money_stopped_total{role=\"live\"}",
        "aegis_outcomes_precision_ratio{flagged=\"block\",role=\"live\"}",
        "aegis_outcomes_recall_ratio{flagged=\"review_or_block\",role=\"shadow\"}",
        "aegis_outcomes_pending{role=\"live\",side=\"verdict\"}",
        "aegis_outcomes_pending{role=\"shadow\",side=\"shadow_verdict\"}",
        "aegis_outcomes_evicted_total{reason=\"window\",role=\"live\",side=\"label\"}",
        // Every binary's build and process metrics (aegis_kafka::build_info).
        "aegis_build_info{git_sha=",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(outcomes.get("/healthz").ends_with("ok\n"));
    let status = outcomes.terminate();
    assert!(status.success(), "{}", outcomes.log());
    scorer_cancel.cancel();
    scorer.await.unwrap().unwrap();
    eprintln!(
        "{n} transactions, {} outcomes read ({} repeated after the SIGKILL), confusion {confusion:?}",
        read.len(),
        read.len() - distinct.len()
    );
}
