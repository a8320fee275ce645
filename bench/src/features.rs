//! A spec's features computed for every row of a CSV by `aegis_core::spec::engine`, on one
//! thread: reading timed apart from computing (the pandas baseline's reading is not timed either),
//! and optionally every row's features written out for comparison.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::{FieldRole, Spec};
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct FeaturesArgs {
    /// The spec (e.g. specs/cards.toml).
    #[arg(long)]
    spec: PathBuf,
    /// The CSV, in event-time order.
    #[arg(long)]
    data: PathBuf,
    /// Write every row's id and features here (CSV), untimed.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &FeaturesArgs) -> Result<String> {
    let spec = Spec::load(&args.spec)?;
    let started = Instant::now();
    let records = RecordReader::open(&spec, &args.data)?
        .collect::<Result<Vec<Record>, _>>()
        .context("reading the rows")?;
    let read_seconds = started.elapsed().as_secs_f64();
    let mut engine = FeatureEngine::new(&spec);
    let mut row = Vec::with_capacity(engine.width());
    let mut all = Vec::with_capacity(records.len() * engine.width());
    let started = Instant::now();
    for record in &records {
        engine.observe(record, &mut row);
        all.extend_from_slice(&row);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.out {
        write(path, &spec, &records, &all, engine.width())?;
    }
    Ok(json!({
        "rows": records.len(),
        "seconds": seconds,
        "read_seconds": read_seconds,
        "entities": engine.entities(),
    })
    .to_string())
}

fn write(
    path: &PathBuf,
    spec: &Spec,
    records: &[Record],
    features: &[f64],
    width: usize,
) -> Result<()> {
    let id = spec.fields.iter().position(|f| f.role == FieldRole::Id);
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "id,{}", spec.feature_names().join(","))?;
    for (i, (record, row)) in records
        .iter()
        .zip(features.chunks(width.max(1)))
        .enumerate()
    {
        match id.map(|f| &record.values[f]) {
            Some(Value::Integer(n)) => write!(out, "{n}")?,
            Some(Value::Text(t)) => write!(out, "{t}")?,
            _ => write!(out, "{i}")?,
        }
        for x in row {
            write!(out, ",{x:?}")?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
