//! `aegis-trainer evaluate`: scores every row of a PaySim CSV, in input order, with a model artifact
//! exactly as the scorer does, and reports its quality (and, with `--predictions`, writes every
//! prediction to a CSV file).

mod predictions_csv;

use std::path::Path;

use aegis_core::features::Features;
use aegis_core::paysim::PaysimReader;
use aegis_core::spec::Spec;
use aegis_core::{Decision, Model};
use anyhow::Result;
use serde::Serialize;

use crate::dataset::byte_bar;
use crate::metrics::{weight, Quality, Reliability, Scored};
use crate::EvaluateArgs;

/// What `--json` prints: the design's contract fields first (precision and recall at BLOCK).
#[derive(Serialize)]
struct EvaluationJson<'a> {
    rows: usize,
    frauds: usize,
    roc_auc: f64,
    average_precision: f64,
    precision: f64,
    recall: f64,
    f1: f64,
    model_version: &'a str,
    legit_weight: f64,
    thresholds: aegis_core::Thresholds,
    /// Whether `probability` is calibrated (a format-1 model gives its raw score).
    calibrated: bool,
    /// Rows (and frauds among them) from steps the model was fitted or thresholded on: figures
    /// that include them are optimistic.
    seen_rows: usize,
    seen_frauds: usize,
    /// Expected calibration error (10 bins) and Brier score, weighted to the natural rate.
    expected_calibration_error: f64,
    brier_score: f64,
    quality: &'a Quality,
    reliability: &'a Reliability,
}

/// One row's prediction, exactly as the scorer would decide it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// 1-based data row number in the file.
    pub row: usize,
    pub probability: f64,
    pub decision: Decision,
    pub is_fraud: bool,
    /// The row's PaySim step.
    pub step: i32,
}

/// Runs `evaluate`: scores the file, writes `--predictions` if asked, warns about rows from steps
/// the model has seen, and prints the figures (a table, or one JSON object with `--json`). A
/// model of another spec than PaySim's, or a period, goes the spec's way
/// ([`crate::spec::evaluate`]).
pub fn run(args: &EvaluateArgs) -> Result<()> {
    crate::check_legit_weight(args.legit_weight)?;
    let model = Model::load(&args.model)?;
    let spec = match &args.spec {
        Some(path) => {
            let spec = Spec::load(path)?;
            model.expect_spec(&args.model, &spec)?;
            spec
        }
        None => model.spec().clone(),
    };
    if !spec.is_paysim() || args.from.is_some() || args.until.is_some() {
        return crate::spec::evaluate::run(args, &model, &spec);
    }
    let predictions = predict(&model, &args.data)?;
    if let Some(path) = &args.predictions {
        predictions_csv::write(path, &predictions)?;
    }
    let scored: Vec<Scored> = predictions
        .iter()
        .map(|p| Scored {
            probability: p.probability,
            is_fraud: p.is_fraud,
            weight: weight(p.is_fraud, args.legit_weight),
        })
        .collect();
    let quality = Quality::measure(&scored, &model.thresholds());
    let reliability = Reliability::measure(&scored);
    let (seen_rows, seen_frauds) = predictions
        .iter()
        .filter(|p| model.training().has_seen_step(p.step))
        .fold((0, 0), |(rows, frauds), p| {
            (rows + 1, frauds + usize::from(p.is_fraud))
        });
    if seen_rows > 0 {
        eprintln!(
            "aegis-trainer: warning: {}",
            seen_warning(&model, seen_rows, seen_frauds, predictions.len())
        );
    }
    if args.json {
        let json = EvaluationJson {
            rows: quality.rows,
            frauds: quality.frauds,
            roc_auc: quality.roc_auc,
            average_precision: quality.average_precision,
            precision: quality.block.precision,
            recall: quality.block.recall,
            f1: quality.block.f1,
            model_version: model.model_version(),
            legit_weight: args.legit_weight,
            thresholds: model.thresholds(),
            calibrated: model.is_calibrated(),
            seen_rows,
            seen_frauds,
            expected_calibration_error: reliability.expected_calibration_error,
            brier_score: reliability.brier_score,
            quality: &quality,
            reliability: &reliability,
        };
        println!("{}", serde_json::to_string(&json)?);
    } else {
        println!(
            "model {} on {}\n{}expected calibration error {:.4}, Brier score {:.5}{}",
            model.model_version(),
            args.data.display(),
            quality.table(),
            reliability.expected_calibration_error,
            reliability.brier_score,
            if model.is_calibrated() {
                ""
            } else {
                " (an uncalibrated format-1 model: probabilities are raw forest scores)"
            }
        );
    }
    Ok(())
}

/// The warning for rows from steps the model has seen: how many, which steps, and what follows.
fn seen_warning(model: &Model, rows: usize, frauds: usize, total: usize) -> String {
    let steps: Vec<String> = [
        ("fitted on", model.training().fitted_steps),
        ("thresholded on", model.training().threshold_steps),
    ]
    .iter()
    .filter_map(|(what, range)| range.map(|r| format!("{what} steps {}–{}", r.first, r.last)))
    .collect();
    format!(
        "{rows} of {total} rows ({frauds} frauds) are from steps the model was {}: figures \
         that include them are optimistic; evaluate on later steps",
        steps.join(" and ")
    )
}

/// Rows read before they are scored together by the forest's batch kernel.
const BLOCK_ROWS: usize = 4096;

/// Scores every row of a PaySim CSV in input order with the model's own thresholds; stops at the
/// first bad row with an error naming file, line and field. Rows are read in blocks and each
/// block is scored at once by the batch kernel (the same probabilities as one at a time); a row
/// is read straight into its features, nothing allocated for it.
pub fn predict(model: &Model, path: &Path) -> Result<Vec<Prediction>> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = byte_bar(size, "scoring");
    let mut reader = PaysimReader::open(path)?;
    // Room for every row at once (PaySim rows are longer than 48 bytes): no copies as it grows.
    let mut predictions = Vec::with_capacity(usize::try_from(size / 48).unwrap_or(0));
    let mut rows: Vec<Features> = Vec::with_capacity(BLOCK_ROWS);
    let mut probabilities = vec![0.0; BLOCK_ROWS];
    let mut score_block = |rows: &mut Vec<Features>, predictions: &mut Vec<Prediction>| {
        let start = predictions.len() - rows.len();
        model.probabilities(rows, &mut probabilities[..rows.len()]);
        for (p, &probability) in predictions[start..].iter_mut().zip(&probabilities) {
            p.probability = probability;
            p.decision = model.thresholds().decide(probability);
        }
        rows.clear();
    };
    while let Some(row) = reader.next_scoring_row() {
        let row = row?;
        rows.push(row.features);
        predictions.push(Prediction {
            row: predictions.len() + 1,
            probability: f64::NAN, // filled in when its block is scored
            decision: Decision::Allow,
            is_fraud: row.is_fraud,
            step: row.step,
        });
        if rows.len() == BLOCK_ROWS {
            score_block(&mut rows, &mut predictions);
            bar.set_position(reader.bytes_read());
        }
    }
    score_block(&mut rows, &mut predictions);
    bar.finish_and_clear();
    anyhow::ensure!(!predictions.is_empty(), "{} has no rows", path.display());
    Ok(predictions)
}
