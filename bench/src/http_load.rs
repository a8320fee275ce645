//! A closed-loop HTTP/1.1 load generator: `--concurrency` keep-alive connections each POST the same
//! JSON body back to back. The same generator drives Aegis's `/v1/score` and the Python baseline,
//! so both see the same load.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::stats::quantile;

#[derive(Args)]
pub struct HttpArgs {
    /// Endpoint to POST to, e.g. `http://127.0.0.1:8080/v1/score`.
    #[arg(long)]
    url: Uri,
    /// File whose bytes are the request body (JSON).
    #[arg(long)]
    body: PathBuf,
    /// Connections, each with one request outstanding at a time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to measure.
    #[arg(long = "duration", default_value = "10s", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    seconds: f64,
    /// Load before measuring starts, this long.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    warmup: f64,
}

/// What one connection saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    failures: u64,
}

pub async fn run(args: &HttpArgs) -> Result<String> {
    let body = Bytes::from(
        std::fs::read(&args.body)
            .with_context(|| format!("cannot read {}", args.body.display()))?,
    );
    let host = args.url.host().context("--url has no host")?.to_owned();
    let port = args.url.port_u16().unwrap_or(80);
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let until = measure_from + Duration::from_secs_f64(args.seconds);

    let mut connections = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (url, body, host) = (args.url.clone(), body.clone(), host.clone());
        connections.push(tokio::spawn(async move {
            connection(&host, port, url, body, measure_from, until).await
        }));
    }
    let mut all = Tally::default();
    for c in connections {
        let tally = c.await??;
        all.latencies_ms.extend(tally.latencies_ms);
        all.failures += tally.failures;
    }
    ensure!(!all.latencies_ms.is_empty(), "no request completed");
    let requests = all.latencies_ms.len();
    Ok(json!({
        "requests": requests,
        "failures": all.failures,
        "requests_per_second": requests as f64 / args.seconds,
        "p50_ms": quantile(&mut all.latencies_ms, 0.50),
        "p99_ms": quantile(&mut all.latencies_ms, 0.99),
        "concurrency": args.concurrency,
    })
    .to_string())
}

async fn connection(
    host: &str,
    port: u16,
    url: Uri,
    body: Bytes,
    measure_from: Instant,
    until: Instant,
) -> Result<Tally> {
    let stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let authority = format!("{host}:{port}");
    // Origin-form request target (`/v1/score`), as browsers and load generators send it.
    let path: Uri = url.path_and_query().map_or("/", |p| p.as_str()).parse()?;
    let mut tally = Tally::default();
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let request = Request::post(path.clone())
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        let done = Instant::now();
        if started < measure_from || done > until {
            continue;
        }
        if status == StatusCode::OK {
            tally
                .latencies_ms
                .push((done - started).as_secs_f64() * 1e3);
        } else {
            tally.failures += 1;
            if tally.failures == 1 {
                warn_failure(status, &answer);
            }
        }
    }
    if tally.latencies_ms.is_empty() && tally.failures > 0 {
        bail!("every request failed");
    }
    Ok(tally)
}

fn warn_failure(status: StatusCode, answer: &[u8]) {
    eprintln!(
        "aegis-bench: warning: {status}: {}",
        String::from_utf8_lossy(answer)
    );
}
