//! End-to-end tests of the `aegis-trainer` binary on the shipped PaySim samples.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod evaluate;
mod forest;
mod mistakes;
mod model;
mod promote;
mod publish;
mod spec;
mod train;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use aegis_core::features::Features;
use aegis_core::forest::ForestParams;
use aegis_core::model::TrainingSummary;
use aegis_core::{Model, Thresholds};
use aegis_trainer::{dataset, fit};

pub use aegis_testkit::data;

/// Features and 0/1 labels of every row of a shipped sample.
pub fn labelled_rows(name: &str) -> (Vec<Features>, Vec<f64>) {
    dataset::read_one_file(&data(name), 1.0)
        .expect("sample reads")
        .features_and_labels()
}

/// A small model fitted on the enriched sample, uncalibrated (thresholds 0.5 / 0.9 on the raw
/// score); `split` labels it.
pub fn fitted_model(trees: usize, max_depth: u16, split: &str) -> Model {
    let (rows, labels) = labelled_rows(ENRICHED);
    let weights = fit::balanced_weights(&labels);
    let params = ForestParams::default()
        .with_trees(trees)
        .with_max_depth(max_depth);
    let compiled = fit::grow(&rows, &labels, &weights, &params, &|| {})
        .unwrap()
        .compile()
        .unwrap();
    let summary = TrainingSummary {
        trained_at: 0,
        data: vec![ENRICHED.into()],
        rows: rows.len() as u64,
        frauds: labels.iter().sum::<f64>() as u64,
        params,
        legit_weights: vec![256.2],
        legit_weight: 256.2,
        split: split.into(),
        average_precision: 0.0,
        roc_auc: 0.0,
        fitted_steps: None,
        threshold_steps: None,
        fitted_period: None,
        threshold_period: None,
    };
    Model::new(compiled, None, Thresholds::new(0.5, 0.9).unwrap(), summary)
}

pub const ENRICHED: &str = "paysim_fraud_enriched_steps_1-400.csv";
pub const MIXED: &str = "paysim_mixed_steps_1-119.csv";
pub const TRANSFER_CASHOUT: &str = "paysim_transfer_cashout_steps_1-10.csv";

/// Runs the trainer with `args`.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-trainer"))
        .args(args)
        .env_remove("AEGIS_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("aegis-trainer runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The demo model (100 trees, depth 12, enriched sample, legit weight 256.2), trained once per
/// test run and shared.
pub fn demo_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo.model");
        let out = trainer(&[
            "train",
            "--data",
            data(ENRICHED).to_str().expect("utf-8 path"),
            "--out",
            path.to_str().expect("utf-8 path"),
            "--legit-weight",
            "256.2",
        ]);
        assert!(out.status.success(), "training failed: {}", stderr(&out));
        (dir, path)
    });
    path
}

/// Writes a PaySim CSV with the given data lines into `dir`.
pub fn write_csv(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write csv");
    path
}
