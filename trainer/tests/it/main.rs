//! End-to-end tests of the `aegis-trainer` binary on the shipped PaySim samples.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod evaluate;
mod mistakes;
mod train;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A file in the repository's `data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

pub const ENRICHED: &str = "paysim_fraud_enriched_steps_1-400.csv";
pub const MIXED: &str = "paysim_mixed_steps_1-119.csv";
pub const TRANSFER_CASHOUT: &str = "paysim_transfer_cashout_steps_1-10.csv";

/// Runs the trainer with `args`.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-trainer"))
        .args(args)
        .env_remove("AEGIS_LOG")
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
