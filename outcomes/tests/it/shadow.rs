//! A shadow model published with `aegis-trainer publish --role shadow` while the scorer runs:
//! replayed PaySim rows with labels after a delay give, in the outcome service, live outcomes
//! (written) and shadow outcomes (only measured) whose confusion counts are, each, those of
//! `aegis-trainer evaluate` on the same rows with that role's model; the outcomes topic holds the
//! live ones alone.

use std::sync::Arc;

use aegis_core::paysim::PaysimReader;
use aegis_core::{Decision, Model};
use aegis_outcomes::join::Role;
use aegis_outcomes::quality::Confusion;
use aegis_outcomes::OutcomesConfig;
use aegis_scorer::ReplicaState;
use aegis_trainer::publish::{self, PublishArgs};
use tokio_util::sync::CancellationToken;

use crate::end_to_end::{sample, scorer_config};
use crate::*;

/// What `aegis-trainer evaluate` decides for the rows of `csv` with `model`, as confusion counts.
fn evaluate(model: &Path, csv: &Path) -> Confusion {
    let model = Model::load(model).unwrap();
    let mut confusion = Confusion::default();
    for p in aegis_trainer::evaluate::predict(&model, csv).unwrap() {
        confusion.add(p.decision, p.is_fraud);
    }
    confusion
}

/// The sum of the `aegis_outcomes_total` series of `role` in a `/metrics` text.
fn outcomes_of(metrics: &str, role: &str) -> u64 {
    let role = format!("role=\"{role}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("aegis_outcomes_total{") && l.contains(&role))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn get(addr: &str, path: &str) -> String {
    let (addr, path) = (addr.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            return String::new();
        };
        let _ = write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_outcomes_are_measured_beside_the_live_ones_and_equal_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample(dir.path());
    let n = PaysimReader::open(&csv).unwrap().count();
    let expected_live = evaluate(model(), &csv);
    let expected_shadow = evaluate(shadow_model(), &csv);
    assert_ne!(
        expected_live, expected_shadow,
        "the two models decide differently on the sample"
    );
    assert!(expected_shadow.get(Decision::Block, true) > 0);

    let broker = Broker::start();
    let topics = Topics::create(&broker).await;
    let models_topic = unique_topic("models");
    broker.create_topics(&[(&models_topic, 1)]).await;

    // The scorer reads the models topic; the live model is its --model file.
    let scorer_cancel = CancellationToken::new();
    let config = aegis_scorer::ScorerConfig {
        models_topic: models_topic.clone(),
        shadow_topic: topics.shadow.clone(),
        ..scorer_config(&broker, &topics)
    };
    let replica = Arc::new(ReplicaState::new(&config).unwrap());
    let scorer = tokio::spawn(aegis_scorer::stream::run(
        config,
        replica.clone(),
        scorer_cancel.clone(),
    ));

    // `aegis-trainer publish --role shadow`, then wait for the replica to install it.
    let args = PublishArgs::model(
        publish::ModelsTopicArgs::new(broker.bootstrap(), models_topic.clone()),
        shadow_model().to_owned(),
        Role::Shadow,
    );
    tokio::task::spawn_blocking(move || publish::run(&args))
        .await
        .unwrap()
        .unwrap();
    let shadow_version = Model::load(shadow_model())
        .unwrap()
        .model_version()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while replica.models.shadow().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let installed = replica.models.shadow().expect("shadow installed");
    assert_eq!(installed.model_version(), shadow_version);

    // The outcome service, in process, reading verdicts, labels and shadow verdicts.
    let http = format!("127.0.0.1:{}", free_port());
    let outcomes_config = OutcomesConfig {
        group_id: unique_topic("outcomes"),
        verdicts_topic: topics.verdicts.clone(),
        labels_topic: topics.labels.clone(),
        shadow_verdicts_topic: topics.shadow.clone(),
        outcomes_topic: topics.outcomes.clone(),
        join_window: 120,
        http_addr: http.parse().unwrap(),
        ..OutcomesConfig::new(broker.bootstrap())
    };
    let outcomes_cancel = CancellationToken::new();
    let service = tokio::spawn(aegis_outcomes::run(
        outcomes_config,
        outcomes_cancel.clone(),
    ));

    let producer = aegis_producer::ProducerConfig {
        replay: Some(csv.clone()),
        rate: Some(100.0),
        label_delay: Some(std::time::Duration::from_secs(1)),
        labels_topic: topics.labels.clone(),
        ..aegis_producer::ProducerConfig::new(broker.bootstrap(), topics.transactions.clone())
    };
    let summary = tokio::task::spawn_blocking(move || {
        aegis_producer::run(
            &producer,
            aegis_producer::Counters::new(),
            &CancellationToken::new(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((summary.sent, summary.labels_sent), (n as u64, n as u64));

    // Every labelled transaction gets a live and a shadow outcome.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut metrics = String::new();
    while Instant::now() < deadline {
        metrics = get(&http, "/metrics").await;
        if outcomes_of(&metrics, "live") >= n as u64 && outcomes_of(&metrics, "shadow") >= n as u64
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for series in [
        "aegis_outcomes_precision_ratio{flagged=\"block\",role=\"shadow\"}",
        "aegis_outcomes_window_outcomes{role=\"shadow\"}",
        "aegis_outcomes_received_total{side=\"shadow_verdict\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    outcomes_cancel.cancel();
    let measured = service.await.unwrap().unwrap();
    assert_eq!(
        measured.confusion(Role::Live),
        expected_live,
        "live outcomes: the confusion counts of evaluate with the live model"
    );
    assert_eq!(
        measured.confusion(Role::Shadow),
        expected_shadow,
        "shadow outcomes: the confusion counts of evaluate with the shadow model"
    );

    // Only live outcomes are written, each with the live model's version.
    let live_version = Model::load(model()).unwrap().model_version().to_owned();
    let written = tokio::task::block_in_place(|| {
        read_outcomes(&broker, &topics.outcomes, Duration::from_secs(30), |o| {
            o.len() >= n
        })
    });
    assert_eq!(by_tx_id(&written).len(), n);
    assert!(written.iter().all(|(_, o)| o.model_version == live_version));

    scorer_cancel.cancel();
    scorer.await.unwrap().unwrap();
}
