//! `aegis-trainer train --spec`: fit, calibrate and choose thresholds on one period of a spec's
//! data, and measure on the period after it.
//!
//! With `--fit-from D --fit-until D`, the period is given: the forest is fitted on its first
//! three quarters of rows, and the calibration and thresholds are chosen on the last quarter
//! (60 % and 20 % of the whole, as PaySim's split has them). Measured, as the Handbook does it:
//! the rows of an equally long period starting the label delay after its end — labels of the
//! period's last days are not known when the model goes live — leaving out cards known
//! compromised by then. Without a period, the file is cut by time, 60 % / 20 % / 20 % of rows.
//! Every earlier row of the file feeds the features' history either way.

use std::path::PathBuf;
use std::time::Instant;

use aegis_core::model::{Period, TrainingSummary};
use aegis_core::spec::Spec;
use aegis_core::{Model, Thresholds};
use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{judge, period, read_files, Judged, Table};
use crate::metrics::{CardPrecision, Quality, Reliability, Scored};
use crate::split::{ENOUGH_FRAUDS, MIN_FRAUDS};
use crate::train::report::{CalibrationReport, ForestShape, ThresholdChoice};
use crate::train::{self as paysim_train};
use crate::TrainArgs;

/// Share of a given period's rows the forest is fitted on; the rest choose calibration and
/// thresholds (0.6 / 0.8 of PaySim's split).
const FIT_SHARE_OF_PERIOD: f64 = 0.75;
/// Without a period: the shares of all rows fitted on, and fitted on or thresholded on.
const FIT_SHARE: f64 = 0.6;
const THRESHOLD_SHARE: f64 = 0.8;

/// One part of the split: rows `indices` of the table, in `period`.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    pub from: String,
    pub until: String,
    pub rows: usize,
    pub frauds: usize,
    #[serde(skip)]
    pub period: Period,
    #[serde(skip)]
    pub indices: Vec<usize>,
}

impl Part {
    fn of(table: &Table, indices: Vec<usize>, period: Period) -> Part {
        Part {
            from: period::instant(period.from_ms),
            until: period::instant(period.until_ms),
            rows: indices.len(),
            frauds: indices.iter().filter(|&&i| table.rows[i].is_fraud).count(),
            period,
            indices,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} to {} ({} rows, {} frauds)",
            self.from, self.until, self.rows, self.frauds
        )
    }
}

/// The split by event time.
#[derive(Clone, Debug, Serialize)]
pub struct Split {
    pub fit: Part,
    pub threshold: Part,
    /// None when the data ends before the test period starts.
    pub test: Option<Part>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Split {
    pub fn describe(&self) -> String {
        let test = self
            .test
            .as_ref()
            .map_or_else(|| "no test rows in the data".to_owned(), Part::describe);
        format!(
            "by event time, never at random: fit on {}; thresholds chosen on {}; tested on {test}",
            self.fit.describe(),
            self.threshold.describe(),
        )
    }
}

/// What `MODEL.report.json` holds for a model of a spec.
#[derive(Serialize)]
struct SpecTrainReport<'a> {
    model_version: &'a str,
    spec: &'a str,
    spec_hash: String,
    trained_at: i64,
    data: String,
    rows_read: usize,
    params: aegis_core::forest::ForestParams,
    forest: ForestShape,
    fit_seconds: f64,
    split: &'a Split,
    split_description: String,
    thresholds: &'a ThresholdChoice,
    threshold_part: Quality,
    /// Figures on the test part: the honest ones (absent without test rows).
    test: Option<TestReport<'a>>,
    calibration: CalibrationReport,
    curves: String,
    reliability_diagram: String,
}

#[derive(Serialize)]
struct TestReport<'a> {
    quality: &'a Quality,
    card_precision: Option<&'a CardPrecision>,
    /// Rows (and frauds) left out as cards known compromised by their day.
    known_compromised_rows: usize,
    known_compromised_frauds: usize,
}

