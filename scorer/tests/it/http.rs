//! The HTTP API: scoring with the stream's model and thresholds, errors that name the field,
//! health and readiness, and metrics after real traffic.

use std::sync::Arc;

use aegis_core::TxType;
use aegis_scorer::http::routes;
use aegis_scorer::Scoring;
use serde_json::{json, Value};

use crate::{transaction, Pipeline, Replica};

fn scoring() -> Arc<Scoring> {
    Arc::new(Scoring::new(&Pipeline::config_without_broker()).unwrap())
}

async fn post(scoring: &Arc<Scoring>, body: &str) -> (u16, Value) {
    let response = warp::test::request()
        .method("POST")
        .path("/v1/score")
        .body(body)
        .reply(&routes(scoring.clone()))
        .await;
    let json = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), json)
}

const TAKEOVER: &str = r#"{"type":"TRANSFER","amount":181000.0,"name_orig":"C1305486145",
    "old_balance_orig":181000.0,"new_balance_orig":0.0,"name_dest":"C553264065",
    "old_balance_dest":0.0,"new_balance_dest":0.0}"#;

#[tokio::test]
async fn takeover_transfer_is_blocked_with_reasons() {
    let s = scoring();
    let (status, verdict) = post(&s, TAKEOVER).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["decision"], "BLOCK");
    assert!(!verdict["reasons"].as_array().unwrap().is_empty());
    assert!(
        verdict["tx_id"].as_str().unwrap().starts_with("api-"),
        "tx_id filled in"
    );
    assert!(
        verdict["event_time"].as_i64().unwrap() > 0,
        "event_time filled in"
    );
    assert_eq!(verdict["model_version"], s.scorer.model().model_version);
    assert_eq!(verdict["account"], "C1305486145");
}

