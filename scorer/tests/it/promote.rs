//! `aegis-trainer promote` then `rollback` while traffic flows through a replica: the shadow model
//! B, judged on the labelled transactions both models scored, becomes live, then the previous live
//! model A comes back — every partition's verdicts carry A…A B…B A…A, never back and forth, every
//! transaction has its verdict, and `GET /v1/model` lists the history.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::{Decision, Label, Model, Role, Thresholds, Transaction, TxType};
use aegis_scorer::ScorerConfig;
use aegis_testkit::unique_topic;
use aegis_trainer::promote::{self, PromoteArgs, RollbackArgs};
use aegis_trainer::publish::{self, ModelsTopicArgs, PublishArgs};
use rdkafka::Message;

use crate::{model, transaction, Pipeline, Replica, PARTITIONS};

/// Transactions per round of traffic, of which `TAKEOVERS` are frauds the demo model flags.
const ROUND: usize = 50;
const TAKEOVERS: usize = 5;

/// Round `round` of traffic: payments and account takeovers, each with its label.
fn round_of(round: usize) -> Vec<Transaction> {
    (0..ROUND)
        .map(|i| {
            let account = format!("C{}", (round * ROUND + i) % 97);
            let mut tx = if i < TAKEOVERS {
                transaction(
                    &format!("load-{round}-{i}"),
                    &account,
                    TxType::Transfer,
                    181_000.0,
                    181_000.0,
                    0.0,
                )
            } else {
                let amount = 10.0 + i as f64;
                transaction(
                    &format!("load-{round}-{i}"),
                    &account,
                    TxType::Payment,
                    amount,
                    1_000.0,
                    1_000.0 - amount,
                )
            };
            tx.is_fraud = Some(i < TAKEOVERS);
            tx
        })
        .collect()
}

