//! Integration tests of aegis-core on the shipped PaySim samples (one test binary, several modules).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod forest;
mod model;
mod properties;

use std::path::PathBuf;

use aegis_core::features::{self, Features};
use aegis_core::forest::{self as fit, ForestParams};
use aegis_core::model::TrainingSummary;
use aegis_core::paysim::PaysimReader;
use aegis_core::{Model, Thresholds};

/// A file in the repository's `data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// Features and 0/1 labels of every row of a shipped sample.
pub fn labelled_rows(name: &str) -> (Vec<Features>, Vec<f64>) {
    PaysimReader::open(&data(name))
        .expect("sample opens")
        .map(|row| {
            let tx = row.expect("sample rows are valid").transaction;
            (
                features::extract(&tx),
                f64::from(u8::from(tx.is_fraud == Some(true))),
            )
        })
        .unzip()
}

/// A small model fitted on the enriched sample (thresholds 0.5 / 0.9); `split` labels it.
pub fn fitted_model(trees: usize, max_depth: u16, split: &str) -> Model {
    let sample = "paysim_fraud_enriched_steps_1-400.csv";
    let (rows, labels) = labelled_rows(sample);
    let weights = fit::balanced_weights(&labels);
    let params = ForestParams::default()
        .with_trees(trees)
        .with_max_depth(max_depth);
    let compiled = fit::fit(&rows, &labels, &weights, &params, &|| {})
        .unwrap()
        .compile()
        .unwrap();
    let summary = TrainingSummary {
        trained_at: 0,
        data: vec![sample.into()],
        rows: rows.len() as u64,
        frauds: labels.iter().sum::<f64>() as u64,
        params,
        legit_weight: 256.2,
        split: split.into(),
        average_precision: 0.0,
        roc_auc: 0.0,
    };
    Model::new(compiled, Thresholds::new(0.5, 0.9).unwrap(), summary)
}
