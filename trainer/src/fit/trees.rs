//! Growing the trees with smartcore: one smartcore forest of one tree at a time — tree `i` seeded
//! with `seed + i` — on all cores, so progress can be reported per tree and the result does not
//! depend on thread timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use aegis_core::forest::{CompiledForest, ForestParams, ForestShapeError};

use super::compile::smartcore_trees;

/// smartcore's forest, as Aegis instantiates it: f64 features, f64 targets (0/1 labels).
pub type SmartcoreForest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// Fitting failed; the message says why.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// Rows, labels and weights disagree, or there is nothing to fit.
    #[error("cannot fit: {0}")]
    Input(String),
    /// smartcore refused (its message is kept).
    #[error("smartcore failed to fit tree {tree}: {message}")]
    Smartcore {
        /// Which tree.
        tree: usize,
        /// smartcore's message.
        message: String,
    },
    /// The fitted forest could not be read back or compiled.
    #[error("cannot compile the fitted forest: {0}")]
    Compile(String),
}

impl From<ForestShapeError> for FitError {
    fn from(e: ForestShapeError) -> Self {
        FitError::Compile(e.to_string())
    }
}

/// A fitted forest: one smartcore forest per tree, kept so tests can compare the compiled form
/// against smartcore's own `predict`.
pub struct FittedForest {
    trees: Vec<SmartcoreForest>,
    n_features: usize,
}

/// Grows a forest of regression trees on 0/1 `labels` with per-row `weights` (bootstrap samples
/// are drawn in proportion to the weights, which is how classes are balanced). Every row has the
/// same features, in the same order: PaySim's
/// [`Features`](aegis_core::features::Features) or a spec's. `on_tree` is called once
/// per finished tree, from any thread.
pub fn grow<R: AsRef<[f64]>>(
    rows: &[R],
    labels: &[f64],
    weights: &[f64],
    params: &ForestParams,
    on_tree: &(dyn Fn() + Sync),
) -> Result<FittedForest, FitError> {
    if rows.is_empty() || rows.len() != labels.len() || rows.len() != weights.len() {
        return Err(FitError::Input(format!(
            "{} rows, {} labels, {} weights",
            rows.len(),
            labels.len(),
            weights.len()
        )));
    }
    let n_features = rows[0].as_ref().len();
    let params = params
        .check_width(n_features)
        .map_err(|e| FitError::Input(e.to_string()))?;
    let x = matrix(rows, n_features)?;
    let y = labels.to_vec();

    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<SmartcoreForest, FitError>>>> =
        (0..params.trees).map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(params.trees);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let tree = next.fetch_add(1, Ordering::Relaxed);
                if tree >= params.trees {
                    break;
                }
                let result = grow_one(&x, &y, weights, &params, tree);
                if let Ok(mut slot) = slots[tree].lock() {
                    *slot = Some(result);
                }
                on_tree();
            });
        }
    });
    let trees = slots
        .into_iter()
        .enumerate()
        .map(|(tree, slot)| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(FitError::Input(format!("tree {tree} was not fitted"))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FittedForest { trees, n_features })
}

/// The rows as smartcore's matrix, checking that each has `n_features` values.
fn matrix<R: AsRef<[f64]>>(rows: &[R], n_features: usize) -> Result<DenseMatrix<f64>, FitError> {
    let mut flat = Vec::with_capacity(rows.len() * n_features);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != n_features {
            return Err(FitError::Input(format!(
                "row {i} has {} features, the first {n_features}",
                row.len()
            )));
        }
        flat.extend_from_slice(row);
    }
    DenseMatrix::new(rows.len(), n_features, flat, false)
        .map_err(|e| FitError::Input(e.to_string()))
}

fn grow_one(
    x: &DenseMatrix<f64>,
    y: &Vec<f64>,
    weights: &[f64],
    params: &ForestParams,
    tree: usize,
) -> Result<SmartcoreForest, FitError> {
    let mut p = RandomForestRegressorParameters::default()
        .with_n_trees(1)
        .with_max_depth(params.max_depth)
        .with_min_samples_leaf(params.min_samples_leaf)
        .with_min_samples_split(params.min_samples_split)
        .with_seed(params.seed.wrapping_add(tree as u64));
    if let Some(m) = params.features_per_split {
        p = p.with_m(m);
    }
    RandomForestRegressor::fit_with_weights(x, y, weights, p).map_err(|e| FitError::Smartcore {
        tree,
        message: e.to_string(),
    })
}

impl FittedForest {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// The compiled, scoring form of this forest.
    pub fn compile(&self) -> Result<CompiledForest, FitError> {
        let mut trees = Vec::with_capacity(self.trees.len());
        for forest in &self.trees {
            trees.extend(smartcore_trees(forest)?);
        }
        Ok(CompiledForest::from_trees(self.n_features, &trees)?)
    }

    /// smartcore's own prediction for each row: every tree's `predict`, summed in tree order and
    /// divided by the number of trees — the reference the compiled form must equal bit for bit.
    pub fn predict_reference<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<f64>, FitError> {
        let x = matrix(rows, self.n_features)?;
        let mut sums = vec![0.0; rows.len()];
        for (tree, forest) in self.trees.iter().enumerate() {
            let p = forest.predict(&x).map_err(|e| FitError::Smartcore {
                tree,
                message: e.to_string(),
            })?;
            sums.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        let n = self.trees.len() as f64;
        Ok(sums.into_iter().map(|s| s / n).collect())
    }
}
