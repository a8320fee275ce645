//! `aegis-trainer train`: read, split by time, fit, calibrate and choose thresholds on the steps
//! after those fitted on, measure on the latest steps, and write the artifact, its report and its
//! pictures. [`run`] calls each step in turn.

pub(crate) mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use aegis_core::calibration::{Calibration, Observation};
use aegis_core::forest::{CompiledForest, ForestParams};
use aegis_core::model::TrainingSummary;
use aegis_core::spec::Spec;
use aegis_core::{Model, Thresholds};
use anyhow::{Context, Result};

use crate::dataset::{self, Dataset};
use crate::metrics::{self, Quality, Reliability, Scored};
use crate::plot::{self, OperatingPoint as PlotPoint};
use crate::sources::{self, WeightedFile};
use crate::split::{self, Part, TimeSplit};
use crate::TrainArgs;
use report::{print_summary, CalibrationReport, ForestShape, ThresholdChoice, TrainReport};

/// Runs `train`: every flag is checked before the data is read, and every figure printed comes
/// from the test part, which neither fitting nor calibration nor threshold choice has seen. Data
/// of another spec than PaySim's, or a period, goes the spec's way ([`crate::spec::train`]).
pub fn run(args: &TrainArgs) -> Result<()> {
    let spec = match &args.spec {
        Some(path) => Spec::load(path)?,
        None => Spec::paysim().clone(),
    };
    if !spec.is_paysim() || args.fit_from.is_some() || args.fit_until.is_some() {
        return crate::spec::train::run(args, &spec);
    }
    let params = args.forest_params(&spec)?;
    let files = sources::resolve(&args.data, args.legit_weight)?;
    check_precision_targets(args)?;
    let dataset = dataset::read(&files)?;
    let split = split_by_time(&dataset)?;

    let started = Instant::now();
    let forest = crate::fit::on_part(&dataset, &split.fit, args.fraud_weight(&spec), &params)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    tracing::info!(fit_seconds, nodes = forest.n_nodes(), "fitted");
    let tuning = tune(&forest, &dataset, &split, args)?;

    let summary = training_summary(&files, &dataset, params, &split, &tuning.test);
    let shape = ForestShape::of(&forest);
    let model = Model::new(forest, Some(tuning.calibration), tuning.thresholds, summary);
    model.save(&args.out)?;
    let [curves_path, reliability_path] = draw_pictures(
        &args.out,
        &model,
        &tuning.test_rows,
        &tuning.test,
        &tuning.calibration_report,
    )?;
    let report = TrainReport {
        model_version: model.model_version().to_owned(),
        trained_at: model.training().trained_at,
        data: files
            .iter()
            .map(|f| format!("{}:{}", f.path.display(), f.legit_weight))
            .collect(),
        rows: dataset.rows.len(),
        duplicates_skipped: dataset.duplicates,
        frauds: dataset.frauds(),
        params,
        forest: shape,
        fit_seconds,
        split_description: split.describe(),
        split,
        thresholds: tuning.choice,
        threshold_part: tuning.threshold_part,
        test: tuning.test,
        calibration: tuning.calibration_report,
        curves: file_name(&curves_path),
        reliability_diagram: file_name(&reliability_path),
    };
    let report_path = beside(&args.out, "report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    print_summary(
        &report,
        &args.out,
        &report_path,
        &[&curves_path, &reliability_path],
    );
    Ok(())
}

/// `--block-precision` and `--review-precision` must be in (0, 1].
pub(crate) fn check_precision_targets(args: &TrainArgs) -> Result<()> {
    for (flag, v) in [
        ("--block-precision", args.block_precision),
        ("--review-precision", args.review_precision),
    ] {
        anyhow::ensure!(v > 0.0 && v <= 1.0, "{flag} must be in (0, 1] (got {v})");
    }
    if let Some(w) = args.fraud_weight {
        anyhow::ensure!(
            w.is_finite() && w > 0.0,
            "--fraud-weight must be a positive number (got {w})"
        );
    }
    Ok(())
}

/// The time split of `dataset`, logged, its warnings said on stderr.
fn split_by_time(dataset: &Dataset) -> Result<TimeSplit> {
    let split = split::by_step(&dataset.rows)?;
    tracing::info!(
        rows = dataset.rows.len(),
        duplicates = dataset.duplicates,
        "read"
    );
    tracing::info!("split {}", split.describe());
    for warning in &split.warnings {
        eprintln!("aegis-trainer: warning: {warning}");
    }
    Ok(split)
}

/// What the steps fitting has not seen decide and show: the calibration and thresholds, chosen on
/// the threshold part, and the figures on the test part.
struct Tuning {
    calibration: Calibration,
    choice: ThresholdChoice,
    thresholds: Thresholds,
    /// Figures on the threshold part (optimistic: the thresholds were chosen there).
    threshold_part: Quality,
    /// The test part's rows with calibrated probabilities.
    test_rows: Vec<Scored>,
    /// Figures on the test part: the honest ones.
    test: Quality,
    calibration_report: CalibrationReport,
}

/// Calibrates and chooses thresholds on the threshold part, which fitting has not seen, then
/// measures the calibrated model on the test part.
fn tune(
    forest: &CompiledForest,
    dataset: &Dataset,
    split: &TimeSplit,
    args: &TrainArgs,
) -> Result<Tuning> {
    let raw_threshold_rows = score(forest, dataset, &split.threshold);
    let calibration = calibrate(&raw_threshold_rows)?;
    let threshold_rows = calibrated(&raw_threshold_rows, &calibration);
    let choice = choose_thresholds(&threshold_rows, args);
    let thresholds = Thresholds::new(choice.review, choice.block)?;
    let raw_test_rows = score(forest, dataset, &split.test);
    let test_rows = calibrated(&raw_test_rows, &calibration);
    let calibration_report = CalibrationReport {
        method: calibration.method.clone(),
        points: calibration.points.len(),
        raw: Reliability::measure(&raw_test_rows),
        calibrated: Reliability::measure(&test_rows),
    };
    Ok(Tuning {
        threshold_part: Quality::measure(&threshold_rows, &thresholds),
        test: Quality::measure(&test_rows, &thresholds),
        calibration,
        choice,
        thresholds,
        test_rows,
        calibration_report,
    })
}

