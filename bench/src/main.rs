//! `aegis-bench`: the probes `scripts/bench` runs. Each subcommand measures one thing and prints
//! one JSON object on stdout; `bench/run.py` runs them next to their Python baselines, takes
//! medians and prints the table. Nothing here passes or fails on a timing.

mod features;
mod http_load;
mod kafka;
mod kernel;
mod repartition;
mod spec_load;
mod stats;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegis-bench",
    about = "Aegis performance probes (see scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Refit the model's forest on its own training rows (timed) and export those rows and the
    /// scoring rows as CSV for the scikit-learn baseline.
    Train(train::TrainArgs),
    /// Batch rows/s on one thread, single-row latency and model load time of the compiled forest.
    Kernel(kernel::KernelArgs),
    /// Closed-loop HTTP load: N connections POST the same body for a duration.
    Http(http_load::HttpArgs),
    /// Bare rdkafka pass-through: consume and re-produce the same bytes with the scorer's settings.
    Passthrough(kafka::PassthroughArgs),
    /// The stateful pass-through of a two-stage spec: input → repartition topic (with watermark-
    /// sized marks per batch) → output, two hops, two groups.
    Repartition(repartition::RepartitionArgs),
    /// A steady rate of a spec's transactions from a CSV, each stamped with the time it is sent.
    SpecLoad(spec_load::SpecLoadArgs),
    /// Wait for N new messages on a topic; report the throughput from the first to the last.
    Watch(kafka::WatchArgs),
    /// Event-to-verdict latency as a downstream consumer sees it.
    Latency(kafka::LatencyArgs),
    /// A spec's features for every row of a CSV, on one thread (the engine of aegis_core::spec).
    Features(features::FeaturesArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Train(args) => train::run(&args),
        Command::Kernel(args) => kernel::run(&args),
        Command::Http(args) => runtime().and_then(|rt| rt.block_on(http_load::run(&args))),
        Command::Passthrough(args) => kafka::passthrough(&args),
        Command::Repartition(args) => repartition::run(&args),
        Command::SpecLoad(args) => spec_load::run(&args),
        Command::Watch(args) => kafka::watch(&args),
        Command::Latency(args) => kafka::latency(&args),
        Command::Features(args) => features::run(&args),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aegis-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