/// The round's transactions, then their labels.
async fn send_round(pipeline: &Pipeline, labels: &str, round: usize) {
    let txs = round_of(round);
    pipeline.publish_transactions(&txs).await;
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .create()
        .unwrap();
    for tx in &txs {
        let label = Label::of(tx, aegis_core::clock::now_ms(), Some("test")).unwrap();
        let value = AvroCodec::label()
            .encode(&label, Framing::SingleObject)
            .unwrap();
        producer
            .send(
                rdkafka::producer::FutureRecord::to(labels)
                    .key(&tx.name_orig)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

/// Waits (up to 60 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn scored(replica: &Replica) -> u64 {
    Decision::ALL
        .iter()
        .map(|d| replica.replica.metrics.verdicts(*d))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_then_rollback_under_load_keeps_every_verdict_in_model_order() {
    let pipeline = Arc::new(Pipeline::start().await);
    let (models, shadow, labels) = (
        unique_topic("models"),
        unique_topic("shadow"),
        unique_topic("labels"),
    );
    pipeline
        .broker
        .create_topics(&[(&models, 1), (&shadow, PARTITIONS), (&labels, PARTITIONS)])
        .await;
    let replica = Replica::start(ScorerConfig {
        models_topic: models.clone(),
        shadow_topic: shadow.clone(),
        batch_size: 20,
        ..pipeline.scorer_config("promote")
    });
    replica.wait_for_partitions().await;

    // A live, and B — the same forest with other thresholds, so it ranks alike and meets the
    // criterion with as many frauds caught — as the shadow, both as `aegis-trainer publish` does.
    let target = || ModelsTopicArgs::new(pipeline.broker.bootstrap(), models.clone());
    let a = Model::load(model()).unwrap();
    let b = a
        .clone()
        .with_thresholds(Thresholds::new(0.2, 0.9).unwrap());
    let publish_a = PublishArgs::model(target(), model().to_owned(), Role::Live);
    let publish_b = PublishArgs {
        review_threshold: Some(0.2),
        block_threshold: Some(0.9),
        ..PublishArgs::model(target(), model().to_owned(), Role::Shadow)
    };
    tokio::task::spawn_blocking(move || {
        publish::run(&publish_a).and_then(|()| publish::run(&publish_b))
    })
    .await
    .unwrap()
    .unwrap();
    until("the shadow model", || {
        replica.replica.models.shadow().is_some()
    })
    .await;

    // Labelled traffic both models score: what promote judges on.
    const JUDGED: usize = 10;
    for round in 0..JUDGED {
        send_round(&pipeline, &labels, round).await;
    }
    let judged = JUDGED * ROUND;
    assert_eq!(
        pipeline
            .read(&shadow, judged, Duration::from_secs(60))
            .len(),
        judged
    );
    until("the judged verdicts", || scored(&replica) >= judged as u64).await;

    // From here on, traffic flows without a pause until told to stop.
    let (sent, stop) = (
        Arc::new(AtomicUsize::new(JUDGED)),
        Arc::new(AtomicBool::new(false)),
    );
    let traffic = {
        let (pipeline, labels, sent, stop) =
            (pipeline.clone(), labels.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                send_round(&pipeline, &labels, sent.load(Ordering::SeqCst)).await;
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    // Waits until `rounds` more rounds are sent and scored, all after the call.
    let settle = |rounds: usize| {
        let target = sent.load(Ordering::SeqCst) + rounds;
        let (sent, replica) = (sent.clone(), &replica);
        async move {
            until("traffic", || sent.load(Ordering::SeqCst) >= target).await;
            until("its verdicts", || {
                scored(replica) >= (target * ROUND) as u64
            })
            .await;
        }
    };
    settle(3).await;

    let promote_args = PromoteArgs {
        verdicts_topic: pipeline.verdicts.clone(),
        shadow_verdicts_topic: shadow.clone(),
        labels_topic: labels.clone(),
        since: Some("1h".to_owned()),
        ..PromoteArgs::new(target())
    };
    tokio::task::spawn_blocking(move || promote::promote(&promote_args))
        .await
        .unwrap()
        .unwrap();
    let live = || replica.replica.models.live().model_version().to_owned();
    until("B live", || live() == b.model_version()).await;
    settle(8).await;

    let rollback_args = RollbackArgs { target: target() };
    tokio::task::spawn_blocking(move || promote::rollback(&rollback_args))
        .await
        .unwrap()
        .unwrap();
    until("A live again", || live() == a.model_version()).await;
    settle(8).await;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();

    // Every transaction has its verdict; each partition's run A…A B…B A…A.
    let rounds = sent.load(Ordering::SeqCst);
    let (messages, verdicts) = pipeline.read_verdicts(rounds * ROUND);
    for round in 0..rounds {
        for tx in round_of(round) {
            assert!(
                verdicts.contains_key(&tx.tx_id),
                "no verdict for {}",
                tx.tx_id
            );
        }
    }
    assert_eq!(
        verdicts.len(),
        rounds * ROUND,
        "one verdict per transaction"
    );
    let mut runs: HashMap<i32, Vec<String>> = HashMap::new();
    for m in &messages {
        let (v, _) = AvroCodec::verdict().decode(m.payload().unwrap()).unwrap();
        let partition = runs.entry(m.partition()).or_default();
        if partition.last() != Some(&v.model_version) {
            partition.push(v.model_version);
        }
    }
    let expected = [a.model_version(), b.model_version(), a.model_version()];
    assert_eq!(runs.len(), PARTITIONS as usize);
    for (partition, run) in &runs {
        assert_eq!(run, &expected, "partition {partition}");
    }

    // GET /v1/model lists the history, newest first.
    let api = aegis_scorer::http::routes(replica.replica.clone());
    let response = warp::test::request().path("/v1/model").reply(&api).await;
    let view: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    let history: Vec<(String, String, String)> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["role"].as_str().unwrap().to_owned(),
                h["model_version"].as_str().unwrap().to_owned(),
                h["published_by"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let entry = |role: &str, model: &Model, command: &str| {
        (
            role.to_owned(),
            model.model_version().to_owned(),
            command.to_owned(),
        )
    };
    let by: Vec<(String, String, String)> = history
        .iter()
        .map(|(role, version, by)| {
            let command = by.split(" by ").next().unwrap_or_default().to_owned();
            (role.clone(), version.clone(), command)
        })
        .collect();
    assert_eq!(
        by,
        [
            entry("live", &a, "aegis-trainer rollback"),
            entry("live", &b, "aegis-trainer promote"),
            entry("shadow", &b, "aegis-trainer publish"),
        ],
        "{history:?}"
    );
    replica.stop().await;
}
