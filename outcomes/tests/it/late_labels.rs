//! Issue 30 item 5: a label 30 days late (event time), after 100,000 other transactions, meets
//! its verdict. The verdicts are written straight to the verdicts topic with the broker
//! timestamps a scorer gives them (scored just after the event), the service holds at most
//! 10,000 entries, so the verdict has long left the in-memory join when its label comes: it is
//! found in the verdicts topic from the label's event time. A label older than the horizon, one
//! whose verdict is not there and one without an event time are counted and not joined.

use std::time::{Duration, Instant};

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::clock::now_ms;
use aegis_core::{Decision, Label, TxType, Verdict};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::*;

const DAY_MS: i64 = 86_400_000;
const OTHERS: usize = 100_000;
const EARLIER: usize = 2_000;

fn verdict(tx_id: &str, account: &str, event_time: i64) -> Verdict {
    Verdict {
        tx_id: tx_id.into(),
        account: account.into(),
        amount: 250.0,
        tx_type: TxType::Transfer,
        event_time,
        fraud_probability: 0.2,
        decision: Decision::Allow,
        reasons: vec![],
        model_version: "rf-late".into(),
        scored_at: event_time + 40,
        rules: vec!["new_payee_probe".into()],
        features: Vec::new(),
        explanation: None,
    }
}

