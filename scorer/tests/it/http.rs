//! The HTTP API: replica with the stream's model and thresholds, errors that name the field,
//! health and readiness, and metrics after real traffic.

use std::sync::Arc;

use aegis_core::paysim::PaysimReader;
use aegis_core::verdict::Explanation;
use aegis_core::{features, DeadLetterReason, Transaction, TxType};
use aegis_scorer::http::api::{score_body, MAX_BATCH, MAX_BODY_BYTES};
use aegis_scorer::http::routes;
use aegis_scorer::ReplicaState;
use serde_json::{json, Value};

use crate::{data, live_snapshot, transaction, Pipeline, Replica};

fn replica() -> Arc<ReplicaState> {
    Arc::new(ReplicaState::new(&Pipeline::config_without_broker()).unwrap())
}

async fn post(replica: &Arc<ReplicaState>, body: &str) -> (u16, Value) {
    let response = warp::test::request()
        .method("POST")
        .path("/v1/score")
        .body(body)
        .reply(&routes(replica.clone()))
        .await;
    let json = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), json)
}

const TAKEOVER: &str = r#"{"type":"TRANSFER","amount":181000.0,"name_orig":"C1305486145",
    "old_balance_orig":181000.0,"new_balance_orig":0.0,"name_dest":"C553264065",
    "old_balance_dest":0.0,"new_balance_dest":0.0}"#;

#[tokio::test]
async fn takeover_transfer_is_blocked_with_reasons() {
    let s = replica();
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
    assert_eq!(verdict["model_version"], s.models.live().model_version());
    assert_eq!(verdict["account"], "C1305486145");
    // Its explanation: the features that moved the raw score, largest first, and what they sum to.
    let explanation: Explanation = serde_json::from_value(verdict["explanation"].clone()).unwrap();
    let top = &explanation.contributions[0];
    assert!(top.contribution > 0.0, "{explanation:?}");
    assert!(s.models.live().features().contains(&top.feature));
    assert!((explanation.total() - explanation.raw_score).abs() <= 1e-9);
}

#[tokio::test]
async fn every_flagged_answer_explains_its_raw_score_to_1e_9() {
    let s = replica();
    let model = s.models.live();
    let txs: Vec<Transaction> = PaysimReader::open(&data("paysim_fraud_enriched_steps_1-400.csv"))
        .unwrap()
        .map(|r| r.unwrap().transaction)
        .collect();
    let (mut flagged, mut allowed) = (0, 0);
    for chunk in txs.chunks(2_000) {
        let (status, answer) = post(&s, &serde_json::to_string(chunk).unwrap()).await;
        assert_eq!(status, 200, "{answer}");
        for (tx, verdict) in chunk.iter().zip(answer.as_array().unwrap()) {
            if verdict["decision"] == "ALLOW" {
                assert!(verdict["explanation"].is_null(), "{verdict}");
                allowed += 1;
                continue;
            }
            flagged += 1;
            let e: Explanation = serde_json::from_value(verdict["explanation"].clone()).unwrap();
            // The raw score is the forest's own, computed apart from the contributions, and the
            // probability is its calibration.
            let row = features::extract(tx);
            assert_eq!(e.raw_score.to_bits(), model.raw_score(&row).to_bits());
            assert_eq!(
                model.calibrated(e.raw_score),
                verdict["fraud_probability"].as_f64().unwrap()
            );
            assert!(
                (e.total() - e.raw_score).abs() <= 1e-9,
                "{}: base {} + contributions = {}, raw score {}",
                tx.tx_id,
                e.base_score,
                e.total(),
                e.raw_score
            );
            for c in &e.contributions {
                assert_eq!(
                    c.value,
                    row[features::index_of(&c.feature).unwrap()],
                    "{c:?}"
                );
            }
        }
    }
    // The sample keeps every fraud of its steps: many rows are flagged, most are not.
    assert!(
        flagged > 1_000 && allowed > 1_000,
        "{flagged} flagged, {allowed} allowed"
    );
}

