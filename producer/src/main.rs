//! The `aegis-producer` command line: flags, logging, signals and the metrics endpoint; the work is
//! in the library. With `--out` it only writes a file: no runtime, no broker.

use std::io::IsTerminal;
use std::process::ExitCode;

use aegis_kafka::{self as kafka, service, LogFlags};
use aegis_producer::{Counters, ProducerConfig};
use clap::Parser;

/// The name errors are printed under.
const BINARY: &str = "aegis-producer";

#[derive(Parser)]
#[command(
    name = "aegis-producer",
    version,
    about = "Publish PaySim transactions (replayed or simulated) to Kafka, or write simulated ones to a PaySim CSV file"
)]
struct Cli {
    #[command(flatten)]
    config: ProducerConfig,
    #[command(flatten)]
    logs: LogFlags,
}

fn main() -> ExitCode {
    let upgraded = kafka::renamed::upgrade(
        std::env::args_os(),
        aegis_producer::config::RENAMED_FLAGS,
        aegis_producer::config::RENAMED_VARIABLES,
        |name| std::env::var(name).ok(),
    );
    let mut cli = Cli::parse_from(&upgraded.args);
    cli.config.apply_topic_prefix();
    if cli.config.out.is_some() {
        for warning in &upgraded.warnings {
            eprintln!("{BINARY}: warning: {warning}"); // no logs without a broker
        }
        return match aegis_producer::write_file(&cli.config) {
            Ok(written) => {
                println!("{written}");
                ExitCode::SUCCESS
            }
            Err(e) => service::exit_with_error(BINARY, e.as_ref()),
        };
    }
    // librdkafka's own message for a bad property ends with its value, which may be a secret.
    if let Err(e) = kafka::check_properties(&cli.config.kafka.properties()) {
        return service::exit_with_error(BINARY, &e);
    }
    let (runtime, cancel) = match service::start("info,rdkafka=warn", cli.logs.log_format) {
        Ok(started) => started,
        Err(e) => return service::exit_with_error(BINARY, &e),
    };
    upgraded.warn();
    let result = runtime.block_on(async {
        let counters = Counters::new();
        if let Some(addr) = cli.config.metrics_addr {
            let listener = service::listen(addr, "--metrics-addr").await?;
            tokio::spawn(service::serve_metrics(
                listener,
                counters.registry.clone(),
                cancel.clone(),
            ));
        }
        let mut config = cli.config;
        config.progress = std::io::stderr().is_terminal();
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
        Err(e) => service::exit_with_error(BINARY, e.as_ref()),
    }
}
