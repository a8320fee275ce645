//! `aegis-chaos run`: the shared model, a work directory, the chosen scenarios in turn (stopping
//! at the first that fails), their outcomes on stdout and, on failure, the last lines of every
//! log; the work directory is removed unless `--keep` or a failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aegis_chaos::scenario::{self, say, Outcome, Scenario, Settings};
use aegis_core::Role;
use aegis_stack::commands::{self, Binaries};
use aegis_stack::model::{self, ModelState};
use aegis_stack::StackError;
use anyhow::Context;
use clap::Args;

/// Lines of each log shown when a scenario fails.
const LOG_TAIL: usize = 8;

/// `aegis-chaos run`'s flags.
#[derive(Args)]
pub struct RunArgs {
    /// Scenarios to run, in this order (default: all).
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// Directory of the Aegis binaries (aegis-scorer, aegis-trainer); default: the one holding
    /// this aegis-chaos.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the work directory (logs, broker storage, snapshots, manifest) after a pass too.
    #[arg(long)]
    keep: bool,
    /// The shared model, trained first if missing or older than the trainer or the data.
    #[arg(long, default_value = "models/aegis.model")]
    model: PathBuf,
}

/// Runs the scenarios; exit 0 if all passed, 1 if one failed, 130 after a stop signal.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let binaries = binaries(args.bin_dir.as_deref())?;
    match model::ensure(&binaries, &args.model, Role::Live)? {
        ModelState::Trained => say(format!("trained {}", args.model.display())),
        ModelState::UpToDate => say(format!("{} is up to date", args.model.display())),
    }
    let work = tempfile::Builder::new()
        .prefix("aegis-chaos.")
        .tempdir()
        .context("cannot create a work directory (set TMPDIR?)")?;
    let settings = Settings {
        binaries,
        model: args.model,
        work: work.path().to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cancel = aegis_kafka::service::cancel_on_signal(&runtime);

    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios
    };
    let started = Instant::now();
    let mut passed: Vec<Outcome> = Vec::new();
    for scenario in scenarios {
        say(format!("scenario {scenario}"));
        let failure = match scenario::run(scenario, &settings, runtime.handle(), &cancel) {
            Ok(outcome) => {
                print!("{outcome}");
                say(format!("{scenario} took {:.0?}", outcome.elapsed));
                if outcome.passed() {
                    passed.push(outcome);
                    continue;
                }
                format!("{scenario}: a check failed (see above)")
            }
            Err(e) => format!("{scenario}: {e}"),
        };
        say(format!("FAIL: {failure}"));
        show_log_tails(&settings.work.join(scenario.name()));
        say(format!("work directory kept: {}", work.keep().display()));
        return Ok(if cancel.is_cancelled() {
            ExitCode::from(130)
        } else {
            ExitCode::FAILURE
        });
    }
    say(format!(
        "every scenario passed in {} s:",
        started.elapsed().as_secs()
    ));
    for outcome in &passed {
        let counts = outcome.to_string();
        eprintln!("  {}", counts.lines().next().unwrap_or_default());
    }
    if args.keep {
        say(format!("work directory kept: {}", work.keep().display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The binaries in `bin_dir` (default: beside this program), once the ones the scenarios run are
/// there, and the repository files they read.
fn binaries(bin_dir: Option<&Path>) -> anyhow::Result<Binaries> {
    let bin_dir = match bin_dir {
        Some(dir) => dir.to_owned(),
        None => std::env::current_exe()
            .context("cannot find this program's directory: pass --bin-dir")?
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default(),
    };
    let binaries = Binaries::new(&bin_dir);
    for binary in ["aegis-scorer", "aegis-trainer"] {
        binaries.path(binary)?;
    }
    // The scorers load the seed rules by a path relative to the repository root.
    let rules = Path::new(commands::SEED_RULES);
    if !rules.is_file() {
        return Err(StackError::MissingRepositoryFile(rules.to_owned()).into());
    }
    Ok(binaries)
}

/// Prints the last lines of every log in `dir` and its subdirectories (the broker's).
fn show_log_tails(dir: &Path) {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .flat_map(|path| {
            if path.is_dir() {
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path())
                    .collect()
            } else {
                vec![path]
            }
        })
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        say(format!("last lines of {}:", log.display()));
        for line in &lines[lines.len().saturating_sub(LOG_TAIL)..] {
            eprintln!("{line}");
        }
    }
}