#[tokio::test]
async fn arrays_score_in_order_with_the_stream_thresholds() {
    let s = replica();
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
    assert_eq!(s.models.live().thresholds().decide(p).as_str(), "BLOCK");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let s = replica();
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
    // A full batch fits the body limit; one row more is refused by count, and a body over the
    // limit by size.
    let full = format!("[{}]", vec![TAKEOVER; MAX_BATCH].join(","));
    assert!(full.len() as u64 <= MAX_BODY_BYTES);
    let (status, verdicts) = post(&s, &full).await;
    assert_eq!(status, 200);
    assert_eq!(verdicts.as_array().map(Vec::len), Some(MAX_BATCH));
    let over = format!("[{}]", vec![TAKEOVER; MAX_BATCH + 1].join(","));
    let (status, error) = post(&s, &over).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (
            400,
            Some("10001 transactions in one request; at most 10000")
        )
    );
    let huge = format!("[{}]", vec![TAKEOVER; 40_000].join(","));
    assert!(huge.len() as u64 > MAX_BODY_BYTES);
    let (status, _) = post(&s, &huge).await;
    assert_eq!(status, 413, "bodies are bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_after_traffic() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(pipeline.scorer_config("http"));
    let api = routes(replica.replica.clone());
    let healthz = warp::test::request().path("/healthz").reply(&api).await;
    assert_eq!(healthz.status(), 200);

    replica.wait_for_partitions().await;
    let readyz = warp::test::request().path("/readyz").reply(&api).await;
    assert_eq!(readyz.status(), 200, "{:?}", readyz.body());
    let body: Value = serde_json::from_slice(readyz.body()).unwrap();
    assert_eq!(
        body["partitions"].as_array().map(Vec::len),
        Some(4),
        "{body}"
    );

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
    let dead_letter_line = format!(
        r#"aegis_dlq_messages_total{{reason="{}"}} 1"#,
        DeadLetterReason::UnknownMagic
    );
    for line in [
        r#"aegis_transactions_scored_total{decision="BLOCK",type="TRANSFER"} 1"#,
        r#"aegis_transactions_scored_total{decision="ALLOW",type="PAYMENT"} 1"#,
        r#"aegis_transaction_amount_total{decision="BLOCK"} 181000"#,
        dead_letter_line.as_str(),
        "aegis_transactions_received_total 3",
        "aegis_event_to_verdict_seconds_count 2",
        "aegis_scoring_duration_seconds_count",
        "aegis_assigned_partitions 4",
        // Every binary's build and process metrics (aegis_kafka::build_info).
        "aegis_build_info{git_sha=",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains(&format!(
        "aegis_model_info{{model_version=\"{}\"}} 1",
        replica.replica.models.live().model_version()
    )));
    replica.stop().await;
}

#[tokio::test]
async fn a_replica_without_partitions_is_ready_and_scores() {
    // No broker at all: no partitions will ever be assigned (a replica beyond the partition
    // count, or mid-rebalance, is in the same place). It is ready, and scores.
    let s = replica();
    let readyz = warp::test::request()
        .path("/readyz")
        .reply(&routes(s.clone()))
        .await;
    assert_eq!(readyz.status(), 200, "{:?}", readyz.body());
    let body: Value = serde_json::from_slice(readyz.body()).unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["partitions"], json!([]));
    assert_eq!(body["model_version"], s.models.live().model_version());
    let (status, verdict) = post(&s, TAKEOVER).await;
    assert_eq!((status, verdict["decision"].as_str()), (200, Some("BLOCK")));
    // The stream's health is a metric instead.
    let metrics = warp::test::request()
        .path("/metrics")
        .reply(&routes(s))
        .await;
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(text.contains("aegis_assigned_partitions 0"), "{text}");
}

