//! The HTTP server under abuse, on a real socket: connections and requests in flight over their
//! caps get a 503 with `Retry-After`, bodies are refused at the limit while they are read, slow
//! clients are cut off by the read timeout, and each refusal is counted by reason. Then access:
//! bearer tokens for the protected routes, as the OpenAPI document says, the live page working
//! with a token (in headless Chromium), and account ids masked on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::{Decision, TxType, Verdict};
use aegis_scorer::http::access::Access;
use aegis_scorer::http::{routes_with, serve, Settings, PROTECTED};
use aegis_scorer::metrics::HttpRejection;
use aegis_scorer::{HttpFlags, ReplicaState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::{run_page_check, Pipeline};

const TAKEOVER: &str = r#"{"type":"TRANSFER","amount":181000.0,"name_orig":"C1305486145",
    "old_balance_orig":181000.0,"new_balance_orig":0.0,"name_dest":"C553264065",
    "old_balance_dest":0.0,"new_balance_dest":0.0}"#;

/// Longest any one step below may take before the test fails rather than hangs (a guard, not a
/// timing assertion).
const GUARD: Duration = Duration::from_secs(20);

fn replica() -> Arc<ReplicaState> {
    Arc::new(ReplicaState::new(&Pipeline::config_without_broker()).unwrap())
}

/// A server with `settings` on a loopback port; stopped when the returned token fires.
async fn server(
    replica: Arc<ReplicaState>,
    settings: Settings,
) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(serve(listener, replica, settings, stop.clone()));
    (addr, stop, handle)
}

/// Reads an answer's head until the blank line (or the end); `None` when the connection closed
/// without one.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(GUARD, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            Ok(_) => break,
            Err(_) => panic!("no answer within {GUARD:?}"),
        }
    }
    (!head.is_empty()).then(|| String::from_utf8_lossy(&head).into_owned())
}

fn status(head: &str) -> u16 {
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Sends `request` on a new connection and returns the answer's head.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut stream).await.expect("an answer")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
}

