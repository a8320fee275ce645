//! `aegis-verdicts`: the downstream consumer a payments team copies. It joins its own consumer
//! group on the verdicts topic and prints each verdict as one JSON line on stdout — pipe it into a
//! case queue, a card-blocking service, or `jq`.
//!
//! ```text
//! aegis-verdicts --brokers localhost:9092 --group-id case-queue | jq 'select(.decision != "ALLOW")'
//! ```
//!
//! Delivery: offsets are committed automatically after a line is written and flushed (at least
//! once: after a crash a few lines may be printed again, never skipped).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aegis_core::avro::AvroCodec;
use aegis_core::topics::VERDICTS_TOPIC;
use aegis_kafka::renamed::{self, Flag, Value, Variable};
use aegis_kafka::{self as kafka, KafkaFlags, TopicPrefix};
use anyhow::{Context, Result};
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

/// Print Aegis verdicts from Kafka as JSON lines.
#[derive(Parser)]
#[command(name = "aegis-verdicts", version)]
struct Cli {
    /// Kafka bootstrap servers.
    #[arg(long, env = "AEGIS_BROKERS")]
    brokers: String,
    /// This consumer's own group: each group gets every verdict once.
    #[arg(
        long,
        env = "AEGIS_VERDICTS_GROUP_ID",
        default_value = "aegis-verdicts-printer"
    )]
    group_id: String,
    /// The verdicts topic.
    #[arg(long, env = "AEGIS_VERDICTS_TOPIC", value_name = "TOPIC", default_value = VERDICTS_TOPIC)]
    verdicts_topic: String,
    /// Start from the oldest verdict when the group has no committed offset (default: newest).
    #[arg(long)]
    from_beginning: bool,
    /// Exit after printing this many verdicts.
    #[arg(long)]
    count: Option<u64>,
    /// librdkafka properties: `-X key=value` and `--kafka-config FILE`.
    #[command(flatten)]
    kafka: KafkaFlags,
    /// `--topic-prefix`, before the topic and the group.
    #[command(flatten)]
    prefix: TopicPrefix,
}

/// Spellings renamed in issue 31, read for one release with a warning.
const RENAMED_FLAGS: &[Flag] = &[Flag::new("--topic", "--verdicts-topic", Value::Same)];
/// Environment variables renamed in issue 31.
const RENAMED_VARIABLES: &[Variable] = &[Variable::new(
    "AEGIS_OUTPUT_TOPIC",
    "AEGIS_VERDICTS_TOPIC",
    "--verdicts-topic",
    Value::Same,
)];

fn main() -> ExitCode {
    let upgraded = renamed::upgrade(
        std::env::args_os(),
        RENAMED_FLAGS,
        RENAMED_VARIABLES,
        |name| std::env::var(name).ok(),
    );
    for warning in &upgraded.warnings {
        eprintln!("aegis-verdicts: warning: {warning}");
    }
    let mut cli = Cli::parse_from(&upgraded.args);
    cli.prefix
        .apply(&mut [&mut cli.verdicts_topic, &mut cli.group_id]);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aegis-verdicts: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let reset = if cli.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    let consumer: BaseConsumer = kafka::Settings::group_consumer(&cli.group_id)
        .set("auto.offset.reset", reset)
        .client_config(&cli.brokers, &cli.kafka.properties())
        .create()
        .context("cannot create the Kafka consumer")?;
    consumer.subscribe(&[&cli.verdicts_topic])?;
    let mut out = std::io::stdout().lock();
    let mut printed = 0;
    while cli.count.is_none_or(|n| printed < n) {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        let payload = message.payload().unwrap_or_default();
        match AvroCodec::verdict().decode(payload) {
            Ok((verdict, _)) => {
                serde_json::to_writer(&mut out, &verdict)?;
                out.write_all(b"\n")?;
                out.flush()?;
                printed += 1;
            }
            Err(e) => eprintln!(
                "aegis-verdicts: skipping undecodable message at {}[{}]@{}: {e}",
                message.topic(),
                message.partition(),
                message.offset()
            ),
        }
        consumer.store_offset_from_message(&message)?;
    }
    consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync)?;
    Ok(())
}