#[tokio::test]
async fn openapi_describes_every_endpoint_and_validates_as_openapi_3() {
    let api = routes(replica());
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
    let api = routes(replica());
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
        let (feed, stop) = (replica.replica.live.clone(), stop.clone());
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

    let api = routes(replica.replica.clone());
    let snapshot = live_snapshot(&replica.replica, 21).await;
    assert_eq!(snapshot["total"], 21, "{snapshot}");
    assert_eq!(snapshot["blocked"], 1);
    assert_eq!(snapshot["blocked_amount"], 181_000.0);
    assert_eq!(snapshot["points"].as_array().unwrap().len(), 21);
    let log = snapshot["log"].as_array().unwrap();
    assert_eq!(log[0]["tx_id"], "l-takeover");
    assert_eq!(log[0]["decision"], "BLOCK");
    assert!(!log[0]["reasons"].as_array().unwrap().is_empty());
    let explanation: Explanation = serde_json::from_value(log[0]["explanation"].clone()).unwrap();
    assert!(
        explanation.contributions[0].contribution > 0.0,
        "{explanation:?}"
    );
    let rate = snapshot["fraud_rate_pct"].as_f64().unwrap();
    assert!((rate - 100.0 / 21.0).abs() < 1e-9, "{rate}");

    let page = warp::test::request().path("/").reply(&api).await;
    assert_eq!(page.status(), 200);
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(html.contains("/api/live") && html.contains("Running log"));
    assert!(html.contains("v.explanation") && html.contains("top contributions"));
    assert!(
        !html.contains("http://") || html.contains("http://www.w3.org/2000/svg"),
        "no external resources"
    );

    stop.cancel();
    follower.await.unwrap().unwrap();
    replica.stop().await;
}

/// `TAKEOVER` with one field's JSON value replaced by raw text (or the field removed).
fn with_field(field: &str, raw: Option<&str>) -> String {
    let mut json: serde_json::Map<String, Value> = serde_json::from_str(TAKEOVER).unwrap();
    json.remove(field);
    let mut body = Value::Object(json).to_string();
    if let Some(raw) = raw {
        body.insert_str(1, &format!("\"{field}\":{raw},"));
    }
    body
}

