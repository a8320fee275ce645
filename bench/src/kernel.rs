//! The compiled forest on one thread: batch throughput, single-row latency and model load time,
//! on the rows `aegis-bench train` exported (the same rows scikit-learn scores). Batch throughput
//! is measured, in every run, for the batch call (`--kernel`: the fastest kernel the CPU runs, or
//! the one named), for the portable reference walk, and for each vectorised kernel the CPU runs
//! (AVX-512, AVX2), each checked equal to the reference bit for bit.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::features::{Features, N_FEATURES};
use aegis_core::forest::BatchKernel;
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
    /// Shortest time one batch measurement lasts.
    #[arg(long = "min-time", default_value = "1s", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    seconds: f64,
    /// Rows timed one by one for the single-row latency.
    #[arg(long, default_value_t = 2_000)]
    single: usize,
    /// The batch kernel of the main figure: `auto` (what `predict_batch` takes on this CPU),
    /// `avx512`, `avx2` or `portable` — to measure a machine without AVX-512 on one with it. A
    /// kernel the CPU cannot run is an error, not a quiet fallback.
    #[arg(long, env = "AEGIS_BENCH_KERNEL", default_value = "auto")]
    kernel: KernelChoice,
}

/// `--kernel`: the batch call's own choice, or one kernel by name.
#[derive(Clone, Copy)]
enum KernelChoice {
    Auto,
    Named(BatchKernel),
}

impl std::str::FromStr for KernelChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name == "auto" {
            return Ok(KernelChoice::Auto);
        }
        name.parse()
            .map(KernelChoice::Named)
            .map_err(|e| format!("{e} (or auto)"))
    }
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

    let forest = model.forest();
    let batch_kernel = match args.kernel {
        KernelChoice::Auto => forest.batch_kernel(),
        KernelChoice::Named(kernel) => kernel,
    };
    // Each vectorised kernel this CPU runs on this forest, measured on its own.
    let vectorised: Vec<BatchKernel> = [BatchKernel::Avx512, BatchKernel::Avx2]
        .into_iter()
        .filter(|&k| forest.predict_batch_with(k, &rows[..1], &mut [0.0]).is_ok())
        .collect();

    let mut reference = vec![0.0; rows.len()];
    forest.predict_batch_reference(&rows, &mut reference);
    let same = |out: &[f64]| {
        out.iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    };
    let mut out = vec![0.0; rows.len()];
    let (mut rows_per_second, mut reference_rows_per_second) = (Vec::new(), Vec::new());
    let mut kernel_rows_per_second = vec![Vec::new(); vectorised.len()];
    for _ in 0..args.runs.max(1) {
        rows_per_second.push(match args.kernel {
            KernelChoice::Auto => throughput(args.seconds, rows.len(), || {
                forest.predict_batch(black_box(&rows), &mut out);
                black_box(&out);
            }),
            KernelChoice::Named(kernel) => {
                forest
                    .predict_batch_with(kernel, &rows, &mut out)
                    .with_context(|| format!("--kernel {kernel}"))?;
                throughput(args.seconds, rows.len(), || {
                    let scored = forest.predict_batch_with(kernel, black_box(&rows), &mut out);
                    black_box((scored.is_ok(), &out));
                })
            }
        });
        ensure!(
            same(&out),
            "the {batch_kernel} batch kernel and the reference kernel disagree"
        );
        // The portable reference kernel (what the vectorised ones replaced), for the record.
        reference_rows_per_second.push(throughput(args.seconds, rows.len(), || {
            forest.predict_batch_reference(black_box(&rows), &mut out);
            black_box(&out);
        }));
        for (&kernel, figures) in vectorised.iter().zip(&mut kernel_rows_per_second) {
            figures.push(throughput(args.seconds, rows.len(), || {
                let scored = forest.predict_batch_with(kernel, black_box(&rows), &mut out);
                black_box((scored.is_ok(), &out));
            }));
            ensure!(
                same(&out),
                "the {kernel} kernel and the reference kernel disagree"
            );
        }
    }
    let mean_probability = reference.iter().sum::<f64>() / reference.len() as f64;

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

    let mut report = json!({
        "rows": rows.len(),
        "batch_kernel": batch_kernel.name(),
        "cpu_kernel": BatchKernel::fastest_here().name(),
        "trees": model.forest().n_trees(),
        "nodes": model.forest().n_nodes(),
        "scoring_nodes": model.forest().n_scoring_nodes(),
        "batch_rows_per_second": rows_per_second,
        "reference_rows_per_second": reference_rows_per_second,
        "single_p50_us": p50,
        "single_p99_us": p99,
        "load_seconds": load_seconds,
        "mean_probability": mean_probability,
    });
    for (kernel, figures) in vectorised.iter().zip(kernel_rows_per_second) {
        report[format!("{kernel}_rows_per_second")] = json!(figures);
    }
    Ok(report.to_string())
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
