//! The compiled forest on one thread: batch throughput, single-row latency and model load time,
//! on the rows `aegis-bench train` exported (the same rows scikit-learn scores).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::features::{Features, N_FEATURES};
use aegis_core::Model;
use anyhow::{ensure, Context, Result};
use clap::Args;
use serde_json::json;

use crate::stats::quantile;

#[derive(Args)]
pub struct KernelArgs {
    /// The model artifact.
    #[arg(long)]
    model: PathBuf,
    /// `score.csv` from `aegis-bench train`.
    #[arg(long)]
    rows: PathBuf,
    /// Measurements of each figure (the caller takes the median).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Shortest time one batch measurement lasts, in seconds.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Rows timed one by one for the single-row latency.
    #[arg(long, default_value_t = 2_000)]
    single: usize,
}

pub fn run(args: &KernelArgs) -> Result<String> {
    let mut load_seconds = Vec::new();
    let mut model = None;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let loaded = Model::load(&args.model)?;
        load_seconds.push(started.elapsed().as_secs_f64());
        model = Some(loaded);
    }
    let model = model.context("no run")?;
    let rows = read_rows(&args.rows)?;
    ensure!(!rows.is_empty(), "{} has no rows", args.rows.display());

    let mut out = vec![0.0; rows.len()];
    let mut reference = vec![0.0; rows.len()];
    let (mut rows_per_second, mut reference_rows_per_second) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        rows_per_second.push(throughput(args.seconds, rows.len(), || {
            model.forest().predict_batch(black_box(&rows), &mut out);
            black_box(&out);
        }));
        // The portable reference kernel (what the vectorised one replaced), for the record.
        reference_rows_per_second.push(throughput(args.seconds, rows.len(), || {
            model
                .forest()
                .predict_batch_reference(black_box(&rows), &mut reference);
            black_box(&reference);
        }));
    }
    ensure!(
        out.iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "the batch kernel and the reference kernel disagree"
    );

    let stride = (rows.len() / args.single.max(1)).max(1);
    let sample: Vec<&Features> = rows.iter().step_by(stride).take(args.single).collect();
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        let mut micros = Vec::with_capacity(sample.len());
        for row in &sample {
            let started = Instant::now();
            black_box(model.probability(black_box(&row[..])));
            micros.push(started.elapsed().as_secs_f64() * 1e6);
        }
        p50.push(quantile(&mut micros, 0.50));
        p99.push(quantile(&mut micros, 0.99));
    }

    Ok(json!({
        "rows": rows.len(),
        "trees": model.forest().n_trees(),
        "nodes": model.forest().n_nodes(),
        "scoring_nodes": model.forest().n_scoring_nodes(),
        "batch_rows_per_second": rows_per_second,
        "reference_rows_per_second": reference_rows_per_second,
        "single_p50_us": p50,
        "single_p99_us": p99,
        "load_seconds": load_seconds,
        "mean_probability": out.iter().sum::<f64>() / out.len() as f64,
    })
    .to_string())
}

/// Rows per second of `score` (which scores `rows` rows) repeated for at least `seconds`.
fn throughput(seconds: f64, rows: usize, mut score: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut scored = 0usize;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        score();
        scored += rows;
    }
    scored as f64 / started.elapsed().as_secs_f64()
}

/// The feature columns of a CSV written by `aegis-bench train`.
fn read_rows(path: &PathBuf) -> Result<Vec<Features>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let mut row = [0.0; N_FEATURES];
            let mut fields = line.split(',');
            for slot in &mut row {
                let field = fields.next().unwrap_or_default();
                *slot = field.parse().with_context(|| {
                    format!(
                        "{} line {}: {field:?} is not a number",
                        path.display(),
                        i + 2
                    )
                })?;
            }
            Ok(row)
        })
        .collect()
}
