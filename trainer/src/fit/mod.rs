//! Fitting: the fit part of the rows in, a compiled forest out. [`on_part`] is what `train` runs
//! (classes balanced, a progress bar per tree); [`grow`] grows the trees with smartcore and
//! [`compile`] reads them into the scoring form.

mod compile;
mod trees;

use aegis_core::forest::{CompiledForest, ForestParams};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::dataset::Dataset;
use crate::split::Part;

pub use compile::compile;
pub use trees::{grow, FitError, FittedForest, SmartcoreForest};

/// Fits on `part` of `dataset` (see [`fit`]), showing a progress bar per tree, and
/// compiles the result.
pub fn on_part(
    dataset: &Dataset,
    part: &Part,
    fraud_weight: Option<f64>,
    params: &ForestParams,
) -> Result<CompiledForest> {
    let rows: Vec<_> = part
        .indices
        .iter()
        .map(|&i| dataset.rows[i].features)
        .collect();
    let labels: Vec<f64> = part
        .indices
        .iter()
        .map(|&i| f64::from(u8::from(dataset.rows[i].is_fraud)))
        .collect();
    fit(&rows, &labels, fraud_weight, params)
}

/// Fits on `rows` (any width, all alike) and their 0/1 `labels`, each fraud weighing
/// `fraud_weight` (or classes balanced: [`balanced_weights`]), showing a progress bar per tree,
/// and compiles the result.
pub fn fit<R: AsRef<[f64]>>(
    rows: &[R],
    labels: &[f64],
    fraud_weight: Option<f64>,
    params: &ForestParams,
) -> Result<CompiledForest> {
    let weights = match fraud_weight {
        Some(w) => labels
            .iter()
            .map(|&y| if y > 0.5 { w } else { 1.0 })
            .collect(),
        None => balanced_weights(labels),
    };
    let bar = ProgressBar::new(params.trees as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "  fitting [{bar:40}] {pos}/{len} trees ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let fitted = grow(rows, labels, &weights, params, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(fitted.compile()?)
}

/// Sample weights that balance the classes of 0/1 `labels`: each fraud weighs (legit rows / fraud
/// rows) and each legit row 1, so a weighted bootstrap sample is about half fraud. All ones when a
/// class is missing.
pub fn balanced_weights(labels: &[f64]) -> Vec<f64> {
    let frauds = labels.iter().filter(|&&y| y > 0.5).count();
    let fraud_weight = if frauds == 0 || frauds == labels.len() {
        1.0
    } else {
        (labels.len() - frauds) as f64 / frauds as f64
    };
    labels
        .iter()
        .map(|&y| if y > 0.5 { fraud_weight } else { 1.0 })
        .collect()
}
