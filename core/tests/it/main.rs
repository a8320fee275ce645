//! Integration tests of aegis-core: properties of the codec, the PaySim reader and the model loader (one test binary, several modules).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod decide;
mod model;
mod properties;
mod rules;
mod spec;
mod stages;
mod wire;

use aegis_core::calibration::Calibration;
use aegis_core::features;
use aegis_core::forest::{CompiledForest, ForestParams, Node};
use aegis_core::model::{StepRange, TrainingSummary};
use aegis_core::{Model, Thresholds};

/// A small model, built node by node (fitting lives in the trainer, whose tests fit real ones):
/// three trees of a few splits on amount, balances and type, a calibration, thresholds 0.5 / 0.9.
/// `split` labels it.
pub fn small_model(split: &str) -> Model {
    let split_on = |feature: u32, threshold: f64, left: u32, right: u32, value: f64| Node {
        feature,
        threshold,
        left,
        right,
        value,
    };
    let leaf = |value: f64| split_on(0, 0.0, 0, 0, value);
    let trees = vec![
        // amount <= 200k ? (old balance <= 1k ? 0.1 : 0.3) : 0.9
        vec![
            split_on(5, 200_000.0, 1, 2, 0.4),
            split_on(6, 1_000.0, 3, 4, 0.2),
            leaf(0.9),
            leaf(0.1),
            leaf(0.3),
        ],
        // is TRANSFER ? 0.8 : 0.05
        vec![split_on(4, 0.5, 1, 2, 0.3), leaf(0.05), leaf(0.8)],
        // new balance <= 0 ? 0.7 : 0.0
        vec![split_on(7, 0.0, 1, 2, 0.35), leaf(0.7), leaf(0.0)],
    ];
    let forest = CompiledForest::from_trees(features::N_FEATURES, &trees).unwrap();
    let summary = TrainingSummary {
        trained_at: 0,
        data: vec!["hand-built".into()],
        rows: 0,
        frauds: 0,
        params: ForestParams::default().with_trees(3).with_max_depth(2),
        legit_weights: Vec::new(),
        legit_weight: 1.0,
        split: split.into(),
        average_precision: 0.0,
        roc_auc: 0.0,
        fitted_steps: Some(StepRange { first: 1, last: 9 }),
        threshold_steps: Some(StepRange {
            first: 10,
            last: 12,
        }),
        fitted_period: None,
        threshold_period: None,
    };
    let calibration = Calibration {
        method: "isotonic".into(),
        points: vec![(0.05, 0.001), (0.4, 0.02), (0.8, 0.6), (0.95, 0.99)],
    };
    Model::new(
        forest,
        Some(calibration),
        Thresholds::new(0.5, 0.9).unwrap(),
        summary,
    )
}
