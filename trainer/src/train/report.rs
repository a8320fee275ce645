//! What `train` writes beside the model (`MODEL.report.json`) and prints when it is done.

use std::path::Path;

use aegis_core::forest::{CompiledForest, ForestParams};
use serde::Serialize;

use crate::metrics::{Quality, Reliability};
use crate::split::TimeSplit;

/// Everything `MODEL.report.json` holds.
#[derive(Serialize)]
pub(crate) struct TrainReport {
    pub model_version: String,
    pub trained_at: i64,
    /// The input files, each as FILE:W with its legit weight.
    pub data: Vec<String>,
    pub rows: usize,
    pub duplicates_skipped: u64,
    pub frauds: u64,
    pub params: ForestParams,
    pub forest: ForestShape,
    pub fit_seconds: f64,
    pub split: TimeSplit,
    pub split_description: String,
    pub thresholds: ThresholdChoice,
    /// Figures on the threshold part (thresholds were chosen here, so these are optimistic).
    pub threshold_part: Quality,
    /// Figures on the test part: the honest ones.
    pub test: Quality,
    /// How well probabilities match observed fraud rates on the test part, before and after the
    /// calibration map (fitted on the threshold part).
    pub calibration: CalibrationReport,
    pub curves: String,
    pub reliability_diagram: String,
}

#[derive(Serialize)]
pub(crate) struct CalibrationReport {
    pub method: String,
    pub points: usize,
    /// The forest's raw score read as a probability.
    pub raw: Reliability,
    /// The calibrated probability, as verdicts carry it.
    pub calibrated: Reliability,
}

#[derive(Serialize)]
pub(crate) struct ForestShape {
    pub trees: usize,
    pub nodes: usize,
    pub max_depth: usize,
}

impl ForestShape {
    pub fn of(forest: &CompiledForest) -> ForestShape {
        ForestShape {
            trees: forest.n_trees(),
            nodes: forest.n_nodes(),
            max_depth: forest.max_depth(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ThresholdChoice {
    pub review: f64,
    pub block: f64,
    pub block_precision_target: f64,
    pub review_precision_target: f64,
    pub notes: Vec<String>,
}

/// Prints what was trained, its test figures and the files written.
pub(crate) fn print_summary(
    report: &TrainReport,
    model: &Path,
    report_path: &Path,
    pictures: &[&Path],
) {
    println!(
        "model {} — {} trees, depth <= {}, {} nodes, fitted in {:.1} s",
        report.model_version,
        report.forest.trees,
        report.params.max_depth,
        report.forest.nodes,
        report.fit_seconds
    );
    println!("data {}", report.data.join(", "));
    println!("split {}", report.split_description);
    for warning in &report.split.warnings {
        println!("warning: {warning}");
    }
    println!(
        "thresholds: REVIEW >= {:.4}, BLOCK >= {:.4}",
        report.thresholds.review, report.thresholds.block
    );
    for note in &report.thresholds.notes {
        println!("note: {note}");
    }
    println!("\ntest steps (never seen by fitting, calibration or threshold choice):");
    print!("{}", report.test.table());
    let c = &report.calibration;
    println!(
        "calibration ({}, {} points): expected calibration error {:.4} (raw score {:.4}), \
         Brier score {:.5} (raw {:.5})",
        c.method,
        c.points,
        c.calibrated.expected_calibration_error,
        c.raw.expected_calibration_error,
        c.calibrated.brier_score,
        c.raw.brier_score
    );
    let pictures: Vec<String> = pictures.iter().map(|p| p.display().to_string()).collect();
    println!(
        "\nwrote {}, {}, {}",
        model.display(),
        report_path.display(),
        pictures.join(", ")
    );
}