fn post(body: &str) -> String {
    format!(
        "POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_gets_a_503_with_retry_after_then_room_comes_back() {
    let s = replica();
    let settings = Settings {
        max_connections: 2,
        ..Settings::default()
    };
    let (addr, stop, handle) = server(s.clone(), settings).await;
    // Two keep-alive connections hold the two places.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(status(&read_head(&mut stream).await.unwrap()), 200);
        held.push(stream);
    }
    let refused = exchange(addr, &get("/healthz")).await;
    assert_eq!(status(&refused), 503, "{refused}");
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    assert_eq!(s.metrics.http_rejections(HttpRejection::Connections), 1);
    drop(held.pop());
    // The place is freed once the server has seen the close: ask until it has.
    let mut answer = refused;
    for _ in 0..100 {
        answer = exchange(addr, &post(TAKEOVER)).await;
        if status(&answer) != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status(&answer), 200, "{answer}");
    stop.cancel();
    drop(held);
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_in_flight_cap_gets_a_503_but_probes_and_metrics_still_answer() {
    let s = replica();
    let settings = Settings {
        max_in_flight: 1,
        ..Settings::default()
    };
    let (addr, stop, handle) = server(s.clone(), settings).await;
    // One request in flight: its head sent, its body not yet.
    let body = TAKEOVER.as_bytes();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    // Wait until the server counts it in flight.
    for _ in 0..500 {
        if s.metrics
            .render()
            .contains("aegis_http_requests_in_flight 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = exchange(addr, &post(TAKEOVER)).await;
    assert_eq!(status(&refused), 503, "{refused}");
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    let live = exchange(addr, &get("/api/live")).await;
    assert_eq!(
        status(&live),
        503,
        "every route but the probes and metrics is gated"
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(status(&exchange(addr, &get(path)).await), 200, "{path}");
    }
    assert_eq!(s.metrics.http_rejections(HttpRejection::InFlight), 2);
    // The slow one finishes and is scored.
    slow.write_all(&body[10..]).await.unwrap();
    assert_eq!(status(&read_head(&mut slow).await.unwrap()), 200);
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_refused_at_the_limit_not_read_to_its_end() {
    let s = replica();
    let (addr, stop, handle) = server(s.clone(), Settings::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/score HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // Up to 64 MiB offered in 64 KiB chunks; the server answers once 4 MiB have passed and stops
    // reading, so the writes stop being taken.
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        let mut sent = 0u64;
        for _ in 0..1024 {
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 0x10000;
        }
        sent
    });
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(GUARD, reader.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed without an answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert_eq!(status(&head), 413, "{head}");
    drop(reader);
    let sent = tokio::time::timeout(GUARD, writing).await.unwrap().unwrap();
    assert!(sent < 64 << 20, "the server read the whole 64 MiB");
    assert_eq!(s.metrics.http_rejections(HttpRejection::BodyTooLarge), 1);
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_by_the_read_timeout() {
    let s = replica();
    let settings = Settings {
        read_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let (addr, stop, handle) = server(s.clone(), settings).await;
    // A head that never ends: the connection is closed without an answer.
    let mut loris = TcpStream::connect(addr).await.unwrap();
    loris
        .write_all(b"POST /v1/score HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(GUARD, loris.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection stays open");
    let answered = String::from_utf8_lossy(&rest);
    assert!(!answered.contains("200"), "{answered}");
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status(&read_head(&mut idle).await.unwrap()), 200);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(GUARD, idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection stays open");
    // A body that does not all come: 408.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"type\":")
        .await
        .unwrap();
    let head = read_head(&mut slow).await.unwrap();
    assert_eq!(status(&head), 408, "{head}");
    assert!(s.metrics.http_rejections(HttpRejection::ReadTimeout) >= 2);
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_taking_its_answers_is_cut_off() {
    let s = replica();
    let settings = Settings {
        read_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let (addr, stop, handle) = server(s.clone(), settings).await;
    // Twenty 1.4 MB answers asked for at once, none read: more than the sockets' buffers hold.
    let bundle = "/docs/swagger-ui-bundle.js";
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {bundle} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream
        .write_all(request.repeat(20).as_bytes())
        .await
        .unwrap();
    let mut cut = false;
    for _ in 0..(GUARD.as_millis() / 50) {
        if s.metrics.http_rejections(HttpRejection::WriteTimeout) == 1 {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cut, "the server still waits for the client after {GUARD:?}");
    // What had been sent before is there; then the end.
    let mut received = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut received))
        .await
        .unwrap()
        .ok();
    let one = warp::test::request()
        .path(bundle)
        .reply(&aegis_scorer::http::routes(s.clone()))
        .await
        .body()
        .len();
    assert!(
        received.len() < 20 * one,
        "all {} bytes were sent",
        received.len()
    );
    stop.cancel();
    handle.await.unwrap();
}

/// A token file holding `tokens`, and the settings it gives.
fn with_tokens(tokens: &[&str], show_ids: bool) -> (tempfile::NamedTempFile, Settings) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), tokens.join("\n")).unwrap();
    let flags = HttpFlags {
        api_token_file: Some(file.path().to_owned()),
        live_show_ids: show_ids,
        ..HttpFlags::default()
    };
    let settings = Settings::from_flags(&flags).unwrap();
    (file, settings)
}

const TOKEN: &str = "test-token-0123456789abcdef";

#[tokio::test]
async fn with_a_token_file_the_protected_routes_need_a_bearer_token_and_the_rest_stay_open() {
    let s = replica();
    let (_file, settings) = with_tokens(&["old-token-0123456789abcdef", TOKEN], false);
    let api = routes_with(s.clone(), settings);
    let request = |path: &str, authorization: Option<&str>| {
        let mut request = match path {
            "/v1/score" => warp::test::request().method("POST").body(TAKEOVER),
            "/v1/labels" => warp::test::request()
                .method("POST")
                .body(r#"{"tx_id": "none", "is_fraud": true}"#),
            _ => warp::test::request(),
        }
        .path(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request
    };
    for path in PROTECTED {
        let refused = request(path, None).reply(&api).await;
        assert_eq!(refused.status(), 401, "{path}");
        assert_eq!(
            refused.headers()["www-authenticate"],
            r#"Bearer realm="aegis""#
        );
        let error: Value = serde_json::from_slice(refused.body()).unwrap();
        assert_eq!(
            error["error"],
            "a bearer token is required: send Authorization: Bearer <token>"
        );
        let wrong = request(path, Some("Bearer not-the-token-0123456789"))
            .reply(&api)
            .await;
        assert_eq!(wrong.status(), 401, "{path}");
        assert_eq!(
            wrong.headers()["www-authenticate"],
            r#"Bearer realm="aegis", error="invalid_token""#
        );
        for token in [TOKEN, "old-token-0123456789abcdef"] {
            let admitted = request(path, Some(&format!("Bearer {token}")))
                .reply(&api)
                .await;
            // Admitted: without a labels topic, labelling answers that it is off.
            let expected = if path == "/v1/labels" { 503 } else { 200 };
            assert_eq!(admitted.status(), expected, "{path}");
        }
    }
    assert_eq!(
        s.metrics.http_rejections(HttpRejection::Unauthorized),
        2 * PROTECTED.len() as u64
    );
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/docs",
        "/openapi.json",
    ] {
        let open = warp::test::request().path(path).reply(&api).await;
        assert_eq!(open.status(), 200, "{path} stays open");
    }
}

#[tokio::test]
async fn the_document_lists_a_401_exactly_where_a_token_is_required() {
    let (_file, settings) = with_tokens(&[TOKEN], false);
    let api = routes_with(replica(), settings);
    let doc = warp::test::request()
        .path("/openapi.json")
        .reply(&api)
        .await;
    let doc: Value = serde_json::from_slice(doc.body()).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let operations = item.as_object().unwrap().iter();
        for (method, operation) in operations.filter(|(m, _)| methods.contains(&m.as_str())) {
            let documented = operation["responses"].get("401").is_some();
            let answer = warp::test::request()
                .method(&method.to_uppercase())
                .path(path)
                .body("{}")
                .reply(&api)
                .await;
            assert_eq!(
                answer.status() == 401,
                documented,
                "{method} {path}: {} while the document {} a 401",
                answer.status(),
                if documented { "lists" } else { "lists no" }
            );
            assert!(
                operation["responses"].get("503").is_some(),
                "{method} {path}"
            );
            if documented {
                // A token or none: none is needed without --api-token-file.
                assert_eq!(
                    operation["security"],
                    serde_json::json!([{}, {"bearer": []}]),
                    "{method} {path}"
                );
            }
        }
    }
}

fn verdict(account: &str) -> Verdict {
    Verdict {
        tx_id: "t-1".into(),
        account: account.into(),
        amount: 181_000.0,
        tx_type: TxType::Transfer,
        event_time: 1,
        fraud_probability: 0.99,
        decision: Decision::Block,
        reasons: vec!["type is TRANSFER".into()],
        model_version: "rf".into(),
        scored_at: 2,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    }
}

#[tokio::test]
async fn the_live_data_masks_account_ids_unless_told_to_show_them() {
    let s = replica();
    s.live.record(&verdict("C1305486145"));
    for (show_ids, expected) in [(false, "…6145"), (true, "C1305486145")] {
        let settings = Settings {
            access: Access {
                tokens: None,
                show_ids,
            },
            ..Settings::default()
        };
        let answer = warp::test::request()
            .path("/api/live")
            .reply(&routes_with(s.clone(), settings))
            .await;
        let live: Value = serde_json::from_slice(answer.body()).unwrap();
        assert_eq!(
            live["log"][0]["account"], expected,
            "--live-show-ids {show_ids}"
        );
        assert_eq!(live["log"][0]["tx_id"], "t-1");
    }
    // The default routes (and the flag's default) mask.
    let answer = warp::test::request()
        .path("/api/live")
        .reply(&aegis_scorer::http::routes(s))
        .await;
    let live: Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(live["log"][0]["account"], "…6145");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_works_with_a_token_from_its_form_or_the_url_fragment() {
    // With a token file, then (the usual case) without one.
    let (_file, with) = with_tokens(&[TOKEN], false);
    for (settings, token) in [(with, Some(TOKEN)), (Settings::default(), None)] {
        let (addr, stop, handle) = server(replica(), settings).await;
        let mut args = vec![format!("http://{addr}")];
        args.extend(token.map(str::to_owned));
        run_page_check("check-live-token.mjs", args).await;
        stop.cancel();
        handle.await.unwrap();
    }
}
