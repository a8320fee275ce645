//! The `aegis-outcomes` command line: flags, logging and signals; the work is in the library.
//!
//! Before any work it waits, up to `--connect-timeout`, for brokers that answer and hold the
//! verdicts, labels, outcomes and (unless turned off) shadow verdicts topics, so that each mistake is one line and a non-zero exit.

use std::process::ExitCode;
use std::time::Duration;

use aegis_kafka::service;
use aegis_kafka::ClusterCheck;
use aegis_outcomes::OutcomesConfig;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// The name errors are printed under.
const BINARY: &str = "aegis-outcomes";

#[derive(Parser)]
#[command(
    name = "aegis-outcomes",
    version,
    about = "Join verdicts with late labels by tx_id and write outcomes; confusion counts, money and live precision/recall as metrics"
)]
struct Cli {
    #[command(flatten)]
    config: OutcomesConfig,
    /// Seconds to wait at start for the brokers to answer and the verdicts, labels, outcomes and
    /// shadow verdicts topics to exist, asking again every few seconds and logging each miss, before giving up.
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
        let budget = Duration::from_secs(cli.connect_timeout);
        if !wait_for_kafka(&cli.config, budget, &cancel).await? {
            return Ok(());
        }
        aegis_outcomes::run(cli.config, cancel).await.map(drop)
    })
}

/// Asks the brokers for the service's topics until they answer with all of them, for at most
/// `budget`. `Ok(false)`: stopped by a signal meanwhile.
async fn wait_for_kafka(
    config: &OutcomesConfig,
    budget: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut topics = vec![
        (config.verdicts_topic.clone(), "--verdicts-topic"),
        (config.labels_topic.clone(), "--labels-topic"),
        (config.outcomes_topic.clone(), "--outcomes-topic"),
    ];
    if let Some(shadow) = config.shadow_verdicts() {
        topics.push((shadow.to_owned(), "--shadow-verdicts-topic"));
    }
    let check = ClusterCheck::new(&config.brokers, &config.kafka.properties())?;
    Ok(check
        .wait_for_topics_async(topics, budget, cancel.clone())
        .await?)
}