#[tokio::test]
async fn arrays_score_in_order_with_the_stream_thresholds() {
    let s = scoring();
    let payment = json!({"tx_id": "p1", "event_time": 5, "type": "PAYMENT", "amount": 23.5,
        "name_orig": "C1305486145", "old_balance_orig": 181023.5, "new_balance_orig": 181000.0,
        "name_dest": "M1", "old_balance_dest": 0.0, "new_balance_dest": 0.0});
    let body = format!("[{payment}, {TAKEOVER}]");
    let (status, verdicts) = post(&s, &body).await;
    assert_eq!(status, 200, "{verdicts}");
    let verdicts = verdicts.as_array().unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["tx_id"], "p1");
    assert_eq!(verdicts[0]["event_time"], 5);
    assert_eq!(verdicts[0]["decision"], "ALLOW");
    assert_eq!(verdicts[1]["decision"], "BLOCK");
    let p = verdicts[1]["fraud_probability"].as_f64().unwrap();
    assert_eq!(s.scorer.model().thresholds.decide(p).as_str(), "BLOCK");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let s = scoring();
    let cases = [
        (
            TAKEOVER.replace(r#""amount":181000.0,"#, ""),
            "missing field `amount`",
        ),
        (
            TAKEOVER.replace("181000.0,\"name_orig", "\"lots\",\"name_orig"),
            "amount: invalid type",
        ),
        (
            TAKEOVER.replace(r#""amount":181000.0"#, r#""amount":-5"#),
            "amount: is negative",
        ),
        (
            TAKEOVER.replace("TRANSFER", "WIRE"),
            "type: unknown variant `WIRE`",
        ),
        (
            TAKEOVER.replace(r#""name_dest""#, r#""colour":"red","name_dest""#),
            "unknown field `colour`",
        ),
        (
            format!(
                "[{TAKEOVER}, {}]",
                TAKEOVER.replace(r#""name_orig":"C1305486145""#, r#""name_orig":"""#)
            ),
            "[1].name_orig: is empty",
        ),
        ("{not json".to_owned(), "key must be a string"),
    ];
    for (body, expected) in cases {
        let (status, error) = post(&s, &body).await;
        assert_eq!(status, 400, "{body}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
    }
    let huge = format!("[{}]", vec![TAKEOVER; 9_000].join(","));
    let (status, _) = post(&s, &huge).await;
    assert_eq!(status, 413, "bodies are bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_after_traffic() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(pipeline.scorer_config("http"));
    let api = routes(replica.scoring.clone());
    let healthz = warp::test::request().path("/healthz").reply(&api).await;
    assert_eq!(healthz.status(), 200);

    replica.wait_for_partitions().await;
    let readyz = warp::test::request().path("/readyz").reply(&api).await;
    assert_eq!(readyz.status(), 200, "{:?}", readyz.body());

    let account = "C77";
    pipeline
        .publish_transactions(&[
            transaction("m-1", account, TxType::Payment, 23.5, 181_023.5, 181_000.0),
            transaction("m-2", account, TxType::Transfer, 181_000.0, 181_000.0, 0.0),
        ])
        .await;
    pipeline
        .publish(&[("C78".to_owned(), b"garbage".to_vec())])
        .await;
    pipeline.read_verdicts(2);
    // The acknowledgement task updates metrics right after the broker's acks.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let metrics = warp::test::request().path("/metrics").reply(&api).await;
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    for line in [
        r#"aegis_transactions_scored_total{decision="BLOCK",type="TRANSFER"} 1"#,
        r#"aegis_transactions_scored_total{decision="ALLOW",type="PAYMENT"} 1"#,
        r#"aegis_transaction_amount_total{decision="BLOCK"} 181000"#,
        r#"aegis_dlq_messages_total{reason="unknown_magic"} 1"#,
        "aegis_transactions_received_total 3",
        "aegis_event_to_verdict_seconds_count 2",
        "aegis_scoring_duration_seconds_count",
        "aegis_assigned_partitions 4",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains(&format!(
        "aegis_model_info{{model_version=\"{}\"}} 1",
        replica.scoring.scorer.model().model_version
    )));
    replica.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_endpoint_and_validates_as_openapi_3() {
    let api = routes(scoring());
    let response = warp::test::request()
        .path("/openapi.json")
        .reply(&api)
        .await;
    assert_eq!(response.status(), 200);
    let doc: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/v1/score", "/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is described");
    }
    let request = &doc["components"]["schemas"]["ScoreRequest"]["properties"];
    for field in [
        "type",
        "amount",
        "name_orig",
        "old_balance_orig",
        "new_balance_dest",
        "tx_id",
    ] {
        let description = request[field]["description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "{field} is documented");
    }
    assert!(doc["components"]["schemas"]["Verdict"]["properties"]["reasons"].is_object());

    // A real validator, installed by scripts/setup.
    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.aegis/venv/bin/openapi-spec-validator");
    assert!(
        validator.exists(),
        "{} is missing: run scripts/setup",
        validator.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, response.body()).unwrap();
    let out = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn docs_page_and_its_files_are_served_by_the_scorer() {
    let api = routes(scoring());
    let page = warp::test::request().path("/docs").reply(&api).await;
    assert_eq!(page.status(), 200);
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("/openapi.json"));
    let bundle = warp::test::request()
        .path("/docs/swagger-ui-bundle.js")
        .reply(&api)
        .await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.body().len() > 1_000_000);
    assert_eq!(bundle.headers()["content-type"], "application/javascript");
    let missing = warp::test::request()
        .path("/docs/nope.js")
        .reply(&api)
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_page_shows_totals_scatter_points_and_the_flagged_log() {
    let pipeline = Pipeline::start().await;
    let config = pipeline.scorer_config("live");
    let replica = Replica::start(config.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let follower = tokio::spawn({
        let (feed, stop) = (replica.scoring.live.clone(), stop.clone());
        async move { aegis_scorer::live::follow(&config, feed, stop).await }
    });
    let mut txs: Vec<_> = (0..20)
        .map(|i| {
            transaction(
                &format!("l-{i}"),
                &format!("C5{i}"),
                TxType::Payment,
                30.0 + i as f64,
                900.0,
                870.0 - i as f64,
            )
        })
        .collect();
    txs.push(transaction(
        "l-takeover",
        "C99",
        TxType::Transfer,
        181_000.0,
        181_000.0,
        0.0,
    ));
    pipeline.publish_transactions(&txs).await;
    pipeline.read_verdicts(txs.len());

    let api = routes(replica.scoring.clone());
    let mut snapshot = Value::Null;
    for _ in 0..100 {
        let response = warp::test::request().path("/api/live").reply(&api).await;
        snapshot = serde_json::from_slice(response.body()).unwrap();
        if snapshot["total"] == 21 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(snapshot["total"], 21, "{snapshot}");
    assert_eq!(snapshot["blocked"], 1);
    assert_eq!(snapshot["blocked_amount"], 181_000.0);
    assert_eq!(snapshot["points"].as_array().unwrap().len(), 21);
    let log = snapshot["log"].as_array().unwrap();
    assert_eq!(log[0]["tx_id"], "l-takeover");
    assert_eq!(log[0]["decision"], "BLOCK");
    assert!(!log[0]["reasons"].as_array().unwrap().is_empty());
    let rate = snapshot["fraud_rate_pct"].as_f64().unwrap();
    assert!((rate - 100.0 / 21.0).abs() < 1e-9, "{rate}");

    let page = warp::test::request().path("/").reply(&api).await;
    assert_eq!(page.status(), 200);
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(html.contains("/api/live") && html.contains("Running log"));
    assert!(
        !html.contains("http://") || html.contains("http://www.w3.org/2000/svg"),
        "no external resources"
    );

    stop.cancel();
    follower.await.unwrap().unwrap();
    replica.stop().await;
}