/// Runs `train` on a spec's data.
pub fn run(args: &TrainArgs, spec: &Spec) -> Result<()> {
    let params = args.forest_params(spec)?;
    paysim_train::check_precision_targets(args)?;
    let data = files(args)?;
    if spec.label.is_none() {
        bail!(
            "spec `{}` declares no label; training needs one (a [label] table naming the field)",
            spec.name
        );
    }
    let given = period::from_flags(
        args.fit_from.as_deref(),
        args.fit_until.as_deref(),
        ["--fit-from", "--fit-until"],
    )?;
    let test_period = given.map(|p| after_delay(p, spec.label_delay().millis()));
    let table = read_files(spec, &data, |t| {
        given.is_none_or(|p| p.contains(t)) || test_period.is_some_and(|p| p.contains(t))
    })?;
    let split = split(&table, given, test_period)?;
    for warning in &split.warnings {
        eprintln!("aegis-trainer: warning: {warning}");
    }

    let started = Instant::now();
    let rows: Vec<&[f64]> = split
        .fit
        .indices
        .iter()
        .map(|&i| table.features(i))
        .collect();
    let labels: Vec<f64> = split
        .fit
        .indices
        .iter()
        .map(|&i| f64::from(u8::from(table.rows[i].is_fraud)))
        .collect();
    let forest = crate::fit::fit(&rows, &labels, args.fraud_weight(spec), &params)?;
    let fit_seconds = started.elapsed().as_secs_f64();

    let raw = |part: &Part| -> Vec<f64> {
        part.indices
            .iter()
            .map(|&i| forest.predict(table.features(i)))
            .collect()
    };
    let raw_threshold = table.scored(&split.threshold.indices, &raw(&split.threshold));
    let calibration = paysim_train::calibrate(&raw_threshold)?;
    let threshold_rows = paysim_train::calibrated(&raw_threshold, &calibration);
    let choice = paysim_train::choose_thresholds(&threshold_rows, args);
    let thresholds = Thresholds::new(choice.review, choice.block)?;
    let threshold_part = Quality::measure_ranked(&threshold_rows, &raw_threshold, &thresholds);

    // The test part, judged as `evaluate` judges it: known-compromised cards left out since the
    // fit period's start.
    let test = split.test.as_ref().map(|part| {
        let raw_scores = raw(part);
        let probabilities: Vec<f64> = raw_scores.iter().map(|&r| calibration.apply(r)).collect();
        let from = split.fit.period.from_ms;
        judge(
            spec,
            &table,
            &part.indices,
            [&probabilities, &raw_scores],
            from,
        )
    });
    let (measured, raw_measured): (&[Scored], &[Scored]) = match &test {
        Some(judged) => (&judged.scored, &judged.ranked),
        None => (&threshold_rows, &raw_threshold),
    };
    let quality = Quality::measure_ranked(measured, raw_measured, &thresholds);
    let summary = TrainingSummary {
        trained_at: aegis_core::clock::now_ms(),
        data: data.iter().map(|d| d.display().to_string()).collect(),
        legit_weights: vec![1.0; data.len()],
        rows: table.read as u64,
        frauds: table.frauds.len() as u64,
        params,
        legit_weight: 1.0,
        split: split.describe(),
        average_precision: quality.average_precision,
        roc_auc: quality.roc_auc,
        fitted_steps: None,
        threshold_steps: None,
        fitted_period: Some(split.fit.period),
        threshold_period: Some(split.threshold.period),
    };
    let shape = ForestShape::of(&forest);
    let model = Model::of_spec(spec, forest, Some(calibration.clone()), thresholds, summary);
    model.save(&args.out)?;
    let calibration_report = CalibrationReport {
        method: calibration.method.clone(),
        points: calibration.points.len(),
        raw: Reliability::measure(raw_measured),
        calibrated: Reliability::measure(measured),
    };
    let pictures =
        paysim_train::draw_pictures(&args.out, &model, measured, &quality, &calibration_report)?;
    let report = SpecTrainReport {
        model_version: model.model_version(),
        spec: &spec.name,
        spec_hash: spec.hash(),
        trained_at: model.training().trained_at,
        data: data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        rows_read: table.read,
        params,
        forest: shape,
        fit_seconds,
        split: &split,
        split_description: split.describe(),
        thresholds: &choice,
        threshold_part,
        test: test.as_ref().map(|judged| TestReport {
            quality: &quality,
            card_precision: judged.card_precision.as_ref(),
            known_compromised_rows: judged.left_out_rows,
            known_compromised_frauds: judged.left_out_frauds,
        }),
        calibration: calibration_report,
        curves: paysim_train::file_name(&pictures[0]),
        reliability_diagram: paysim_train::file_name(&pictures[1]),
    };
    let report_path = paysim_train::beside(&args.out, "report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    print_summary(&report, test.as_ref(), &args.out, &report_path, &pictures);
    Ok(())
}

/// The `--data` files a spec's training reads, each at legit weight 1 (a weight other than 1 is
/// PaySim's down-sampling, which spec data does not have): the original data and, say, what
/// `export-outcomes` wrote since.
fn files(args: &TrainArgs) -> Result<Vec<PathBuf>> {
    if args.legit_weight.is_some_and(|w| w != 1.0)
        || args
            .data
            .iter()
            .any(|d| d.legit_weight.is_some_and(|w| w != 1.0))
    {
        bail!("--data: legit weights are for PaySim samples; a spec's data is read as it is (drop :W and --legit-weight, or write :1)");
    }
    Ok(args.data.iter().map(|d| d.path.clone()).collect())
}

/// The test period of a fit period: as long, starting the label delay after its end.
fn after_delay(fit: Period, delay_ms: i64) -> Period {
    let from_ms = fit.until_ms + delay_ms;
    Period {
        from_ms,
        until_ms: from_ms + (fit.until_ms - fit.from_ms),
    }
}

/// Cuts the kept rows by event time (see the module's doc); never between rows of one instant.
fn split(table: &Table, given: Option<Period>, test_period: Option<Period>) -> Result<Split> {
    let in_period = |p: Option<Period>| -> Vec<usize> {
        (0..table.rows.len())
            .filter(|&i| p.is_none_or(|p| p.contains(table.rows[i].time_ms)))
            .collect()
    };
    let fitted = in_period(given);
    let Some((&first, &last)) = fitted.first().zip(fitted.last()) else {
        bail!(
            "no rows of the data fall in {}",
            given.map_or_else(|| "the file".into(), |p| period::describe(&p))
        );
    };
    let end_ms = given.map_or(table.rows[last].time_ms + 1, |p| p.until_ms);
    let start_ms = given.map_or(table.rows[first].time_ms, |p| p.from_ms);
    let cut_at = |share: f64| -> i64 {
        let at = ((fitted.len() as f64 * share) as usize).min(fitted.len() - 1);
        table.rows[fitted[at]].time_ms
    };
    let (fit_share, threshold_share) = if given.is_some() {
        (FIT_SHARE_OF_PERIOD, 1.0)
    } else {
        (FIT_SHARE, THRESHOLD_SHARE)
    };
    let fit_end = cut_at(fit_share);
    let threshold_end = if threshold_share < 1.0 {
        cut_at(threshold_share)
    } else {
        end_ms
    };
    let part = |from_ms: i64, until_ms: i64| {
        let period = Period { from_ms, until_ms };
        let indices = fitted
            .iter()
            .copied()
            .filter(|&i| period.contains(table.rows[i].time_ms))
            .collect();
        Part::of(table, indices, period)
    };
    let fit = part(start_ms, fit_end);
    let threshold = part(fit_end, threshold_end);
    let test = match (given, test_period) {
        (Some(_), Some(p)) => Some(Part::of(table, in_period(Some(p)), p)),
        _ => Some(part(threshold_end, end_ms)),
    }
    .filter(|p| p.rows > 0);
    let mut warnings = Vec::new();
    for (name, p) in [
        ("fit", Some(&fit)),
        ("threshold", Some(&threshold)),
        ("test", test.as_ref()),
    ] {
        let Some(p) = p else {
            warnings.push(
                "the data ends before the test period: the report's figures are the threshold part's (optimistic); evaluate later rows with `evaluate --from --until`".into(),
            );
            continue;
        };
        if p.frauds == p.rows || (p.frauds < MIN_FRAUDS && name != "test") {
            bail!(
                "the {name} part ({}) needs legit rows and at least {MIN_FRAUDS} frauds; give a longer period",
                p.describe()
            );
        }
        if p.frauds < ENOUGH_FRAUDS {
            warnings.push(format!(
                "the {name} part ({}) holds fewer than {ENOUGH_FRAUDS} frauds: its figures are uncertain (see the intervals)",
                p.describe()
            ));
        }
    }
    Ok(Split {
        fit,
        threshold,
        test,
        warnings,
    })
}

fn print_summary(
    report: &SpecTrainReport,
    judged: Option<&Judged>,
    model: &std::path::Path,
    report_path: &std::path::Path,
    pictures: &[PathBuf; 2],
) {
    println!(
        "model {} (spec {}) — {} trees, depth <= {}, {} nodes, fitted in {:.1} s",
        report.model_version,
        report.spec,
        report.forest.trees,
        report.params.max_depth,
        report.forest.nodes,
        report.fit_seconds
    );
    println!("data {} ({} rows read)", report.data, report.rows_read);
    println!("split {}", report.split_description);
    println!(
        "thresholds: REVIEW >= {:.4}, BLOCK >= {:.4}",
        report.thresholds.review, report.thresholds.block
    );
    for note in &report.thresholds.notes {
        println!("note: {note}");
    }
    match (&report.test, judged) {
        (Some(test), Some(judged)) => {
            println!(
                "\ntest period (never seen by fitting, calibration or threshold choice; {} rows of known-compromised cards left out):",
                judged.left_out_rows
            );
            print!("{}", test.quality.table());
            if let Some(cp) = test.card_precision {
                println!(
                    "Card Precision@{} ({}): {:.4} over {} days",
                    cp.k, cp.entity, cp.value, cp.days
                );
            }
        }
        _ => {
            println!("\nthreshold part (optimistic: thresholds were chosen here):");
            print!("{}", report.threshold_part.table());
        }
    }
    println!(
        "\nwrote {}, {}, {}, {}",
        model.display(),
        report_path.display(),
        pictures[0].display(),
        pictures[1].display()
    );
}
