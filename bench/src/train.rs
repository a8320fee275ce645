//! Training time: refit the model's forest exactly as `aegis-trainer train` did (same files, split,
//! weights and parameters), and export the same rows for scikit-learn.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aegis_core::features::{Features, FEATURE_NAMES};
use aegis_core::Model;
use aegis_trainer::{dataset, sources, split};
use anyhow::{ensure, Context, Result};
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct TrainArgs {
    /// The model whose training is repeated (its data files and parameters are inside it).
    #[arg(long)]
    model: PathBuf,
    /// Directory for `fit.csv` (training rows, label, weight) and `score.csv` (every row).
    #[arg(long)]
    export: PathBuf,
    /// How many times to fit.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &TrainArgs) -> Result<String> {
    let model = Model::load(&args.model)?;
    let params = model.training().params;
    let data = dataset::read(&sources::of_model(model.training()))?;
    let parts = split::by_step(&data.rows)?;

    let mut seconds = Vec::new();
    let mut same_forest = true;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let forest = aegis_trainer::fit::on_part(&data, &parts.fit, None, &params)?;
        seconds.push(started.elapsed().as_secs_f64());
        same_forest &= forest.nodes() == model.forest().nodes();
    }

    std::fs::create_dir_all(&args.export)
        .with_context(|| format!("cannot create {}", args.export.display()))?;
    let fit_rows: Vec<(Features, bool)> = parts
        .fit
        .indices
        .iter()
        .map(|&i| (data.rows[i].features, data.rows[i].is_fraud))
        .collect();
    let labels: Vec<f64> = fit_rows
        .iter()
        .map(|(_, y)| f64::from(u8::from(*y)))
        .collect();
    let weights = aegis_trainer::fit::balanced_weights(&labels);
    write_rows(&args.export.join("fit.csv"), &fit_rows, Some(&weights))?;
    let all: Vec<(Features, bool)> = data.rows.iter().map(|r| (r.features, r.is_fraud)).collect();
    write_rows(&args.export.join("score.csv"), &all, None)?;

    ensure!(
        same_forest,
        "the refitted forest differs from {}: was it trained with other data or another build?",
        args.model.display()
    );
    Ok(json!({
        "fit_seconds": seconds,
        "fit_rows": fit_rows.len(),
        "score_rows": all.len(),
        "trees": params.trees,
        "max_depth": params.max_depth,
        "min_samples_leaf": params.min_samples_leaf,
        "features_per_split": params.features_per_split,
        "nodes": model.forest().n_nodes(),
        "forest_depth": model.forest().max_depth(),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "review_threshold": model.thresholds().review,
        "block_threshold": model.thresholds().block,
    })
    .to_string())
}

/// Features (in [`FEATURE_NAMES`] order), the 0/1 label and, for training rows, the weight.
fn write_rows(path: &Path, rows: &[(Features, bool)], weights: Option<&[f64]>) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    write!(out, "{},is_fraud", FEATURE_NAMES.join(","))?;
    if weights.is_some() {
        write!(out, ",weight")?;
    }
    writeln!(out)?;
    for (i, (features, is_fraud)) in rows.iter().enumerate() {
        for value in features {
            write!(out, "{value},")?;
        }
        write!(out, "{}", u8::from(*is_fraud))?;
        if let Some(w) = weights {
            write!(out, ",{}", w[i])?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
