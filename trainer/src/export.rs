//! `aegis-trainer export-outcomes`: what the stream learnt, as training data — the transactions
//! the cluster retains with the labels published for them (`crate::history`), written as a CSV
//! of the spec's fields that `train --data` reads beside the original data.
//!
//! Only labelled transactions are written: an unlabelled one is not known legit, and training
//! would take it as such. Every labelled transaction read is written, so the file's legit weight
//! is 1 when every transaction gets a label (`docs/training.md` says how to weigh it otherwise).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use aegis_core::paysim::COLUMNS;
use aegis_core::spec::record::write_csv;
use aegis_core::spec::Spec;
use aegis_core::Transaction;
use anyhow::{Context, Result};
use clap::Args;

use crate::backtest::History;
use crate::history::{self, KafkaHistoryArgs};

/// Flags of `aegis-trainer export-outcomes`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The spec of the transactions on the topic (docs/specs.md); PaySim's when not given.
    #[arg(long, env = "AEGIS_TRAINER_SPEC")]
    pub spec: Option<PathBuf>,
    /// Where to write the CSV (replaced if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// The topics to read: `--brokers B --since T` (required), and their names.
    #[command(flatten)]
    pub kafka: KafkaHistoryArgs,
}

/// What an export wrote.
#[derive(Debug, PartialEq, Eq)]
pub struct Exported {
    /// Labelled transactions written.
    pub rows: usize,
    /// Of them, fraud.
    pub frauds: usize,
    /// Transactions read without a label, left out.
    pub unlabelled: usize,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let exported = export(args)?;
    eprintln!(
        "aegis-trainer: wrote {} labelled transactions ({} fraud) to {}; {} without a label left out",
        exported.rows,
        exported.frauds,
        args.out.display(),
        exported.unlabelled
    );
    Ok(())
}

/// Reads the topics `args` name and writes their labelled transactions to `args.out`.
pub fn export(args: &ExportArgs) -> Result<Exported> {
    let spec = match &args.spec {
        Some(path) => Spec::load(path).with_context(|| format!("--spec {}", path.display()))?,
        None => Spec::paysim().clone(),
    };
    let read = history::read(&spec, &args.kafka)?;
    eprintln!("aegis-trainer: {}", read.summary(&args.kafka));
    let file = File::create(&args.out)
        .with_context(|| format!("--out {}: cannot create it", args.out.display()))?;
    let mut out = BufWriter::new(file);
    let written = match &read.history {
        History::Paysim(txs) => {
            let labelled: Vec<&Transaction> = txs.iter().filter(|t| t.is_fraud.is_some()).collect();
            write_paysim(&labelled, &mut out)?;
            let frauds = labelled.iter().filter(|t| t.is_fraud == Some(true)).count();
            (labelled.len(), frauds)
        }
        History::Spec(records) => {
            let labelled: Vec<_> = records.iter().filter(|r| r.label.is_some()).collect();
            write_csv(&spec, labelled.iter().copied(), &mut out)?;
            let frauds = labelled.iter().filter(|r| r.label == Some(true)).count();
            (labelled.len(), frauds)
        }
    };
    out.flush()
        .with_context(|| format!("--out {}: cannot write it", args.out.display()))?;
    Ok(Exported {
        rows: written.0,
        frauds: written.1,
        unlabelled: read.transactions - written.0,
    })
}

/// PaySim's columns, `isFlaggedFraud` 0 (the old rule's output is not on the topic).
fn write_paysim(txs: &[&Transaction], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    for t in txs {
        aegis_core::paysim::write_row(out, t, false)?;
    }
    Ok(())
}
