//! The `aegis-scorer` command line: flags, logging and signals; the work is in the library.

use std::process::ExitCode;

use aegis_core::service;
use aegis_scorer::ScorerConfig;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "aegis-scorer",
    version,
    about = "Score transactions from Kafka with the Aegis fraud model; write verdicts and dead letters"
)]
struct Cli {
    #[command(flatten)]
    config: ScorerConfig,
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
    let result = runtime.block_on(aegis_scorer::run(
        cli.config,
        service::cancel_on_signal(&runtime),
    ));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aegis-scorer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
