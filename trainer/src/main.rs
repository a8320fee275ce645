//! The `aegis-trainer` command line; the work is in the library (`aegis_trainer`).

use std::process::ExitCode;

use aegis_trainer::{evaluate, train, EvaluateArgs, TrainArgs};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegis-trainer",
    version,
    about = "Train and evaluate the Aegis fraud model on PaySim CSV"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a forest, choose thresholds, and write MODEL, MODEL.report.json and MODEL.curves.svg.
    Train(TrainArgs),
    /// Score a PaySim CSV with a model and print its quality (and, optionally, every prediction).
    Evaluate(EvaluateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AEGIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Train(args) => train::run(args),
        Command::Evaluate(args) => evaluate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aegis-trainer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
