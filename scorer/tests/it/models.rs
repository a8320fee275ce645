//! Models changed without a restart: a model published on the models topic replaces the live one
//! between batches, under load, losing nothing; a corrupt one is refused and counted; a replica
//! that starts later scores with the published model from its first verdict.

use std::collections::HashMap;
use std::time::Duration;

use aegis_core::{Model, Thresholds, Transaction, TxType};
use aegis_scorer::models::Role;
use aegis_scorer::ScorerConfig;
use aegis_testkit::unique_topic;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::{model, transaction, Pipeline, Replica};

/// The demo model, and the same forest with other thresholds (so another version): what a
/// threshold-only change publishes.
fn models() -> (Model, Model) {
    let a = Model::load(model()).unwrap();
    let b = a
        .clone()
        .with_thresholds(Thresholds::new(0.2, 0.9).unwrap());
    assert_ne!(a.model_version(), b.model_version());
    (a, b)
}

async fn models_topic(pipeline: &Pipeline) -> String {
    let topic = unique_topic("models");
    pipeline.broker.create_topics(&[(&topic, 1)]).await;
    topic
}

async fn publish_model(pipeline: &Pipeline, topic: &str, role: &str, bytes: &[u8]) {
    publish_record(pipeline, topic, role, bytes, None).await;
}

/// As `aegis-trainer publish --key` sends a record: with its signature's headers.
async fn publish_signed(
    pipeline: &Pipeline,
    topic: &str,
    role: &str,
    bytes: &[u8],
    signed: &aegis_core::signing::Signed,
) {
    publish_record(pipeline, topic, role, bytes, Some(signed)).await;
}

async fn publish_record(
    pipeline: &Pipeline,
    topic: &str,
    role: &str,
    bytes: &[u8],
    signed: Option<&aegis_core::signing::Signed>,
) {
    // As `aegis-trainer publish` sends them: compressed, so a 2.5 MB artifact fits the brokers'
    // default 1 MB message limit.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .set("compression.type", "gzip")
        .set("message.max.bytes", "67108864")
        .create()
        .unwrap();
    let mut record = FutureRecord::to(topic).key(role).payload(bytes);
    if let Some(signed) = signed {
        record = record.headers(aegis_kafka::signed::headers(signed));
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

fn payments(prefix: &str, n: usize) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            let amount = 10.0 + (i % 50) as f64;
            transaction(
                &format!("{prefix}-{i}"),
                &format!("C{prefix}{}", i % 97),
                TxType::Payment,
                amount,
                1_000.0,
                1_000.0 - amount,
            )
        })
        .collect()
}