#[tokio::test]
async fn hostile_bodies_are_a_400_naming_the_problem() {
    let s = replica();
    let nested = "[".repeat(10_000);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "EOF while parsing a value"),
        ("null".into(), "invalid type: null"),
        ("42".into(), "invalid type: integer `42`"),
        ("\"TRANSFER\"".into(), "invalid type: string"),
        // 10,000 levels: refused at the second, no recursion.
        (nested, "[0][0]: invalid type: sequence"),
        (format!("{TAKEOVER} trailing"), "trailing characters"),
        // Two objects: the second must not be silently dropped.
        (format!("{TAKEOVER}{TAKEOVER}"), "trailing characters"),
        (format!("[{TAKEOVER}]]"), "trailing characters"),
        (format!("\u{feff}{TAKEOVER}"), "expected value"),
        (with_field("amount", Some("NaN")), "expected value"),
        (
            with_field("amount", Some("\"NaN\"")),
            "amount: invalid type: string \"NaN\"",
        ),
        (with_field("amount", Some("Infinity")), "expected value"),
        (with_field("amount", Some("1e309")), "number out of range"),
        (
            with_field("amount", Some("-1e308")),
            "amount: is beyond ±1e15",
        ),
        (
            with_field("amount", Some("1e308")),
            "amount: is beyond ±1e15, the largest accepted (1e308)",
        ),
        (
            with_field("new_balance_orig", Some("-1.7976931348623157e308")),
            "new_balance_orig: is beyond ±1e15",
        ),
        (
            with_field("old_balance_dest", Some("1000000000000000.1")),
            "old_balance_dest: is beyond ±1e15",
        ),
        (
            with_field("amount", Some("-0.01")),
            "amount: is negative (-0.01)",
        ),
        (
            with_field("amount", Some("null")),
            "amount: invalid type: null",
        ),
        (
            with_field("amount", Some("[1]")),
            "amount: invalid type: sequence",
        ),
        (with_field("amount", None), "missing field `amount`"),
        (
            with_field("old_balance_dest", Some("{}")),
            "old_balance_dest: invalid type: map",
        ),
        (
            with_field("event_time", Some("1e30")),
            "event_time: 1e+30 is not an integer",
        ),
        (
            with_field("event_time", Some("9223372036854775808")),
            "event_time: 9223372036854775808 is not an integer",
        ),
        (
            with_field("step", Some("2147483648")),
            "step: 2147483648 is out of range",
        ),
        (
            with_field("type", Some("\"transfer\"")),
            "type: unknown variant `transfer`",
        ),
        (with_field("type", Some("7")), "type: expected value"),
        (
            with_field("name_orig", Some("\"  \"")),
            "name_orig: is empty",
        ),
        (
            with_field("name_orig", Some("1305486145")),
            "name_orig: invalid type: integer",
        ),
        (with_field("name_dest", None), "missing field `name_dest`"),
        (
            with_field("is_fraud", Some("\"yes\"")),
            "is_fraud: invalid type: string",
        ),
        (with_field("tx_id", Some("\"\"")), "tx_id: is empty"),
        (
            TAKEOVER.replacen('{', r#"{"amount":1,"#, 1),
            "duplicate field `amount`",
        ),
        (
            format!("[{TAKEOVER},42]"),
            "[1]: invalid type: integer `42`",
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = post(&s, &body).await;
        let message = error["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{body:?}: {error}");
        assert!(
            message.contains(expected),
            "{body:.80}: {message:?} should contain {expected:?}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    let not_utf8 = warp::test::request()
        .method("POST")
        .path("/v1/score")
        .body(b"{\"type\":\"\xff\"}")
        .reply(&routes(s.clone()))
        .await;
    assert_eq!(not_utf8.status(), 400);
    assert_eq!(
        serde_json::from_slice::<Value>(not_utf8.body()).unwrap()["error"],
        "body is not UTF-8 JSON"
    );
}

#[tokio::test]
async fn extreme_but_valid_numbers_score_with_a_probability() {
    let s = replica();
    for (field, raw) in [
        ("amount", "1e15"),
        ("old_balance_orig", "1e15"),
        ("new_balance_orig", "-1e15"),
        ("old_balance_dest", "-1e15"),
        ("amount", "5e-324"),
        ("amount", "-0.0"),
        ("event_time", "-9223372036854775808"),
        ("step", "-2147483648"),
    ] {
        let (status, verdict) = post(&s, &with_field(field, Some(raw))).await;
        assert_eq!(status, 200, "{field}={raw}: {verdict}");
        let p = verdict["fraud_probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{field}={raw}: {verdict}");
    }
    // The largest balance errors the bounds allow (3 × 10^15) still give a score.
    let extreme = TAKEOVER
        .replace("\"amount\":181000.0", "\"amount\":1e15")
        .replace("\"new_balance_orig\":0.0", "\"new_balance_orig\":1e15")
        .replace("\"old_balance_dest\":0.0", "\"old_balance_dest\":1e15");
    let (status, verdict) = post(&s, &extreme).await;
    assert_eq!(status, 200, "{verdict}");
    assert!(verdict["fraud_probability"].as_f64().is_some(), "{verdict}");
}

#[tokio::test]
async fn request_level_mistakes_get_their_own_4xx_as_json() {
    let api = routes(replica());
    // No body: an empty one, which is no JSON. (The limit is enforced while reading, so a body
    // of unknown length — chunked — is read too, up to the limit.)
    let without_body = warp::test::request()
        .method("POST")
        .path("/v1/score")
        .reply(&api)
        .await;
    assert_eq!(without_body.status(), 400);
    let error: Value = serde_json::from_slice(without_body.body()).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("EOF while parsing a value"),
        "{error}"
    );

    let get = warp::test::request().path("/v1/score").reply(&api).await;
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let error: Value = serde_json::from_slice(get.body()).unwrap();
    assert_eq!(error["error"], "method not allowed");

    // Trailing whitespace is valid JSON: the body is padded to the limit and one byte over it.
    let limit = MAX_BODY_BYTES as usize;
    let at_limit = TAKEOVER.to_owned() + &" ".repeat(limit - TAKEOVER.len());
    let over_limit = at_limit.clone() + " ";
    let (status, _) = post(&replica(), &at_limit).await;
    assert_eq!(status, 200, "a body of exactly the limit is read");
    let (status, error) = post(&replica(), &over_limit).await;
    assert_eq!(status, 413);
    assert_eq!(error["error"], "body larger than 4194304 bytes");
}

#[tokio::test]
async fn every_405_names_the_allowed_methods_and_other_paths_are_404() {
    let api = routes(replica());
    for (method, path, allow) in [
        ("GET", "/v1/score", "POST"),
        ("PUT", "/v1/score", "POST"),
        ("POST", "/metrics", "GET"),
        ("DELETE", "/healthz", "GET"),
        ("POST", "/readyz", "GET"),
        ("POST", "/api/live", "GET"),
        ("POST", "/openapi.json", "GET"),
        ("POST", "/", "GET"),
        ("POST", "/docs", "GET"),
        ("PATCH", "/docs/swagger-ui.css", "GET"),
        ("OPTIONS", "/docs/any-file.js", "GET"),
    ] {
        let response = warp::test::request()
            .method(method)
            .path(path)
            .reply(&api)
            .await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let error: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(error["error"], "method not allowed");
    }
    for path in [
        "/v1",
        "/v1/score/more",
        "/metrics/",
        "/docs/",
        "/docs/a/b",
        "/nope",
    ] {
        let response = warp::test::request().path(path).reply(&api).await;
        assert_eq!(response.status(), 404, "GET {path}");
        assert!(response.headers().get("allow").is_none(), "GET {path}");
    }
}

#[tokio::test]
async fn a_batch_scores_as_its_rows_do_one_at_a_time() {
    let s = replica();
    // Every type, frauds and legit rows, from the sample the model was trained on.
    let rows: Vec<Value> = PaysimReader::open(&data("paysim_fraud_enriched_steps_1-400.csv"))
        .unwrap()
        .take(300)
        .map(|r| serde_json::to_value(r.unwrap().transaction).unwrap())
        .collect();
    let (status, batch) = post(&s, &Value::from(rows.clone()).to_string()).await;
    assert_eq!(status, 200, "{batch}");
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), rows.len());
    let decisions: std::collections::BTreeSet<&str> = batch
        .iter()
        .filter_map(|v| v["decision"].as_str())
        .collect();
    assert!(
        decisions.len() > 1,
        "the rows get different decisions: {decisions:?}"
    );
    for (row, mut in_batch) in rows.iter().zip(batch.iter().cloned()) {
        let (status, mut alone) = post(&s, &row.to_string()).await;
        assert_eq!(status, 200, "{alone}");
        // Only the scoring time may differ.
        for verdict in [&mut in_batch, &mut alone] {
            verdict.as_object_mut().unwrap().remove("scored_at");
        }
        assert_eq!(in_batch, alone, "{row}");
    }
}

