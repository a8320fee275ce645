//! The `aegis-chaos` command line: `run` (the fault scenarios, end to end) and its parts `fuzz`,
//! `fault` and `check`; the work is in the library.

mod suite;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aegis_chaos::check::{self, Topics};
use aegis_chaos::fault::Fault;
use aegis_chaos::fuzz::{self, FuzzPlan};
use aegis_chaos::ledger::Expectations;
use aegis_core::topics::{DLQ_TOPIC, TRANSACTIONS_TOPIC, VERDICTS_TOPIC};
use aegis_kafka::duration::secs;
use aegis_kafka::renamed::{Flag, Value};
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "aegis-chaos",
    version,
    about = "Fault scenarios on a real local broker (SIGKILL, broker restart, SIGTERM, hostile \
             input, hostile HTTP clients), checked transaction by transaction. Run it from the \
             repository root."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run fault scenarios (default: all, in the order listed), each on a fresh broker, and check
    /// every input message. Prints per scenario: sent, verdicts, lost, duplicates, DLQ; exits 1
    /// if anything is lost or any check fails, 130 on Ctrl-C. Everything it starts is stopped on
    /// exit, also on failure.
    Run(suite::RunArgs),
    /// Write hostile messages of every kind interleaved with valid transactions, and a manifest of
    /// where each landed and what must become of it. Prints how many the broker acknowledged.
    Fuzz {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Hostile messages, spread evenly over every kind.
        #[arg(long, default_value_t = 10_000)]
        hostile: u64,
        /// Valid transactions mixed in.
        #[arg(long, default_value_t = 10_000)]
        valid: u64,
        /// Seed of the contents and the order.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where to write the manifest (JSON lines: partition, offset, kind, expected outcome,
        /// key and value) for `check --manifest`.
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Snapshot the moment of a fault, for `check --fault`: the offsets the scorers' group has
    /// committed and the ends of the input and verdict topics. Prints "committed C of W written".
    Fault {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// File to write (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Wait for the group to commit the whole input, then check every input message's outcome.
    /// Prints one line of counts (sent, verdicts, lost, duplicates, DLQ), then details; exits 1
    /// if anything is lost or any check fails.
    Check {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Name printed before the counts.
        #[arg(long)]
        scenario: String,
        /// Messages the writers say the broker acknowledged; fewer on the input topic is loss.
        #[arg(long)]
        sent: Option<u64>,
        /// The input as `fuzz` wrote it (default: the input topic, all from aegis-producer).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The snapshot `fault` took: verdicts are split into before and after it, and committed
        /// work repeated after it fails the check.
        #[arg(long)]
        fault: Option<PathBuf>,
        /// Most messages that may be repeated across the fault.
        #[arg(long)]
        max_repeated: Option<u64>,
        /// Give up waiting for the group after this long without progress.
        #[arg(long = "stall", default_value = "1m", value_name = "DURATION", value_parser = secs(1, u64::MAX))]
        stall_seconds: u64,
        /// Give up waiting for the group after this long in all.
        #[arg(long = "timeout", default_value = "10m", value_name = "DURATION", value_parser = secs(1, u64::MAX))]
        timeout_seconds: u64,
    },
}

#[derive(Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "AEGIS_BROKERS")]
    brokers: String,
    /// The scorers' consumer group.
    #[arg(long, default_value = "aegis-scorer")]
    group_id: String,
    /// The transactions topic (the scorers' input).
    #[arg(long, default_value = TRANSACTIONS_TOPIC)]
    transactions_topic: String,
    /// The verdicts topic.
    #[arg(long, default_value = VERDICTS_TOPIC)]
    verdicts_topic: String,
    /// Dead-letter topic.
    #[arg(long, default_value = DLQ_TOPIC)]
    dlq_topic: String,
}

impl KafkaArgs {
    fn topics(self) -> Topics {
        Topics {
            brokers: self.brokers,
            group: self.group_id,
            input: self.transactions_topic,
            verdicts: self.verdicts_topic,
            dlq: self.dlq_topic,
        }
    }
}

/// Flags renamed in issue 31, read for one release with a warning.
const RENAMED_FLAGS: &[Flag] = &[
    Flag::new("--group", "--group-id", Value::Same),
    Flag::new("--input-topic", "--transactions-topic", Value::Same),
    Flag::new("--output-topic", "--verdicts-topic", Value::Same),
    Flag::new("--stall-seconds", "--stall", Value::Seconds),
    Flag::new("--timeout-seconds", "--timeout", Value::Seconds),
];

fn main() -> ExitCode {
    let upgraded = aegis_kafka::renamed::upgrade(std::env::args_os(), RENAMED_FLAGS, &[], |name| {
        std::env::var(name).ok()
    });
    for warning in &upgraded.warnings {
        eprintln!("aegis-chaos: warning: {warning}");
    }
    match run(Cli::parse_from(&upgraded.args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aegis-chaos: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => suite::run(args),
        Command::Fuzz {
            kafka,
            hostile,
            valid,
            seed,
            manifest,
        } => {
            let topics = kafka.topics();
            let plan = FuzzPlan {
                brokers: topics.brokers,
                topic: topics.input,
                hostile,
                valid,
                seed,
            };
            let written = fuzz::run(&plan, &manifest)?;
            eprintln!(
                "aegis-chaos: wrote {} messages ({hostile} hostile of {} kinds, {valid} valid); \
                 manifest {}",
                written.delivered,
                aegis_chaos::hostile::Kind::ALL.len(),
                manifest.display()
            );
            println!("{}", written.delivered);
            if written.failed > 0 {
                anyhow::bail!("{} messages were not acknowledged", written.failed);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fault { kafka, out } => {
            let fault = Fault::take(&kafka.topics())?;
            fault.save(&out)?;
            println!(
                "committed {} of {} written",
                fault.committed_total(),
                fault.input_total()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            kafka,
            scenario,
            sent,
            manifest,
            fault,
            max_repeated,
            stall_seconds,
            timeout_seconds,
        } => {
            let topics = kafka.topics();
            let fault = fault.map(|p| Fault::load(&p)).transpose()?;
            check::wait_for_group(
                &topics,
                Duration::from_secs(timeout_seconds),
                Duration::from_secs(stall_seconds),
                &CancellationToken::new(),
            )?;
            let expect = Expectations {
                input_topic: topics.input.clone(),
                sent,
                fault,
                max_repeated,
            };
            let report = check::compare(&topics, manifest.as_deref(), &expect)?;
            print!("{scenario}: {report}");
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
