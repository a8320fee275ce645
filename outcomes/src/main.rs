//! The `aegis-outcomes` command line: flags, logging and signals; the work is in the library.
//!
//! Before any work it waits, up to `--connect-timeout`, for brokers that answer and hold the
//! verdicts, labels, outcomes and (unless turned off) shadow verdicts topics, so that each mistake is one line and a non-zero exit.

use std::process::ExitCode;

use aegis_kafka::{renamed, service};
use aegis_kafka::{ConnectFlags, LogFlags};
use aegis_outcomes::OutcomesConfig;
use clap::Parser;

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
    #[command(flatten)]
    connect: ConnectFlags,
    #[command(flatten)]
    logs: LogFlags,
}

fn main() -> ExitCode {
    let upgraded = renamed::upgrade(
        std::env::args_os(),
        aegis_outcomes::config::RENAMED_FLAGS,
        aegis_outcomes::config::RENAMED_VARIABLES,
        |name| std::env::var(name).ok(),
    );
    let mut cli = Cli::parse_from(&upgraded.args);
    cli.config.apply_topic_prefix();
    let logs = cli.logs.clone();
    service::run_main(BINARY, &logs, |cancel| async move {
        upgraded.warn();
        let topics = topics(&cli.config);
        let (brokers, kafka) = (&cli.config.brokers, &cli.config.kafka);
        if !cli
            .connect
            .wait_for_topics(brokers, kafka, topics, &cancel)
            .await?
        {
            return Ok(());
        }
        aegis_outcomes::run(cli.config, cancel).await.map(drop)
    })
}

/// The topics the service needs, each with the flag that names it.
fn topics(config: &OutcomesConfig) -> Vec<(String, &'static str)> {
    let mut topics = vec![
        (config.verdicts_topic.clone(), "--verdicts-topic"),
        (config.labels_topic.clone(), "--labels-topic"),
        (config.outcomes_topic.clone(), "--outcomes-topic"),
    ];
    if let Some(shadow) = config.shadow_verdicts() {
        topics.push((shadow.to_owned(), "--shadow-verdicts-topic"));
    }
    topics
}