#[test]
fn a_batch_over_the_limit_is_refused_naming_the_limit() {
    // Over HTTP such a batch is over the 1 MiB body limit first (a 413): scored directly.
    let s = replica();
    let over = format!("[{}]", vec![TAKEOVER; MAX_BATCH + 1].join(","));
    let error = score_body(&s, over.as_bytes()).unwrap_err();
    assert_eq!(error, "10001 transactions in one request; at most 10000");
    let at_limit = format!("[{}]", vec![TAKEOVER; MAX_BATCH].join(","));
    assert!(score_body(&s, at_limit.as_bytes()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_requests_get_200_or_400_and_nothing_else() {
    let api = routes(replica());
    let bodies = [
        (TAKEOVER.to_owned(), 200),
        (with_field("amount", Some("-5")), 400),
        (with_field("type", None), 400),
        ("{not json".to_owned(), 400),
    ];
    let requests = (0..10_000).map(|i| {
        let (api, (body, expected)) = (api.clone(), bodies[i % bodies.len()].clone());
        tokio::spawn(async move {
            let response = warp::test::request()
                .method("POST")
                .path("/v1/score")
                .body(body)
                .reply(&api)
                .await;
            let json: Value = serde_json::from_slice(response.body()).unwrap();
            (response.status().as_u16(), expected, json)
        })
    });
    let results = futures::future::join_all(requests).await;
    assert_eq!(results.len(), 10_000);
    for result in results {
        let (status, expected, json) = result.unwrap();
        assert_eq!(status, expected, "{json}");
        if status == 200 {
            assert_eq!(json["decision"], "BLOCK");
        } else {
            assert!(!json["error"].as_str().unwrap().is_empty());
        }
    }
}

/// One raw HTTP/1.1 exchange with a real server: the status code of the answer.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status in {answer:?}"))
}

fn raw_post(body: &str, content_length: usize) -> Vec<u8> {
    format!(
        "POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-length: {content_length}\r\n\
         connection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_refuses_oversized_and_malformed_requests_and_keeps_serving() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    // Room for the 1,000 clients below at once: the caps themselves are tested in limits.rs.
    let settings = aegis_scorer::http::Settings {
        max_connections: 1_100,
        max_in_flight: 1_100,
        ..Default::default()
    };
    let server = tokio::spawn(aegis_scorer::http::serve(
        listener,
        replica(),
        settings,
        stop.clone(),
    ));

    // A claimed 1 GiB body is refused from the headers alone: nothing is sent after them.
    assert_eq!(raw_exchange(addr, &raw_post("", 1 << 30)).await, 413);
    // A chunked body is read, within the limit: this one is no JSON.
    let chunked = "POST /v1/score HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\
                   connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(raw_exchange(addr, chunked.as_bytes()).await, 400);
    assert_eq!(raw_exchange(addr, b"NOT HTTP AT ALL\r\n\r\n").await, 400);
    assert_eq!(raw_exchange(addr, &raw_post("{", 1)).await, 400);

    // Many clients at once, valid and not: each gets its answer.
    let clients = (0..1_000usize).map(|i| {
        tokio::spawn(async move {
            let body = if i.is_multiple_of(2) {
                TAKEOVER.to_owned()
            } else {
                "[1]".to_owned()
            };
            raw_exchange(addr, &raw_post(&body, body.len())).await
        })
    });
    let statuses = futures::future::join_all(clients).await;
    for (i, status) in statuses.into_iter().enumerate() {
        assert_eq!(status.unwrap(), if i.is_multiple_of(2) { 200 } else { 400 });
    }
    let health = raw_exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(health, 200);
    stop.cancel();
    server.await.unwrap();
}

#[tokio::test]
async fn integral_numbers_are_integers_as_json_schema_says() {
    let s = replica();
    let with = |field: &str| TAKEOVER.replacen('{', &format!("{{{field},"), 1);
    // Python writes times as floats: `1109629542.0` is an integer to JSON Schema.
    let (status, verdict) = post(&s, &with(r#""event_time":1109629542000.0,"step":3.0"#)).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["event_time"], 1_109_629_542_000_i64);
    for (field, problem) in [
        (r#""event_time":1109629542000.5"#, "not an integer"),
        (r#""event_time":1e30"#, "not an integer"),
        (r#""step":4294967296"#, "out of range"),
        (r#""step":1.25"#, "not an integer"),
    ] {
        let (status, error) = post(&s, &with(field)).await;
        assert_eq!(status, 400, "{field}: {error}");
        assert!(
            error["error"].as_str().unwrap().contains(problem),
            "{field}: {error}"
        );
    }
}
