//! The `aegis-scorer` command line: flags, logging and signals; the work is in the library.
//!
//! Before any work it checks what a user can get wrong, so that each mistake is one line and a
//! non-zero exit: the model file and thresholds, the `-X` properties, the API token file, and —
//! waited for, up to `--connect-timeout`, since brokers and topic-creation jobs often start
//! alongside the scorer — brokers that answer and hold the three topics. Without `--model`, it
//! then takes the live model from the models topic, waiting for one up to `--connect-timeout`.
//! Old spellings of flags and variables are read for one release, with a warning
//! (`aegis_kafka::renamed`).

use std::process::ExitCode;

use std::time::Duration;

use aegis_kafka::{renamed, service};
use aegis_kafka::{ConnectFlags, LogFlags};
use aegis_scorer::control;
use aegis_scorer::models::Installed;
use aegis_scorer::ScorerConfig;
use clap::Parser;

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
    #[command(flatten)]
    connect: ConnectFlags,
    #[command(flatten)]
    logs: LogFlags,
}

fn main() -> ExitCode {
    let upgraded = renamed::upgrade(
        std::env::args_os(),
        aegis_scorer::config::RENAMED_FLAGS,
        aegis_scorer::config::RENAMED_VARIABLES,
        |name| std::env::var(name).ok(),
    );
    let mut cli = Cli::parse_from(&upgraded.args);
    cli.config.apply_topic_prefix();
    let logs = cli.logs.clone();
    service::run_main(BINARY, &logs, |cancel| async move {
        upgraded.warn();
        let file = match &cli.config.model {
            Some(_) => Some(aegis_scorer::load_model(&cli.config)?),
            None => {
                // What the models topic's model needs, checked at once too.
                control::trust_without_model(&cli.config)?;
                None
            }
        };
        // Checked before waiting for Kafka: a bad token file is one line, at once.
        aegis_scorer::http::Settings::from_flags(&cli.config.http)?;
        let mut topics = topics(&cli.config);
        match &file {
            Some(model) if !model.is_paysim() => {
                let plan = aegis_scorer::entities::Plan::new(
                    model.spec(),
                    &cli.config.input_topic,
                    cli.config.entities.limits(),
                )?;
                topics.extend(plan.topics(&cli.config));
            }
            Some(_) => {}
            None => topics.push((cli.config.models_topic.clone(), "--models-topic")),
        }
        let (brokers, kafka) = (&cli.config.brokers, &cli.config.kafka);
        if !cli
            .connect
            .wait_for_topics(brokers, kafka, topics, &cancel)
            .await?
        {
            return Ok(());
        }
        let live = match file {
            Some(model) => Installed::file(&cli.config, model),
            None => {
                let budget = Duration::from_secs(cli.connect.connect_timeout_secs);
                match control::first_live_model(&cli.config, budget, &cancel).await? {
                    Some(live) => live,
                    None => return Ok(()),
                }
            }
        };
        aegis_scorer::run(cli.config, live, cancel).await.map(drop)
    })
}

/// The topics the service needs, each with the flag that names it.
fn topics(config: &ScorerConfig) -> Vec<(String, &'static str)> {
    let mut topics = vec![
        (config.input_topic.clone(), "--transactions-topic"),
        (config.output_topic.clone(), "--verdicts-topic"),
        (config.dlq_topic.clone(), "--dlq-topic"),
    ];
    if !config.state_changelog_topic.is_empty() {
        topics.push((
            config.state_changelog_topic.clone(),
            "--state-changelog-topic",
        ));
    }
    topics
}
