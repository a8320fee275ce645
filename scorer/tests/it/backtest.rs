//! The backtest decides as the live scorer does: the same PaySim rows — 400 of a sample and two
//! account takeovers — through `aegis-trainer backtest`'s decision code and through a scorer on
//! the broker get the same decision, the same rules and the same probability, bit for bit; and
//! the backtest of the topics those rows went through (`--brokers --since`, with their labels
//! published) reports what the backtest of the CSV does.

use std::path::PathBuf;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::paysim::PaysimReader;
use aegis_core::rules::RuleSet;
use aegis_core::{Decision, Label, Model, Transaction};
use aegis_scorer::ScorerConfig;
use aegis_trainer::backtest::BacktestArgs;
use aegis_trainer::export::ExportArgs;
use aegis_trainer::history::KafkaHistoryArgs;

use aegis_testkit::unique_topic;

use crate::{model, Pipeline, Replica, PARTITIONS};

fn repository(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backtest_decides_every_row_as_the_live_scorer_does() {
    // 400 sample rows in step order, then a probe and a drain of two accounts in step 120.
    let sample = std::fs::read_to_string(repository("data/paysim_mixed_steps_1-119.csv")).unwrap();
    let mut lines = sample.lines();
    let header = lines.next().unwrap();
    let mut rows: Vec<&str> = lines.take(400).collect();
    rows.sort_by_key(|line| line.split(',').next().unwrap().parse::<u32>().unwrap());
    let mut csv = format!("{header}\n{}\n", rows.join("\n"));
    for (account, share) in [("C9000001", 1.0), ("C9000002", 0.95)] {
        let amount: f64 = 181_000.0 * share;
        csv.push_str(&format!(
            "120,PAYMENT,9.5,{account},181009.5,181000.0,M5551,0.0,0.0,0,0\n\
             120,TRANSFER,{amount:.2},{account},181000.0,{:.2},C1,0.0,0.0,1,0\n",
            181_000.0 - amount
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.csv");
    std::fs::write(&history, csv).unwrap();
    let txs: Vec<Transaction> = PaysimReader::open(&history)
        .unwrap()
        .map(|row| row.unwrap().transaction)
        .collect();
    assert_eq!(txs.len(), 404);

    let rules_file = repository("deploy/rules/default.json");
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(ScorerConfig {
        rules: Some(rules_file.clone()),
        ..pipeline.scorer_config("backtest")
    });
    replica.wait_for_partitions().await;
    pipeline.publish_transactions(&txs).await;
    let (_, live) = pipeline.read_verdicts(txs.len());
    assert_eq!(live.len(), txs.len());
    replica.stop().await;

    let model = Model::load(model()).unwrap();
    let rules = RuleSet::from_json(&std::fs::read(&rules_file).unwrap()).unwrap();
    let offline = aegis_trainer::backtest::decide_history(&model, &rules, &history).unwrap();
    assert_eq!(offline.len(), txs.len());
    for decided in &offline {
        let (want, got) = (&decided.verdict, &live[&decided.verdict.tx_id]);
        assert_eq!(
            (want.decision, &want.rules, want.fraud_probability.to_bits()),
            (got.decision, &got.rules, got.fraud_probability.to_bits()),
            "{} backtest {want:?}, live {got:?}",
            want.tx_id
        );
        // The same explanation, contribution for contribution.
        assert_eq!(want.explanation, got.explanation, "{}", want.tx_id);
    }
    // The takeovers were exercised, and the report counts the rule's hits and their precision.
    let report = aegis_trainer::backtest::judge(&model, &rules, &offline);
    let rule = &report.rule_hits[0];
    assert_eq!(
        (rule.name.as_str(), rule.hits, rule.frauds),
        ("drain_after_probe", 2, 2)
    );
    assert_eq!(rule.precision.map(|p| p.value), Some(1.0));
    let blocked = report
        .decisions
        .iter()
        .find(|d| d.decision == Decision::Block)
        .unwrap();
    assert!(blocked.count >= 2, "{report:?}");

    // The same history read back from the topics (`--brokers --since`), each transaction given
    // the label published for it, reports the same.
    let labels = unique_topic("labels");
    pipeline
        .broker
        .create_topics(&[(&labels, PARTITIONS)])
        .await;
    let published: Vec<(String, Vec<u8>)> = txs
        .iter()
        .map(|tx| {
            let label = Label {
                tx_id: tx.tx_id.clone(),
                is_fraud: tx.is_fraud.unwrap(),
                labelled_at: aegis_core::clock::now_ms(),
                source: Some("replay".to_owned()),
                event_time: Some(tx.event_time),
            };
            let value = AvroCodec::label()
                .encode(&label, Framing::SingleObject)
                .unwrap();
            (tx.name_orig.clone(), value)
        })
        .collect();
    pipeline.publish_to(&labels, &published).await;
    let from_csv = BacktestArgs {
        model: crate::model().to_owned(),
        rules: Some(rules_file.clone()),
        data: Some(history.clone()),
        kafka: Default::default(),
        from: None,
        until: None,
        against_model: None,
        against_rules: None,
        json: false,
    };
    let from_kafka = BacktestArgs {
        data: None,
        kafka: KafkaHistoryArgs {
            brokers: Some(pipeline.broker.bootstrap()),
            since: Some("1h".to_owned()),
            transactions_topic: pipeline.input.clone(),
            labels_topic: labels,
            ..Default::default()
        },
        ..from_csv.clone()
    };
    let (csv_report, kafka_report) = (
        aegis_trainer::backtest::backtest(&from_csv).unwrap(),
        aegis_trainer::backtest::backtest(&from_kafka).unwrap(),
    );
    assert!(
        kafka_report
            .data
            .contains("404 transactions (404 labelled)"),
        "{}",
        kafka_report.data
    );
    let figures = |r: &aegis_trainer::backtest::Report| {
        let mut value = serde_json::to_value(r).unwrap();
        value.as_object_mut().unwrap().remove("data");
        value
    };
    assert_eq!(figures(&kafka_report), figures(&csv_report));
    assert_eq!(kafka_report.labelled, 404);

    // What the topics learnt, exported as training data: the same rows and labels as the CSV.
    let exported = dir.path().join("exported.csv");
    let export = ExportArgs {
        spec: None,
        out: exported.clone(),
        kafka: from_kafka.kafka.clone(),
    };
    let written = aegis_trainer::export::export(&export).unwrap();
    assert_eq!((written.rows, written.unlabelled), (404, 0));
    let key = |tx: &Transaction| {
        format!(
            "{}|{}|{}|{}|{:?}",
            tx.step, tx.name_orig, tx.amount, tx.new_balance_orig, tx.is_fraud
        )
    };
    let mut back: Vec<String> = PaysimReader::open(&exported)
        .unwrap()
        .map(|row| key(&row.unwrap().transaction))
        .collect();
    let mut want: Vec<String> = txs.iter().map(key).collect();
    back.sort();
    want.sort();
    assert_eq!(back, want);
    assert_eq!(
        written.frauds,
        txs.iter().filter(|t| t.is_fraud == Some(true)).count()
    );

    // Against the model alone: what the rules change is the takeover the model lets through.
    let args = aegis_trainer::backtest::BacktestArgs {
        model: crate::model().to_owned(),
        rules: Some(rules_file),
        data: Some(history),
        kafka: Default::default(),
        from: None,
        until: None,
        against_model: Some(crate::model().to_owned()),
        against_rules: None,
        json: false,
    };
    let changes = aegis_trainer::backtest::backtest(&args)
        .unwrap()
        .against
        .unwrap();
    assert!(changes.changed >= 1, "{changes:?}");
    assert!(
        changes
            .moves
            .iter()
            .all(|m| m.to == Decision::Block && m.frauds == m.rows),
        "{changes:?}"
    );
    assert!(changes
        .examples
        .iter()
        .all(|e| e.rules_to == ["drain_after_probe"]));
    // The takeovers the rule blocks carry the model's explanation, and the report shows it.
    let explanation = changes.examples[0].explanation_to.as_ref().unwrap();
    assert!((explanation.total() - explanation.raw_score).abs() <= 1e-9);
    let report = aegis_trainer::backtest::render(&aegis_trainer::backtest::Report {
        against: Some(changes.clone()),
        ..report
    });
    let top = &explanation.contributions[0];
    assert!(
        report.contains(&format!(
            "    largest contributions: {} = {} ({:+.3})",
            top.feature, top.value, top.contribution
        )),
        "{report}"
    );
}
