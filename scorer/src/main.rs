//! The `aegis-scorer` command line: flags, logging and signals; the work is in the library.
//!
//! Before any work it checks what a user can get wrong, so that each mistake is one line and a
//! non-zero exit: the model file and thresholds, the `-X` properties, and — waited for, up to
//! `--connect-timeout`, since brokers and topic-creation jobs often start alongside the scorer —
//! brokers that answer and hold the three topics.

use std::process::ExitCode;
use std::time::Duration;

use aegis_kafka::service;
use aegis_kafka::ClusterCheck;
use aegis_scorer::ScorerConfig;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// The name errors are printed under.
const BINARY: &str = "aegis-scorer";

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
    let (runtime, cancel) = match service::start("info,rdkafka=warn") {
        Ok(started) => started,
        Err(e) => return service::exit_with_error(BINARY, &e),
    };
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
        Err(e) => service::exit_with_error(BINARY, e.as_ref()),
    }
}

/// Asks the brokers for the scorer's topics until they answer with all three, for at most
/// `budget` (see [`ClusterCheck::wait_for_topics`]). `Ok(false)`: stopped by a signal meanwhile.
async fn wait_for_kafka(
    config: &ScorerConfig,
    budget: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let check = ClusterCheck::new(&config.brokers, &config.kafka.properties())?;
    let (config, cancel) = (config.clone(), cancel.clone());
    let ready = tokio::task::spawn_blocking(move || {
        let mut topics = vec![
            (config.input_topic.as_str(), "--input-topic"),
            (config.output_topic.as_str(), "--output-topic"),
            (config.dlq_topic.as_str(), "--dlq-topic"),
        ];
        if !config.state_changelog_topic.is_empty() {
            topics.push((
                config.state_changelog_topic.as_str(),
                "--state-changelog-topic",
            ));
        }
        check.wait_for_topics(&topics, budget, &cancel)
    })
    .await??;
    Ok(ready)
}
