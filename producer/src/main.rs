//! The `aegis-producer` command line: flags, logging, signals and the metrics endpoint; the work is
//! in the library.

use std::process::ExitCode;
use std::sync::Arc;

use aegis_producer::{Counters, ProducerConfig};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use warp::Filter;

#[derive(Parser)]
#[command(
    name = "aegis-producer",
    version,
    about = "Publish PaySim transactions (replayed or simulated) to Kafka"
)]
struct Cli {
    #[command(flatten)]
    config: ProducerConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aegis-producer: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(stop_on_signal(cancel.clone()));
        let counters = Counters::new();
        if let Some(addr) = cli.config.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on {addr}: {e}; pass another --metrics-addr")
            })?;
            tokio::spawn(serve_metrics(listener, counters.clone()));
        }
        let config = cli.config;
        let stop = cancel.clone();
        tokio::task::spawn_blocking(move || aegis_producer::run(&config, counters, &stop)).await?
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            if summary.failed > 0 {
                eprintln!(
                    "aegis-producer: error: {} transactions were not delivered",
                    summary.failed
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aegis-producer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `GET /metrics` with the producer's counters.
async fn serve_metrics(listener: tokio::net::TcpListener, counters: Arc<Counters>) {
    let route = warp::path!("metrics").and(warp::get()).map(move || {
        let mut buf = Vec::new();
        let _ = prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &counters.registry.gather(),
            &mut buf,
        );
        warp::reply::with_header(buf, "content-type", "text/plain; version=0.0.4")
    });
    warp::serve(route).incoming(listener).run().await;
}

/// Cancels on SIGINT or SIGTERM.
async fn stop_on_signal(cancel: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stop signal received: flushing");
    cancel.cancel();
}
