//! The HTTP load test of issue 29: 2,000 slow and oversized clients against the scorer binary on a
//! real broker, for a while, reconnecting as soon as they are refused or cut off. Meanwhile
//! transactions go through the stream. Afterwards: the scorer's peak memory stayed within what
//! its HTTP caps allow, every transaction published during the abuse has its verdict, every
//! abusive request got a refusal (never a 5xx other than the 503 of a full server, never a
//! verdict), and the scorer still serves and drains cleanly on SIGTERM. No assertion on time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aegis_core::TxType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

use crate::process::RunningScorer;
use crate::{transaction, Pipeline};

/// Clients, each one of [`Kind`] by turn.
const CLIENTS: usize = 2_000;
/// How long they keep at it.
const ABUSE: Duration = Duration::from_secs(10);
/// The scorer's caps in this test: its defaults, spelled out because the memory bound below is
/// computed from them.
const MAX_CONNECTIONS: u64 = 512;
const MAX_IN_FLIGHT: u64 = 32;
/// Shorter than the default 10 s, so that slow clients are cut off several times within
/// [`ABUSE`] rather than once.
const READ_TIMEOUT_SECS: u64 = 2;
/// `aegis_scorer::http::api::MAX_BODY_BYTES`.
const MAX_BODY: u64 = 4 << 20;
/// The request head a connection may buffer (`http::server`'s `MAX_HEAD_BYTES`).
const MAX_HEAD: u64 = 64 << 10;
/// Transactions published while the abuse goes on.
const TRANSACTIONS: usize = 400;

/// What an abusive client does on each connection.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Sends a request head a line every 300 ms and never ends it (slow loris).
    SlowHead,
    /// Claims a 1 GiB body and sends as fast as it can.
    DeclaredHuge,
    /// Sends a chunked body as fast as it can, without end.
    ChunkedHuge,
    /// Claims a body of exactly the limit (so it is read) and sends 1 KiB every 100 ms.
    SlowBody,
    /// Sends a body of exactly the limit at once: 4 MiB of spaces, no JSON, read whole.
    FullBody,
}

const KINDS: [Kind; 5] = [
    Kind::SlowHead,
    Kind::DeclaredHuge,
    Kind::ChunkedHuge,
    Kind::SlowBody,
    Kind::FullBody,
];

/// 64 KiB of spaces: valid JSON whitespace, and a chunk.
static SPACES: [u8; 64 << 10] = [b' '; 64 << 10];

/// Resident and peak resident memory of process `pid`, in bytes (`/proc/PID/status`).
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const MIB: f64 = (1 << 20) as f64;

