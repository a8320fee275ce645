//! The `aegis-scorer` command line: flags, logging and signals; the work is in the library.
//!
//! Before any work it checks what a user can get wrong, so that each mistake is one line and a
//! non-zero exit: the model file and thresholds, the `-X` properties, and — waited for, up to
//! `--connect-timeout`, since brokers and topic-creation jobs often start alongside the scorer —
//! brokers that answer and hold the three topics.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::error_line::one_line;
use aegis_kafka::service;
use aegis_kafka::ClusterCheck;
use aegis_scorer::ScorerConfig;
use anyhow::{anyhow, Context};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Longest single metadata request while waiting for Kafka (the connection carries on between
/// requests).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Shortest one, so that `--connect-timeout 0` still asks once.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between two requests.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

#[derive(Parser)]
#[command(
    name = "aegis-scorer",
    version,
    about = "Score transactions from Kafka with the Aegis fraud model; write verdicts and dead letters"
)]
struct Cli {
    #[command(flatten)]
    config: ScorerConfig,
    /// Seconds to wait at start for the brokers to answer and the input, output and DLQ topics to
    /// exist, asking again every few seconds and logging each miss, before giving up.
    #[arg(
        long,
        env = "AEGIS_CONNECT_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    connect_timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    service::init_logging("info,rdkafka=warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aegis-scorer: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cancel = service::cancel_on_signal(&runtime);
    let budget = Duration::from_secs(cli.connect_timeout);
    let result = runtime.block_on(async {
        let model = aegis_scorer::load_model(&cli.config)?;
        if !wait_for_kafka(&cli.config, budget, &cancel).await? {
            return Ok(());
        }
        aegis_scorer::run(cli.config, model, cancel).await.map(drop)
    });
    // Work left on the blocking pool (a Kafka call waiting for a broker that is gone) must not
    // keep a stopped scorer alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aegis-scorer: error: {}", one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Asks the brokers for the scorer's topics until they answer with all three, for at most
/// `budget`; each miss is logged. `Ok(false)`: stopped by a signal meanwhile. A bad `-X` property
/// fails at once.
async fn wait_for_kafka(
    config: &ScorerConfig,
    budget: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + budget;
    let check = Arc::new(ClusterCheck::new(
        &config.brokers,
        &config.kafka.properties(),
    )?);
    loop {
        // At most half the budget, so that a miss is logged before the scorer gives up.
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(ATTEMPT_TIMEOUT)
            .min(budget / 2)
            .max(MIN_ATTEMPT_TIMEOUT);
        let attempt = {
            let (check, config) = (check.clone(), config.clone());
            tokio::task::spawn_blocking(move || {
                let topics = [
                    (config.input_topic.as_str(), "--input-topic"),
                    (config.output_topic.as_str(), "--output-topic"),
                    (config.dlq_topic.as_str(), "--dlq-topic"),
                ];
                check.topics(&topics, timeout)
            })
            .await?
        };
        let error = match attempt {
            Ok(()) => return Ok(true),
            Err(e) if !e.is_transient() => return Err(e.into()),
            Err(e) => e,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(anyhow!(error))
                .with_context(|| format!("Kafka not ready after {budget:?} (--connect-timeout)"));
        }
        let left_s = left.as_secs_f64().ceil();
        tracing::warn!(%error, "Kafka not ready; asking again for up to {left_s} s");
        tokio::select! {
            () = tokio::time::sleep(RETRY_PAUSE.min(left)) => {}
            () = cancel.cancelled() => return Ok(false),
        }
    }
}