/// GET /v1/model of a replica.
async fn model_view(replica: &Replica) -> serde_json::Value {
    let api = aegis_scorer::http::routes(replica.replica.clone());
    let response = warp::test::request().path("/v1/model").reply(&api).await;
    assert_eq!(response.status(), 200);
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_model_replaces_the_live_one_between_batches_under_load() {
    let pipeline = Pipeline::start().await;
    let topic = models_topic(&pipeline).await;
    let (a, b) = models();
    let config = ScorerConfig {
        models_topic: topic.clone(),
        batch_size: 20,
        ..pipeline.scorer_config("models-swap")
    };
    let replica = Replica::start(config);
    replica.wait_for_partitions().await;
    assert_eq!(
        model_view(&replica).await["live"]["model_version"],
        a.model_version()
    );

    // Steady load: 40 rounds of 50 transactions; B is published after round 10, a corrupt model
    // after round 25.
    let txs = payments("swap", 2_000);
    for (round, chunk) in txs.chunks(50).enumerate() {
        pipeline.publish_transactions(chunk).await;
        if round == 10 {
            publish_model(&pipeline, &topic, "live", &b.to_bytes()).await;
        }
        if round == 25 {
            let mut corrupt = b.to_bytes();
            corrupt.truncate(corrupt.len() / 2);
            publish_model(&pipeline, &topic, "live", &corrupt).await;
            publish_model(&pipeline, &topic, "canary", &b.to_bytes()).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (messages, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len(), "one verdict per transaction");
    assert!(
        pipeline
            .read(&pipeline.dlq, 1, Duration::from_secs(2))
            .is_empty(),
        "nothing dead-lettered"
    );
    // Per partition, in the order written: A's verdicts, then B's — never A again after B.
    let mut by_partition: HashMap<i32, Vec<String>> = HashMap::new();
    for m in &messages {
        let (v, _) = aegis_core::avro::AvroCodec::verdict()
            .decode(m.payload().unwrap())
            .unwrap();
        by_partition
            .entry(m.partition())
            .or_default()
            .push(v.model_version);
    }
    for (partition, versions) in &by_partition {
        let first_b = versions
            .iter()
            .position(|v| *v == b.model_version())
            .unwrap_or_else(|| panic!("partition {partition} never saw model B"));
        assert!(
            versions[..first_b].iter().all(|v| *v == a.model_version())
                && versions[first_b..].iter().all(|v| *v == b.model_version()),
            "partition {partition}: {versions:?}"
        );
    }
    let early = verdicts["swap-0"].model_version.clone();
    let late = verdicts["swap-1999"].model_version.clone();
    assert_eq!(
        (early, late),
        (a.model_version().to_owned(), b.model_version().to_owned())
    );

    // The swap and the refusals show in the metrics and in GET /v1/model.
    let metrics = &replica.replica.metrics;
    assert_eq!(metrics.model_updates(Role::Live, false), 1);
    assert_eq!(metrics.model_updates(Role::Live, true), 1);
    let text = metrics.render();
    assert!(
        text.contains(&format!(
            "aegis_model_info{{model_version=\"{}\"}} 1",
            b.model_version()
        )) && !text.contains(&format!("model_version=\"{}\"", a.model_version())),
        "{text}"
    );
    assert!(text.contains("aegis_model_updates_total{outcome=\"refused\",role=\"unknown\"} 1"));
    let view = model_view(&replica).await;
    assert_eq!(view["live"]["model_version"], b.model_version());
    assert_eq!(view["live"]["origin"]["kind"], "topic");
    assert_eq!(view["live"]["block_threshold"], 0.9);
    assert!(view["shadow"].is_null());
    let stats = replica.stop().await;
    assert_eq!(stats.dead_letters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_later_scores_with_the_published_model() {
    let pipeline = Pipeline::start().await;
    let topic = models_topic(&pipeline).await;
    let (a, b) = models();
    // An older record first: the topic is read to its end, so the last one wins.
    publish_model(&pipeline, &topic, "live", &a.to_bytes()).await;
    publish_model(&pipeline, &topic, "live", &b.to_bytes()).await;
    let replica = Replica::start(ScorerConfig {
        models_topic: topic.clone(),
        ..pipeline.scorer_config("models-late")
    });
    replica.wait_for_partitions().await;
    let txs = payments("late", 50);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len());
    assert!(
        verdicts
            .values()
            .all(|v| v.model_version == b.model_version()),
        "every verdict from the published model"
    );
    let view = model_view(&replica).await;
    assert_eq!(view["live"]["origin"]["offset"], 1);
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_model_is_scored_beside_the_live_one_and_only_measured() {
    let pipeline = Pipeline::start().await;
    let topic = models_topic(&pipeline).await;
    let shadow_topic = unique_topic("shadow");
    pipeline.broker.create_topics(&[(&shadow_topic, 4)]).await;
    let (live, _) = models();
    // A shadow that blocks everything: its every disagreement with the live model is visible.
    let shadow = live
        .clone()
        .with_thresholds(Thresholds::new(0.0, 0.0).unwrap());
    let replica = Replica::start(ScorerConfig {
        models_topic: topic.clone(),
        shadow_topic: shadow_topic.clone(),
        ..pipeline.scorer_config("models-shadow")
    });
    replica.wait_for_partitions().await;
    publish_model(&pipeline, &topic, "shadow", &shadow.to_bytes()).await;
    let mut view = serde_json::Value::Null;
    for _ in 0..100 {
        view = model_view(&replica).await;
        if !view["shadow"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["shadow"]["model_version"], shadow.model_version());
    assert_eq!(view["live"]["model_version"], live.model_version());

    let mut txs = payments("shadow", 100);
    txs.push(transaction(
        "shadow-takeover",
        "C99",
        TxType::Transfer,
        181_000.0,
        181_000.0,
        0.0,
    ));
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len());
    assert!(verdicts
        .values()
        .all(|v| v.model_version == live.model_version()));
    let allowed = verdicts
        .values()
        .filter(|v| v.decision == aegis_core::Decision::Allow)
        .count() as u64;
    assert!(allowed >= 90, "the live model allows the payments");

    let shadows = pipeline.read(&shadow_topic, txs.len(), Duration::from_secs(60));
    assert_eq!(
        shadows.len(),
        txs.len(),
        "one shadow verdict per transaction"
    );
    for m in &shadows {
        let (v, _) = aegis_core::avro::AvroCodec::verdict()
            .decode(m.payload().unwrap())
            .unwrap();
        assert_eq!(v.model_version, shadow.model_version());
        assert_eq!(v.decision, aegis_core::Decision::Block);
        assert_eq!(verdicts[&v.tx_id].account, v.account);
    }
    let metrics = &replica.replica.metrics;
    use aegis_core::Decision::{Allow, Block};
    assert_eq!(metrics.shadow_agreement(Allow, Block), allowed);
    assert_eq!(metrics.shadow_agreement(Block, Block), 1);
    assert!(metrics.render().contains(&format!(
        "aegis_shadow_model_info{{model_version=\"{}\"}} 1",
        shadow.model_version()
    )));

    // A tombstone retires the shadow: later transactions get no shadow verdict.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&topic).key("shadow"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    for _ in 0..100 {
        if model_view(&replica).await["shadow"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let more = payments("after", 20);
    pipeline.publish_transactions(&more).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len() + more.len());
    assert_eq!(verdicts.len(), txs.len() + more.len());
    let shadows = pipeline.read(&shadow_topic, txs.len() + 1, Duration::from_secs(3));
    assert_eq!(shadows.len(), txs.len(), "no shadow verdicts once retired");
    replica.stop().await;
}

#[test]
fn threshold_flags_make_a_model_whose_version_names_its_thresholds() {
    let from_file = Model::load(model()).unwrap();
    let config = ScorerConfig {
        review_threshold: Some(0.3),
        ..Pipeline::config_without_broker()
    };
    let overridden = aegis_scorer::load_model(&config).unwrap();
    assert_eq!(overridden.thresholds().review, 0.3);
    assert_ne!(overridden.model_version(), from_file.model_version());
    // The version is the one its content hashes to: the artifact reloads under it.
    let reloaded =
        Model::from_bytes(std::path::Path::new("overridden"), &overridden.to_bytes()).unwrap();
    assert_eq!(reloaded.model_version(), overridden.model_version());
    // Without overrides the model is the file's.
    let same = aegis_scorer::load_model(&Pipeline::config_without_broker()).unwrap();
    assert_eq!(same.model_version(), from_file.model_version());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_model_signed_by_a_trusted_key_is_installed_while_traffic_flows() {
    use aegis_core::signing::{Artifact, Refusal, SigningKeyFile};

    let keys = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let key = SigningKeyFile::generate().unwrap();
        let (private, public) = (
            keys.path().join(format!("{name}.key")),
            keys.path().join(format!("{name}.pub")),
        );
        key.write(&private, &public).unwrap();
        (key, public)
    };
    let (trusted, trusted_pub) = make("trusted");
    let (stranger, _) = make("stranger");

    let pipeline = Pipeline::start().await;
    let topic = models_topic(&pipeline).await;
    let (a, b) = models();
    let replica = Replica::start(ScorerConfig {
        models_topic: topic.clone(),
        trusted_keys: Some(trusted_pub),
        allow_unsigned: false,
        batch_size: 20,
        ..pipeline.scorer_config("models-signed")
    });
    replica.wait_for_partitions().await;

    // Under load: B signed by a stranger, B unsigned, B with a byte flipped after signing — each
    // refused, A scoring on — then B signed by the trusted key, installed.
    let b_bytes = b.to_bytes();
    let txs = payments("signed", 1_500);
    for (round, chunk) in txs.chunks(50).enumerate() {
        pipeline.publish_transactions(chunk).await;
        match round {
            5 => {
                let signed = stranger.sign(Artifact::Model, "live", &b_bytes);
                publish_signed(&pipeline, &topic, "live", &b_bytes, &signed).await;
            }
            8 => publish_model(&pipeline, &topic, "live", &b_bytes).await,
            11 => {
                let signed = trusted.sign(Artifact::Model, "live", &b_bytes);
                let mut flipped = b_bytes.clone();
                let middle = flipped.len() / 2;
                flipped[middle] ^= 0x01;
                publish_signed(&pipeline, &topic, "live", &flipped, &signed).await;
            }
            20 => {
                let signed = trusted.sign(Artifact::Model, "live", &b_bytes);
                publish_signed(&pipeline, &topic, "live", &b_bytes, &signed).await;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(
        verdicts.len(),
        txs.len(),
        "one verdict per transaction: none lost"
    );
    let metrics = replica.replica.metrics.clone();
    for refusal in [
        Refusal::UnknownSigner,
        Refusal::Unsigned,
        Refusal::BadSignature,
    ] {
        assert_eq!(
            metrics.control_refusals(Artifact::Model, refusal),
            1,
            "{refusal:?}"
        );
    }
    // A scored until the trusted B arrived: the refused records changed nothing.
    assert_eq!(verdicts["signed-0"].model_version, a.model_version());
    assert_eq!(verdicts["signed-599"].model_version, a.model_version());
    assert_eq!(verdicts["signed-1499"].model_version, b.model_version());
    assert_eq!(
        metrics.model_updates(Role::Live, false),
        1,
        "installed once"
    );
    replica.stop().await;
}

#[test]
fn a_replica_reading_control_topics_needs_keys_or_allow_unsigned() {
    let config = ScorerConfig {
        models_topic: "models".to_owned(),
        rules_topic: "rules".to_owned(),
        allow_unsigned: false,
        trusted_keys: None,
        ..Pipeline::config_without_broker()
    };
    let err = aegis_scorer::ReplicaState::new(&config)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("--trusted-keys") && err.contains("--allow-unsigned"),
        "{err}"
    );
    let without_topics = ScorerConfig {
        models_topic: String::new(),
        rules_topic: String::new(),
        ..config
    };
    aegis_scorer::ReplicaState::new(&without_topics).unwrap();
}
