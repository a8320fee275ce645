//! `aegis-trainer publish` on a real broker: the checked artifact lands on the models topic under
//! its role and its history key, thresholds can change alone, and a bad model or a missing topic stops with one line
//! before anything is written.

use std::path::Path;
use std::time::Duration;

use aegis_core::Model;
use aegis_testkit::{unique_topic, Broker};
use rdkafka::consumer::BaseConsumer;
use rdkafka::{ClientConfig, Message};

use crate::{demo_model, stderr, trainer};

/// Every record of a one-partition topic: (key, value).
fn records(broker: &Broker, topic: &str) -> Vec<(String, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", unique_topic("reader"))
        .create()
        .unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    aegis_kafka::read_to_end(&consumer, topic, 0, deadline, |m| {
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        out.push((key, m.payload().unwrap_or_default().to_vec()));
    })
    .unwrap();
    out
}

/// Every case shares one broker (starting one takes seconds), hence the length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_puts_the_checked_model_on_the_topic_under_its_role() {
    let broker = Broker::start();
    let topic = unique_topic("models");
    broker.create_topics(&[(&topic, 1)]).await;
    let model = demo_model().to_str().unwrap();
    let publish = |extra: &[&str]| {
        let bootstrap = broker.bootstrap();
        let mut args = vec![
            "publish",
            "--brokers",
            &bootstrap,
            "--models-topic",
            &topic,
            "--timeout",
            "10s",
        ];
        args.extend_from_slice(extra);
        trainer(&args)
    };

    let run = publish(&["--model", model, "--role", "live"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let original = Model::load(demo_model()).unwrap();
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        out.starts_with(&format!("published {} ", original.model_version()))
            && out.contains(&format!("as live to {topic} [partition 0, offset 0]")),
        "{out}"
    );

    // Thresholds alone: the same forest, other thresholds, another version, as the shadow.
    let run = publish(&[
        "--model",
        model,
        "--role",
        "shadow",
        "--block-threshold",
        "0.95",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));

    let dir = tempfile::tempdir().unwrap();
    let corrupt =
        aegis_testkit::model_files::edited_model(demo_model(), dir.path(), "bad.model", |json| {
            json["thresholds"]["block"] = 0.5.into();
        });
    let run = publish(&["--model", corrupt.to_str().unwrap(), "--role", "live"]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.model") && err.contains("hashes to"),
        "{err}"
    );

    // Each model lands under its role, then under its history key, with the same bytes.
    let records = records(&broker, &topic);
    let keys: Vec<&str> = records.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys.len(),
        4,
        "the refused model never reached the topic: {keys:?}"
    );
    let (role, bytes) = &records[0];
    assert_eq!(role, "live");
    assert_eq!(
        Model::from_bytes(Path::new("record"), bytes)
            .unwrap()
            .model_version(),
        original.model_version()
    );
    assert_eq!(
        records[1],
        (
            format!("history/live/{}", original.model_version()),
            bytes.clone()
        )
    );
    let (role, bytes) = &records[2];
    assert_eq!(role, "shadow");
    let shadow = Model::from_bytes(Path::new("record"), bytes).unwrap();
    assert_eq!(shadow.thresholds().block, 0.95);
    assert_eq!(shadow.thresholds().review, original.thresholds().review);
    assert_ne!(shadow.model_version(), original.model_version());
    assert_eq!(
        records[3].0,
        format!("history/shadow/{}", shadow.model_version())
    );

    let bootstrap = broker.bootstrap();
    let run = trainer(&[
        "publish",
        "--brokers",
        &bootstrap,
        "--models-topic",
        "no-such-topic",
        "--timeout",
        "2s",
        "--model",
        model,
        "--role",
        "live",
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(
        err.trim().lines().last().unwrap().contains("no-such-topic"),
        "{err}"
    );

    rule_sets_are_checked_and_keyed_by_name(&broker, dir.path()).await;
}

/// A rule set, checked as a replica checks it, lands keyed by its name; a bad one stops with one
/// line and never reaches the topic.
async fn rule_sets_are_checked_and_keyed_by_name(broker: &Broker, dir: &Path) {
    let rules_topic = unique_topic("rules");
    broker.create_topics(&[(&rules_topic, 1)]).await;
    let bootstrap = broker.bootstrap();
    let publish_for = |rules: &Path, spec: &[&str]| {
        let mut args = vec![
            "publish",
            "--brokers",
            &bootstrap,
            "--rules-topic",
            &rules_topic,
            "--rules",
            rules.to_str().unwrap(),
        ];
        args.extend_from_slice(spec);
        trainer(&args)
    };
    let publish = |rules: &Path| publish_for(rules, &[]);
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seed = repository.join("deploy/rules/default.json");
    let run = publish(&seed);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(String::from_utf8_lossy(&run.stdout)
        .starts_with("published rule set default version 1 (1 rules)"));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"name":"default","version":2,"rules":[]}x"#).unwrap();
    let run = publish(&bad);
    assert!(!run.status.success());
    assert_eq!(stderr(&run).trim().lines().count(), 1, "{}", stderr(&run));
    // A spec's rule set is read against that spec: the card rules name card features, which
    // PaySim's rules cannot.
    let cards = repository.join("deploy/rules/cards.json");
    let run = publish(&cards);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("PaySim"), "{err}");
    let spec = repository.join("specs/cards.toml");
    let run = publish_for(&cards, &["--spec", spec.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    let rules_records = self::records(broker, &rules_topic);
    assert_eq!(rules_records.len(), 2);
    assert_eq!(rules_records[0].0, "default");
    let card_rules = aegis_core::rules::RuleSet::from_json_for(
        &rules_records[1].1,
        &aegis_core::spec::Spec::load(&spec).unwrap(),
    )
    .unwrap();
    assert_eq!(rules_records[1].0, card_rules.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_then_publish_key_signs_what_replicas_can_verify() {
    use aegis_core::signing::{Artifact, TrustedKeys};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("publisher");
    let run = trainer(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    let (private, public) = (
        dir.path().join("publisher.key"),
        dir.path().join("publisher.pub"),
    );
    // Never overwritten; kept on request.
    let again = trainer(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(!again.status.success());
    assert_eq!(
        stderr(&again).trim().lines().count(),
        1,
        "{}",
        stderr(&again)
    );
    let kept = trainer(&["keygen", "--out", out.to_str().unwrap(), "--keep-existing"]);
    assert!(kept.status.success(), "{}", stderr(&kept));

    let broker = Broker::start();
    let topic = unique_topic("models");
    broker.create_topics(&[(&topic, 1)]).await;
    let bootstrap = broker.bootstrap();
    let run = trainer(&[
        "publish",
        "--brokers",
        &bootstrap,
        "--models-topic",
        &topic,
        "--timeout",
        "10s",
        "--model",
        demo_model().to_str().unwrap(),
        "--role",
        "live",
        "--key",
        private.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("unsigned"), "{}", stderr(&run));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", unique_topic("reader"))
        .create()
        .unwrap();
    let trusted = TrustedKeys::load(&public).unwrap();
    let mut verified = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    aegis_kafka::read_to_end(&consumer, &topic, 0, deadline, |m| {
        let (signature, signer) = aegis_kafka::signed::signature_of(m);
        verified.push(trusted.verify(
            Artifact::Model,
            std::str::from_utf8(m.key().unwrap()).unwrap(),
            m.payload().unwrap(),
            signature,
            signer,
        ));
    })
    .unwrap();
    assert_eq!(verified.len(), 2, "the live record and its history record");
    assert!(verified.iter().all(Result::is_ok), "{verified:?}");
}
