//! The `aegis-trainer` command line; the work is in the library (`aegis_trainer`).

use std::path::Path;
use std::process::ExitCode;

use aegis_core::error_line::one_line;
use aegis_trainer::{evaluate, train, EvaluateArgs, TrainArgs};
use anyhow::Context;
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
    /// Put a model on the models topic as the live or shadow model of every scorer replica
    /// (optionally with other thresholds); replicas swap it in without a restart.
    #[cfg(feature = "publish")]
    Publish(aegis_trainer::publish::PublishArgs),
    /// Make the shadow model live when, on the labelled transactions both models scored, it
    /// catches at least as many frauds as the live model at the live model's alert count (both
    /// models' figures are printed); --force skips that check.
    #[cfg(feature = "publish")]
    Promote(aegis_trainer::promote::PromoteArgs),
    /// Make the previous live model of the models topic's history live again.
    #[cfg(feature = "publish")]
    Rollback(aegis_trainer::promote::RollbackArgs),
    /// Make an ed25519 key pair for signing what `publish` puts on the models and rules topics:
    /// OUT.key (private, PKCS#8 PEM, readable by you alone) for `publish --key`, and OUT.pub
    /// (public, SPKI PEM) for the scorers' `--trusted-keys`.
    Keygen(KeygenArgs),
    /// Print the Avro schema of a spec's transactions on Kafka, generated from the spec (what
    /// `schemas/` holds for the shipped specs, and what the producer registers).
    Schema(SchemaArgs),
    /// Decide history as the stream would — a model and a rule set over a labelled CSV, with the
    /// stream's own decision code — and report counts, precision and recall with intervals,
    /// money, each rule's hits and precision, and what would change against another model or
    /// rule set (docs/backtest.md).
    Backtest(aegis_trainer::backtest::BacktestArgs),
    /// Write what the stream learnt as training data: the transactions the cluster retains from
    /// a time (--brokers, --since), each with the label published for it, as a CSV of the spec's
    /// fields that `train --data` reads beside the original data (docs/training.md).
    #[cfg(feature = "publish")]
    ExportOutcomes(aegis_trainer::export::ExportArgs),
    /// Print what a rule set for a spec can name — its features, fields and fraud_probability —
    /// as the Markdown table docs/rules.md holds for each shipped spec.
    RuleFields(SchemaArgs),
}

/// Flags of `aegis-trainer keygen`.
#[derive(clap::Args)]
struct KeygenArgs {
    /// Where to write the pair: OUT.key and OUT.pub (neither may exist).
    #[arg(long, value_name = "OUT")]
    out: std::path::PathBuf,
    /// If both files exist already, keep them and succeed (a deployment job run again).
    #[arg(long)]
    keep_existing: bool,
}

/// Flags of `aegis-trainer schema` and `rule-fields`.
#[derive(clap::Args)]
struct SchemaArgs {
    /// The spec (docs/specs.md); PaySim's when not given.
    #[arg(long, env = "AEGIS_TRAINER_SPEC")]
    spec: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    // `publish --timeout 30` (seconds, before issue 31) is read as `30s` for one release.
    #[cfg(feature = "publish")]
    let cli = {
        let upgraded = aegis_kafka::renamed::upgrade(
            std::env::args_os(),
            aegis_trainer::publish::RENAMED_FLAGS,
            &[],
            |name| std::env::var(name).ok(),
        );
        for warning in &upgraded.warnings {
            eprintln!("aegis-trainer: warning: {warning}");
        }
        Cli::parse_from(&upgraded.args)
    };
    #[cfg(not(feature = "publish"))]
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // AEGIS_LOG, else RUST_LOG (as the services read them), else warnings only.
            ["AEGIS_LOG", "RUST_LOG"]
                .into_iter()
                .find_map(|name| tracing_subscriber::EnvFilter::try_from_env(name).ok())
                .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Train(args) => check_out(&args.out).and_then(|()| train::run(args)),
        Command::Evaluate(args) => evaluate::run(args),
        #[cfg(feature = "publish")]
        Command::Publish(args) => aegis_trainer::publish::run(args),
        #[cfg(feature = "publish")]
        Command::Promote(args) => aegis_trainer::promote::promote(args),
        #[cfg(feature = "publish")]
        Command::Rollback(args) => aegis_trainer::promote::rollback(args),
        Command::Backtest(args) => aegis_trainer::backtest::run(args),
        #[cfg(feature = "publish")]
        Command::ExportOutcomes(args) => aegis_trainer::export::run(args),
        Command::Schema(args) => spec_of(args).map(|spec| print!("{}", spec.avro_schema())),
        Command::RuleFields(args) => {
            spec_of(args).map(|spec| print!("{}", aegis_core::rules::field_table(&spec)))
        }
        Command::Keygen(args) => keygen(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aegis-trainer: error: {}", one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    use aegis_core::signing::SigningKeyFile;
    let with =
        |extension: &str| std::path::PathBuf::from(format!("{}.{extension}", args.out.display()));
    let (private, public) = (with("key"), with("pub"));
    if args.keep_existing && private.exists() && public.exists() {
        let key = SigningKeyFile::load(&private)?;
        println!(
            "key {}: kept {} and {}",
            key.id(),
            private.display(),
            public.display()
        );
        return Ok(());
    }
    let key = SigningKeyFile::generate()?;
    key.write(&private, &public)?;
    println!(
        "key {}: private {} (for publish --key), public {} (for the scorers' --trusted-keys)",
        key.id(),
        private.display(),
        public.display()
    );
    Ok(())
}

/// The spec `--spec` names, or PaySim's.
fn spec_of(args: &SchemaArgs) -> anyhow::Result<aegis_core::spec::Spec> {
    Ok(match &args.spec {
        Some(path) => aegis_core::spec::Spec::load(path)?,
        None => aegis_core::spec::Spec::paysim().clone(),
    })
}

/// Checks, before minutes of training, that the model can be written where `--out` says:
/// `Model::save` writes `MODEL.tmp` beside it, then renames it into place.
fn check_out(out: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !out.is_dir(),
        "--out {} is a directory; pass a file path such as {}",
        out.display(),
        out.join("aegis.model").display()
    );
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "--out {}: directory {} does not exist; create it or pass another --out",
        out.display(),
        dir.display()
    );
    let probe = out.with_extension("tmp");
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| {
            format!(
                "--out {}: cannot write in {}; pass another --out",
                out.display(),
                dir.display()
            )
        })
}
