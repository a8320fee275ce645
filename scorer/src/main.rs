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
    service::run_main(BINARY, |cancel| async move {
        let model = aegis_scorer::load_model(&cli.config)?;
        let budget = Duration::from_secs(cli.connect_timeout);
        if !wait_for_kafka(&cli.config, budget, &cancel).await? {
            return Ok(());
        }
        aegis_scorer::run(cli.config, model, cancel).await.map(drop)
    })
}

/// Asks the brokers for the scorer's topics until they answer with all three (and the state
/// changelog, if any), for at most `budget` (see [`ClusterCheck::wait_for_topics`]).
/// `Ok(false)`: stopped by a signal meanwhile.
async fn wait_for_kafka(
    config: &ScorerConfig,
    budget: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut topics = vec![
        (config.input_topic.clone(), "--input-topic"),
        (config.output_topic.clone(), "--output-topic"),
        (config.dlq_topic.clone(), "--dlq-topic"),
    ];
    if !config.state_changelog_topic.is_empty() {
        topics.push((
            config.state_changelog_topic.clone(),
            "--state-changelog-topic",
        ));
    }
    let check = ClusterCheck::new(&config.brokers, &config.kafka.properties())?;
    Ok(check
        .wait_for_topics_async(topics, budget, cancel.clone())
        .await?)
}
