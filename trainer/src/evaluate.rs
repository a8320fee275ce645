//! `aegis-trainer evaluate`: scores every row of a PaySim CSV, in input order, with a model artifact
//! exactly as the scorer does, and reports its quality.

use std::path::Path;

use aegis_core::features;
use aegis_core::paysim::PaysimReader;
use aegis_core::{Decision, Model};
use anyhow::{Context, Result};
use serde::Serialize;

use crate::dataset::byte_bar;
use crate::evaluation::Scored;
use crate::report::{weight, Quality};
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
    quality: &'a Quality,
}

/// One row's prediction, exactly as the scorer would decide it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// 1-based data row number in the file.
    pub row: usize,
    pub probability: f64,
    pub decision: Decision,
    pub is_fraud: bool,
}

pub fn run(args: &EvaluateArgs) -> Result<()> {
    crate::check_legit_weight(args.legit_weight)?;
    let model = Model::load(&args.model)?;
    let predictions = predict(&model, &args.data)?;
    if let Some(path) = &args.predictions {
        write_predictions(path, &predictions)?;
    }
    let scored: Vec<Scored> = predictions
        .iter()
        .map(|p| Scored {
            probability: p.probability,
            is_fraud: p.is_fraud,
            weight: weight(p.is_fraud, args.legit_weight),
        })
        .collect();
    let quality = Quality::measure(&scored, &model.thresholds);
    if args.json {
        let json = EvaluationJson {
            rows: quality.rows,
            frauds: quality.frauds,
            roc_auc: quality.roc_auc,
            average_precision: quality.average_precision,
            precision: quality.block.precision,
            recall: quality.block.recall,
            f1: quality.block.f1,
            model_version: &model.model_version,
            legit_weight: args.legit_weight,
            thresholds: model.thresholds,
            quality: &quality,
        };
        println!("{}", serde_json::to_string(&json)?);
    } else {
        println!(
            "model {} on {}\n{}",
            model.model_version,
            args.data.display(),
            quality.table(args.legit_weight)
        );
    }
    Ok(())
}

/// Scores every row of a PaySim CSV in input order with the model's own thresholds; stops at the
/// first bad row with an error naming file, line and field.
pub fn predict(model: &Model, path: &Path) -> Result<Vec<Prediction>> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = byte_bar(size, "scoring");
    let mut reader = PaysimReader::open(path)?;
    let mut predictions = Vec::new();
    while let Some(row) = reader.next() {
        let tx = row?.transaction;
        let probability = model.probability(&features::extract(&tx));
        predictions.push(Prediction {
            row: predictions.len() + 1,
            probability,
            decision: model.thresholds.decide(probability),
            is_fraud: tx.is_fraud == Some(true),
        });
        if predictions.len() % 4096 == 0 {
            bar.set_position(reader.bytes_read());
        }
    }
    bar.finish_and_clear();
    anyhow::ensure!(!predictions.is_empty(), "{} has no rows", path.display());
    Ok(predictions)
}

fn write_predictions(path: &Path, predictions: &[Prediction]) -> Result<()> {
    let mut out = csv::Writer::from_path(path)
        .with_context(|| format!("cannot write predictions to {}", path.display()))?;
    out.write_record(["row", "probability", "decision", "is_fraud"])?;
    for p in predictions {
        out.serialize((
            p.row,
            p.probability,
            p.decision.as_str(),
            u8::from(p.is_fraud),
        ))?;
    }
    out.flush()?;
    Ok(())
}
