//! `aegis-trainer evaluate`: scores every row of a PaySim CSV, in input order, with a model artifact
//! exactly as the scorer does, and reports its quality.

use aegis_core::features;
use aegis_core::paysim::PaysimReader;
use aegis_core::Model;
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

pub fn run(args: &EvaluateArgs) -> Result<()> {
    crate::check_legit_weight(args.legit_weight)?;
    let model = Model::load(&args.model)?;
    let scored = score_file(&model, args)?;
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

fn score_file(model: &Model, args: &EvaluateArgs) -> Result<Vec<Scored>> {
    let size = std::fs::metadata(&args.data).map(|m| m.len()).unwrap_or(0);
    let bar = byte_bar(size, "scoring");
    let mut reader = PaysimReader::open(&args.data)?;
    let mut predictions = match &args.predictions {
        Some(path) => Some(
            csv::Writer::from_path(path)
                .with_context(|| format!("cannot write predictions to {}", path.display()))?,
        ),
        None => None,
    };
    if let Some(out) = predictions.as_mut() {
        out.write_record(["row", "probability", "decision", "is_fraud"])?;
    }
    let mut scored = Vec::new();
    while let Some(row) = reader.next() {
        let tx = row?.transaction;
        let probability = model.probability(&features::extract(&tx));
        let is_fraud = tx.is_fraud == Some(true);
        if let Some(out) = predictions.as_mut() {
            let decision = model.thresholds.decide(probability);
            out.serialize((
                scored.len() + 1,
                probability,
                decision.as_str(),
                u8::from(is_fraud),
            ))?;
        }
        scored.push(Scored {
            probability,
            is_fraud,
            weight: weight(is_fraud, args.legit_weight),
        });
        if scored.len() % 4096 == 0 {
            bar.set_position(reader.bytes_read());
        }
    }
    bar.finish_and_clear();
    if let Some(mut out) = predictions {
        out.flush()?;
    }
    anyhow::ensure!(!scored.is_empty(), "{} has no rows", args.data.display());
    Ok(scored)
}