/// What `kind` writes on a connection, until the server stops taking it (the error).
async fn write(mut writer: OwnedWriteHalf, kind: Kind) -> std::io::Result<()> {
    let head = |extra: &str| format!("POST /v1/score HTTP/1.1\r\nhost: x\r\n{extra}");
    match kind {
        Kind::SlowHead => {
            writer.write_all(head("").as_bytes()).await?;
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                writer.write_all(b"x-slow: 1\r\n").await?;
            }
        }
        Kind::DeclaredHuge => {
            writer
                .write_all(head("content-length: 1073741824\r\n\r\n").as_bytes())
                .await?;
            loop {
                writer.write_all(&SPACES).await?;
            }
        }
        Kind::ChunkedHuge => {
            writer
                .write_all(head("transfer-encoding: chunked\r\n\r\n").as_bytes())
                .await?;
            loop {
                writer.write_all(b"10000\r\n").await?;
                writer.write_all(&SPACES).await?;
                writer.write_all(b"\r\n").await?;
            }
        }
        Kind::SlowBody => {
            let claimed = format!("content-length: {MAX_BODY}\r\n\r\n");
            writer.write_all(head(&claimed).as_bytes()).await?;
            loop {
                writer.write_all(&SPACES[..1024]).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Kind::FullBody => {
            let claimed = format!("content-length: {MAX_BODY}\r\n\r\n");
            writer.write_all(head(&claimed).as_bytes()).await?;
            for _ in 0..MAX_BODY / SPACES.len() as u64 {
                writer.write_all(&SPACES).await?;
            }
            // Then wait for the answer (read on the other half).
            std::future::pending().await
        }
    }
}

/// One connection's worth of abuse; what the server answered (`"closed"` when it closed the
/// connection without an answer).
async fn abuse_once(addr: SocketAddr, kind: Kind) -> String {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return "connect failed".to_owned();
    };
    let (mut reader, writer) = stream.into_split();
    let writing = write(writer, kind);
    let reading = async move {
        let mut head = Vec::new();
        let mut buffer = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head).into_owned();
        match line.split(' ').nth(1) {
            Some(status) => status.to_owned(),
            None => "closed".to_owned(),
        }
    };
    tokio::pin!(writing);
    tokio::pin!(reading);
    tokio::select! {
        answer = &mut reading => answer,
        // The writer fails once the server has closed: what it answered before, if anything, is
        // read with a little grace.
        _ = &mut writing => tokio::time::timeout(Duration::from_millis(500), &mut reading)
            .await
            .unwrap_or_else(|_| "closed".to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_and_oversized_clients_leave_memory_bounded_and_the_stream_scoring() {
    let pipeline = Pipeline::start().await;
    let caps = [
        ("--http-max-connections", MAX_CONNECTIONS.to_string()),
        ("--http-max-in-flight", MAX_IN_FLIGHT.to_string()),
        ("--http-read-timeout", format!("{READ_TIMEOUT_SECS}s")),
    ];
    let args: Vec<String> = caps
        .iter()
        .flat_map(|(flag, value)| [flag.to_string(), value.clone()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut scorer = RunningScorer::spawn(&pipeline, "abuse", &args);
    let addr = scorer.http_addr(Duration::from_secs(60));
    let pid = scorer.pid();

    // Warm up: the stream scores, and the API answers a request of each size it accepts.
    let warm: Vec<_> = (0..100)
        .map(|i| {
            let id = format!("warm-{i}");
            transaction(&id, &format!("C7{i}"), TxType::Payment, 20.0, 500.0, 480.0)
        })
        .collect();
    pipeline.publish_transactions(&warm).await;
    assert_eq!(pipeline.read_verdicts(warm.len()).1.len(), warm.len());
    assert_eq!(abuse_once(addr, Kind::FullBody).await, "400");
    let (before, _) = memory(pid);

    // The abuse, with transactions published in the middle of it.
    let answers: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let answers = answers.clone();
            tokio::spawn(async move {
                let kind = KINDS[i % KINDS.len()];
                while started.elapsed() < ABUSE {
                    let answer = tokio::time::timeout(
                        ABUSE.saturating_sub(started.elapsed()),
                        abuse_once(addr, kind),
                    )
                    .await
                    .unwrap_or_else(|_| "still open at the end".to_owned());
                    *answers
                        .lock()
                        .unwrap()
                        .entry(format!("{kind:?} {answer}"))
                        .or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(ABUSE / 3).await;
    let during: Vec<_> = (0..TRANSACTIONS)
        .map(|i| {
            let id = format!("during-{i}");
            transaction(
                &id,
                &format!("C8{i}"),
                TxType::Transfer,
                900.0,
                1000.0,
                100.0,
            )
        })
        .collect();
    pipeline.publish_transactions(&during).await;
    let mut peak_during = 0;
    while started.elapsed() < ABUSE {
        peak_during = peak_during.max(memory(pid).0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for client in clients {
        client.await.unwrap();
    }
    let (after, peak) = memory(pid);

    // Bounded memory. What the caps let the HTTP server hold at once: a body of up to the limit
    // per request in flight — half as much again while a chunked body's buffer doubles, when the
    // old and the new copy both live — and a request head's buffer plus a read buffer per
    // connection; 64 MiB more for the allocator's slack and the runtime. Without the in-flight
    // cap the 512 connections could hold 2 GiB of bodies, and without the caps each of the 2,000
    // clients a 4 MiB body (8 GiB); without the limit enforced while reading, a chunked body
    // grows as long as its client sends.
    let bound = MAX_IN_FLIGHT * MAX_BODY * 3 / 2 + MAX_CONNECTIONS * 2 * MAX_HEAD + (64 << 20);
    let answers = answers.lock().unwrap().clone();
    println!(
        "scorer RSS: {:.0} MiB before the abuse, {:.0} MiB at most while sampled during it, {:.0} \
         MiB after; peak (VmHWM) {:.0} MiB, {:.0} MiB over the RSS before, bound {:.0} MiB",
        before as f64 / MIB,
        peak_during as f64 / MIB,
        after as f64 / MIB,
        peak as f64 / MIB,
        peak.saturating_sub(before) as f64 / MIB,
        bound as f64 / MIB
    );
    println!("answers to the abusive clients, by kind: {answers:#?}");
    assert!(
        peak.saturating_sub(before) <= bound,
        "the scorer's peak RSS grew by {} MiB, over the {} MiB its caps allow",
        peak.saturating_sub(before) >> 20,
        bound >> 20
    );

    // Every abusive request was refused, and by the mechanism meant for it.
    for (answer, count) in &answers {
        let status = answer.split(' ').nth(1).unwrap_or_default();
        assert!(
            ["503", "413", "408", "400", "closed", "still"].contains(&status),
            "{count} × {answer}"
        );
        assert!(
            !answer.starts_with("SlowHead 4"),
            "a head never sent was answered: {answer}"
        );
    }
    let seen = |answer: &str| answers.get(answer).copied().unwrap_or(0);
    assert!(seen("DeclaredHuge 413") > 0, "{answers:?}");
    assert!(seen("ChunkedHuge 413") > 0, "{answers:?}");
    assert!(seen("SlowBody 408") > 0, "{answers:?}");
    assert!(seen("FullBody 400") > 0, "{answers:?}");
    let full = answers.iter().filter(|(a, _)| a.ends_with(" 503")).count();
    assert!(full > 0, "2,000 clients never filled the caps: {answers:?}");

    // The stream kept scoring: every transaction published during the abuse has its verdict.
    let (_, verdicts) = pipeline.read_verdicts(warm.len() + during.len());
    for tx in &during {
        assert!(
            verdicts.contains_key(&tx.tx_id),
            "no verdict for {}",
            tx.tx_id
        );
    }

    // No crash: it still serves, counted each kind of refusal, and drains cleanly.
    assert!(
        scorer.is_running(),
        "the scorer died; its log:\n{}",
        scorer.log()
    );
    let metrics = ureq_get(addr, "/metrics").await;
    for reason in ["connections", "body_too_large", "read_timeout"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("aegis_http_rejected_total{{reason=\"{reason}\"}}")))
            .unwrap_or_else(|| panic!("no {reason} count in\n{metrics}"));
        assert!(!line.ends_with(" 0"), "{line}");
    }
    let (status, log) = scorer.terminate(Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// `GET path` on a fresh connection, retried while the server is full; the body.
async fn ureq_get(addr: SocketAddr, path: &str) -> String {
    for _ in 0..100 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if answer.starts_with("HTTP/1.1 200") {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered 200");
}