/// Writes each verdict with the broker timestamp a scorer would give it (its scored_at).
async fn publish_verdicts(producer: &FutureProducer, topic: &str, verdicts: &[Verdict]) {
    for chunk in verdicts.chunks(10_000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for v in chunk {
            let value = AvroCodec::verdict()
                .encode(v, Framing::SingleObject)
                .unwrap();
            let record = FutureRecord::to(topic)
                .key(v.account.as_bytes())
                .payload(&value)
                .timestamp(v.scored_at);
            pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for delivery in pending {
            delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
    }
}

async fn publish_label(producer: &FutureProducer, topic: &str, account: &str, label: &Label) {
    let value = AvroCodec::label()
        .encode(label, Framing::SingleObject)
        .unwrap();
    producer
        .send(
            FutureRecord::to(topic).key(account).payload(&value),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// Waits until `series` reaches `at_least`; its last value.
async fn await_metric(service: &OutcomesProcess, series: &str, at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = service.metric(series);
        if seen.is_some_and(|v| v >= at_least) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    seen.unwrap_or_else(|| panic!("no {series}:\n{}", service.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_30_days_late_after_100_000_other_transactions_is_joined() {
    let started = Instant::now();
    let broker = Broker::start();
    let topics = Topics::create(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let service = OutcomesProcess::start_with(
        &broker,
        &topics,
        "late-labels",
        dir.path().join("log"),
        &["--join-window", "1s", "--max-pending", "10000"],
    );
    let producer: FutureProducer = aegis_kafka::Settings::reliable_producer()
        .set("linger.ms", 20)
        .client_config(&broker.bootstrap(), &[])
        .create()
        .unwrap();

    // Its transaction happened 30 days ago; before it, 2,000 others (and one 40 days ago),
    // after it 100,000 others spread over the 30 days since.
    let now = now_ms();
    let event_time = now - 30 * DAY_MS;
    let mut verdicts = vec![verdict("ancient", "C-ancient", now - 40 * DAY_MS)];
    verdicts.extend((0..EARLIER).map(|i| {
        verdict(
            &format!("e-{i}"),
            &format!("C{i}"),
            event_time - 3_600_000 + i as i64,
        )
    }));
    verdicts.push(verdict("late", "C-late", event_time));
    let step = (30 * DAY_MS - 60_000) / OTHERS as i64;
    verdicts.extend((0..OTHERS).map(|i| {
        verdict(
            &format!("o-{i}"),
            &format!("C{}", i % 5_000),
            event_time + 1_000 + step * i as i64,
        )
    }));
    publish_verdicts(&producer, &topics.verdicts, &verdicts).await;
    let written = started.elapsed();

    // The service has read them all; at most --max-pending wait: the verdict has been evicted.
    let read = await_metric(
        &service,
        r#"aegis_outcomes_received_total{side="verdict"}"#,
        verdicts.len() as f64,
    )
    .await;
    assert_eq!(read, verdicts.len() as f64);
    let pending = service
        .metric(r#"aegis_outcomes_pending{role="live",side="verdict"}"#)
        .unwrap();
    assert!(pending <= 10_000.0, "{pending} verdicts waiting");

    let label = |tx_id: &str, event_time: i64| Label {
        tx_id: tx_id.into(),
        is_fraud: true,
        labelled_at: now_ms(),
        source: Some("chargeback".into()),
        event_time: Some(event_time),
    };
    publish_label(
        &producer,
        &topics.labels,
        "C-late",
        &label("late", event_time),
    )
    .await;
    publish_label(
        &producer,
        &topics.labels,
        "C-ancient",
        &label("ancient", now - 40 * DAY_MS),
    )
    .await;
    // No verdict: the lookup reads from the event time to an hour after it (--late-label-max-lag).
    let never_scored = label("never-scored", event_time);
    publish_label(&producer, &topics.labels, "C-late", &never_scored).await;
    let mut unknown_time = label("e-7", 0);
    unknown_time.event_time = None;
    publish_label(&producer, &topics.labels, "C7", &unknown_time).await;

    let outcomes = read_outcomes(&broker, &topics.outcomes, Duration::from_secs(120), |o| {
        o.iter().any(|(_, o)| o.tx_id == "late")
    });
    let joined = by_tx_id(&outcomes);
    let outcome = joined
        .get("late")
        .unwrap_or_else(|| panic!("the late label was not joined:\n{}", service.log()));
    assert_eq!(outcome.event_time, event_time);
    assert!(outcome.is_fraud);
    assert_eq!(outcome.label_source.as_deref(), Some("chargeback"));
    assert_eq!(outcome.rules_fired, ["new_payee_probe"]);
    assert!(outcome.verdict_to_label_ms >= 30 * DAY_MS - 60_000);
    for unjoined in ["ancient", "never-scored", "e-7"] {
        assert!(!joined.contains_key(unjoined), "{unjoined}");
    }
    let series = |result: &str| format!(r#"aegis_outcomes_late_labels_total{{result="{result}"}}"#);
    assert_eq!(await_metric(&service, &series("joined"), 1.0).await, 1.0);
    assert_eq!(
        await_metric(&service, &series("beyond_horizon"), 1.0).await,
        1.0
    );
    assert_eq!(await_metric(&service, &series("not_found"), 1.0).await, 1.0);
    assert_eq!(
        await_metric(&service, &series("no_event_time"), 1.0).await,
        1.0
    );
    assert_eq!(service.metric(&series("scan_limit")), Some(0.0));
    // Counted by its source.
    let by_source =
        r#"aegis_outcomes_total{decision="ALLOW",label="fraud",role="live",source="chargeback"}"#;
    assert_eq!(await_metric(&service, by_source, 1.0).await, 1.0);
    let scanned = service
        .metric("aegis_outcomes_late_label_verdicts_scanned_total")
        .unwrap();
    // Both lookups seek by time: they read the verdicts of their partition within the hour
    // after the event (about 35 of the 100,000 on it), not the 2,000 before nor those after.
    assert!(
        scanned < 100.0,
        "{scanned} verdicts read: the lookups seek by time rather than reading from the start"
    );
    assert!(
        service.log().contains("older than --label-horizon"),
        "{}",
        service.log()
    );
    eprintln!("late-label lookups read {scanned} verdicts");
    eprintln!(
        "{} verdicts written in {written:?}; late label joined after {:?}",
        verdicts.len(),
        started.elapsed()
    );
}
