//! `aegis-trainer evaluate` on a spec's data: scores the rows of a period (or all) with a model
//! of that spec, every earlier row of the file feeding the features, and reports AUC ROC,
//! average precision, precision and recall at the model's thresholds and, when the spec names an
//! evaluation entity, Card Precision@k — leaving out, as the Handbook does, cards known
//! compromised by their day since the model's fit period began.

use std::io::Write;
use std::path::Path;

use aegis_core::spec::Spec;
use aegis_core::Model;
use anyhow::{Context, Result};
use serde::Serialize;

use super::{judge, period, read, Table};
use crate::metrics::{CardPrecision, Quality, Reliability};
use crate::EvaluateArgs;

/// What `--json` prints for a model of a spec.
#[derive(Serialize)]
struct SpecEvaluationJson<'a> {
    rows: usize,
    frauds: usize,
    roc_auc: f64,
    average_precision: f64,
    precision: f64,
    recall: f64,
    f1: f64,
    card_precision: Option<&'a CardPrecision>,
    model_version: &'a str,
    spec: &'a str,
    from: Option<String>,
    until: Option<String>,
    thresholds: aegis_core::Thresholds,
    /// Rows scored in the period, before known-compromised cards are left out.
    scored_rows: usize,
    known_compromised_rows: usize,
    known_compromised_frauds: usize,
    /// Rows (and frauds among them) from the time the model was fitted or thresholded on.
    seen_rows: usize,
    seen_frauds: usize,
    expected_calibration_error: f64,
    brier_score: f64,
    quality: &'a Quality,
    reliability: &'a Reliability,
}

/// Runs `evaluate` on a spec's data with a model of that spec.
pub fn run(args: &EvaluateArgs, model: &Model, spec: &Spec) -> Result<()> {
    anyhow::ensure!(
        args.legit_weight == 1.0,
        "--legit-weight is for PaySim samples; a spec's data is read as it is"
    );
    let given = period::from_flags(
        args.from.as_deref(),
        args.until.as_deref(),
        ["--from", "--until"],
    )?;
    let table = read(spec, &args.data, |t| given.is_none_or(|p| p.contains(t)))?;
    anyhow::ensure!(
        !table.rows.is_empty(),
        "no rows of {} fall in {}",
        args.data.display(),
        given.map_or_else(String::new, |p| period::describe(&p))
    );
    let indices: Vec<usize> = (0..table.rows.len()).collect();
    let rows: Vec<&[f64]> = indices.iter().map(|&i| table.features(i)).collect();
    let mut raw = vec![0.0; rows.len()];
    model.forest().predict_batch(&rows, &mut raw);
    let probabilities: Vec<f64> = raw.iter().map(|&r| model.calibrated(r)).collect();
    let known_since = model.training().fitted_period.map_or_else(
        || given.map_or(table.rows[0].time_ms, |p| p.from_ms),
        |p| p.from_ms,
    );
    let judged = judge(spec, &table, &indices, [&probabilities, &raw], known_since);
    if let Some(path) = &args.predictions {
        let scores = Scores {
            probabilities: &probabilities,
            raw: &raw,
            left_out: &judged.left_out,
        };
        write_predictions(path, spec, model, &table, &scores)?;
    }
    let quality = Quality::measure_ranked(&judged.scored, &judged.ranked, &model.thresholds());
    let reliability = Reliability::measure(&judged.scored);
    let (seen_rows, seen_frauds) = table
        .rows
        .iter()
        .filter(|r| model.training().has_seen_time(r.time_ms))
        .fold((0, 0), |(n, f), r| (n + 1, f + usize::from(r.is_fraud)));
    if seen_rows > 0 {
        eprintln!(
            "aegis-trainer: warning: {seen_rows} of {} rows ({seen_frauds} frauds) are from the time the model was fitted or thresholded on: figures that include them are optimistic; evaluate later rows with --from/--until",
            table.rows.len()
        );
    }
    if args.json {
        let json = SpecEvaluationJson {
            rows: quality.rows,
            frauds: quality.frauds,
            roc_auc: quality.roc_auc,
            average_precision: quality.average_precision,
            precision: quality.block.precision,
            recall: quality.block.recall,
            f1: quality.block.f1,
            card_precision: judged.card_precision.as_ref(),
            model_version: model.model_version(),
            spec: &spec.name,
            from: given.map(|p| period::instant(p.from_ms)),
            until: given.map(|p| period::instant(p.until_ms)),
            thresholds: model.thresholds(),
            scored_rows: table.rows.len(),
            known_compromised_rows: judged.left_out_rows,
            known_compromised_frauds: judged.left_out_frauds,
            seen_rows,
            seen_frauds,
            expected_calibration_error: reliability.expected_calibration_error,
            brier_score: reliability.brier_score,
            quality: &quality,
            reliability: &reliability,
        };
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    println!(
        "model {} (spec {}) on {}{}",
        model.model_version(),
        spec.name,
        args.data.display(),
        given.map_or_else(String::new, |p| format!(", {}", period::describe(&p)))
    );
    if judged.left_out_rows > 0 {
        println!(
            "{} rows ({} frauds) of cards known compromised by their day left out",
            judged.left_out_rows, judged.left_out_frauds
        );
    }
    print!("{}", quality.table());
    if let Some(cp) = &judged.card_precision {
        println!(
            "Card Precision@{} ({}): {:.4} over {} days",
            cp.k, cp.entity, cp.value, cp.days
        );
    }
    println!(
        "expected calibration error {:.4}, Brier score {:.5}",
        reliability.expected_calibration_error, reliability.brier_score
    );
    Ok(())
}

/// Each scored row's figures, in table order.
struct Scores<'a> {
    probabilities: &'a [f64],
    raw: &'a [f64],
    left_out: &'a [bool],
}

/// `--predictions`: per scored row, in event-time order, the spec's id field, the calibrated
/// probability, the decision, the label, whether the row was left out as a known-compromised
/// card's, and the forest's raw score (what ranks rows: ties of the probability broken).
fn write_predictions(
    path: &Path,
    spec: &Spec,
    model: &Model,
    table: &Table,
    scores: &Scores,
) -> Result<()> {
    let cannot = || format!("cannot write predictions to {}", path.display());
    let file = std::fs::File::create(path).with_context(cannot)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let id = spec.id_field().map_or("row", |f| f.name.as_str());
    let mut write = || -> std::io::Result<()> {
        writeln!(
            out,
            "{id},probability,decision,is_fraud,known_compromised,score"
        )?;
        let (mut probability, mut raw) = (ryu::Buffer::new(), ryu::Buffer::new());
        for (i, row) in table.rows.iter().enumerate() {
            let p = scores.probabilities[i];
            writeln!(
                out,
                "{},{},{},{},{},{}",
                row.id,
                probability.format(p),
                model.thresholds().decide(p).as_str(),
                u8::from(row.is_fraud),
                u8::from(scores.left_out[i]),
                raw.format(scores.raw[i])
            )?;
        }
        out.flush()
    };
    write().with_context(cannot)
}
