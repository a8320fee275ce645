//! Measures the simulator's constants from a PaySim sample and prints them as Rust source — the
//! content of `producer/src/simulate/measured.rs`. `scripts/measure-paysim` runs it and writes the
//! file; the defaults are the rows the committed constants were measured on.

use std::path::PathBuf;
use std::process::ExitCode;

use aegis_producer::simulate::measure::{measure, read_rows, render, Source};
use aegis_producer::simulate::measured::SOURCE;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Measure the simulator's constants from a PaySim sample; print measured.rs")]
struct Args {
    /// The PaySim sample, relative to the repository root (run from there).
    #[arg(long, default_value = SOURCE.file)]
    data: PathBuf,
    /// Measure rows up to this step; later ones are the real data the simulator is judged on.
    #[arg(long, default_value_t = SOURCE.last_step)]
    last_step: i32,
    /// How many real legit transactions one legit row of the sample stands for.
    #[arg(long, default_value_t = SOURCE.legit_weight)]
    legit_weight: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rows = match read_rows(&args.data, args.last_step) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("measure-paysim: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match measure(&rows, args.legit_weight) {
        Ok(profiles) => {
            let file = args.data.display().to_string();
            let source = Source {
                file: &file,
                last_step: args.last_step,
                legit_weight: args.legit_weight,
            };
            print!("{}", render(&source, &profiles));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("measure-paysim: error: {}: {e}", args.data.display());
            ExitCode::FAILURE
        }
    }
}