/// What the model artifact records of its training.
fn training_summary(
    files: &[WeightedFile],
    dataset: &Dataset,
    params: ForestParams,
    split: &TimeSplit,
    test: &Quality,
) -> TrainingSummary {
    TrainingSummary {
        trained_at: aegis_core::clock::now_ms(),
        data: files.iter().map(|f| f.path.display().to_string()).collect(),
        legit_weights: files.iter().map(|f| f.legit_weight).collect(),
        rows: dataset.rows.len() as u64,
        frauds: dataset.frauds(),
        params,
        legit_weight: test.legit_weights[1],
        split: split.describe(),
        average_precision: test.average_precision,
        roc_auc: test.roc_auc,
        fitted_steps: Some(split.fit.steps()),
        threshold_steps: Some(split.threshold.steps()),
        fitted_period: None,
        threshold_period: None,
    }
}

/// Draws `MODEL.curves.svg` and `MODEL.reliability.svg` beside the model; returns their paths.
pub(crate) fn draw_pictures(
    out: &Path,
    model: &Model,
    test_rows: &[Scored],
    test: &Quality,
    calibration: &CalibrationReport,
) -> Result<[PathBuf; 2]> {
    let curves_path = beside(out, "curves.svg");
    draw_curves(&curves_path, model, test_rows, test)?;
    let reliability_path = beside(out, "reliability.svg");
    plot::draw_reliability(
        &reliability_path,
        &format!("Aegis {} on test steps: reliability", model.model_version()),
        &calibration.raw,
        &calibration.calibrated,
    )?;
    Ok([curves_path, reliability_path])
}

/// Every row of `part` with the forest's raw score.
fn score(forest: &CompiledForest, dataset: &Dataset, part: &Part) -> Vec<Scored> {
    part.indices
        .iter()
        .map(|&i| {
            let row = &dataset.rows[i];
            Scored {
                probability: forest.predict(&row.features),
                is_fraud: row.is_fraud,
                weight: row.weight,
            }
        })
        .collect()
}

/// `rows` with their raw scores mapped by `calibration`.
pub(crate) fn calibrated(rows: &[Scored], calibration: &Calibration) -> Vec<Scored> {
    rows.iter()
        .map(|r| Scored {
            probability: calibration.apply(r.probability),
            ..*r
        })
        .collect()
}

/// The isotonic calibration of the raw scores of `rows`, at their natural-rate weights.
pub(crate) fn calibrate(rows: &[Scored]) -> Result<Calibration> {
    let observations: Vec<Observation> = rows
        .iter()
        .map(|r| Observation {
            score: r.probability,
            label: f64::from(u8::from(r.is_fraud)),
            weight: r.weight,
        })
        .collect();
    Calibration::fit_isotonic(&observations).context("cannot calibrate on the threshold steps")
}

/// BLOCK at the lowest score whose weighted precision reaches `--block-precision` (the most frauds
/// stopped at that precision); REVIEW lower, at the lowest score whose weighted precision still
/// reaches `--review-precision` — the highest recall an analyst queue of that quality allows. When
/// a target cannot be met the closest choice is made and noted.
pub(crate) fn choose_thresholds(rows: &[Scored], args: &TrainArgs) -> ThresholdChoice {
    let mut notes = Vec::new();
    let block = metrics::threshold_for_precision(rows, args.block_precision).unwrap_or_else(|| {
        let best = metrics::curve(rows)
            .into_iter()
            .max_by(|a, b| {
                a.precision
                    .total_cmp(&b.precision)
                    .then(b.threshold.total_cmp(&a.threshold))
            })
            .map_or(1.0, |p| p.threshold);
        notes.push(format!(
            "precision {} is reached at no threshold; BLOCK uses the most precise one, {best:.4}",
            args.block_precision
        ));
        best
    });
    let review = metrics::threshold_for_precision(rows, args.review_precision)
        .unwrap_or(block)
        .min(block);
    if review == block {
        notes.push(format!(
            "no score below BLOCK keeps precision {}; REVIEW equals BLOCK",
            args.review_precision
        ));
    }
    ThresholdChoice {
        review,
        block,
        block_precision_target: args.block_precision,
        review_precision_target: args.review_precision,
        notes,
    }
}

/// The PR/ROC picture of the test part, with BLOCK and REVIEW marked.
pub(crate) fn draw_curves(
    path: &Path,
    model: &Model,
    rows: &[Scored],
    test: &Quality,
) -> Result<()> {
    let points = metrics::curve(rows);
    let operating = [
        PlotPoint {
            label: "BLOCK",
            precision: test.block.precision,
            recall: test.block.recall,
            false_positive_rate: test.block.confusion.false_positive_rate(),
        },
        PlotPoint {
            label: "REVIEW",
            precision: test.review.precision,
            recall: test.review.recall,
            false_positive_rate: test.review.confusion.false_positive_rate(),
        },
    ];
    let title = format!("Aegis {} on test steps", model.model_version());
    plot::draw_curves(
        path,
        &title,
        &points,
        test.average_precision,
        test.roc_auc,
        &operating,
    )
}

/// `MODEL.<suffix>` next to the model.
pub(crate) fn beside(model: &Path, suffix: &str) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}
