//! Compiling smartcore's trees into Aegis's scoring form. smartcore keeps its nodes private; its
//! serde form exposes them, and this module reads that form.

use serde::Deserialize;

use aegis_core::forest::{CompiledForest, Node};

use super::{FitError, SmartcoreForest};

/// smartcore 0.7's serde form of a forest regressor (only the fields compiling needs).
#[derive(Deserialize)]
struct SerdeRegressor {
    forest_regressor: Option<SerdeForest>,
}

#[derive(Deserialize)]
struct SerdeForest {
    trees: Option<Vec<SerdeTree>>,
}

#[derive(Deserialize)]
struct SerdeTree {
    nodes: Vec<SerdeNode>,
}

#[derive(Deserialize)]
struct SerdeNode {
    output: f64,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

/// Reads the trees out of one smartcore forest fitted on rows of `n_features`.
pub fn compile(forest: &SmartcoreForest, n_features: usize) -> Result<CompiledForest, FitError> {
    Ok(CompiledForest::from_trees(
        n_features,
        &smartcore_trees(forest)?,
    )?)
}

pub(super) fn smartcore_trees(forest: &SmartcoreForest) -> Result<Vec<Vec<Node>>, FitError> {
    let value = serde_json::to_value(forest).map_err(|e| FitError::Compile(e.to_string()))?;
    let regressor: SerdeRegressor =
        serde_json::from_value(value).map_err(|e| FitError::Compile(e.to_string()))?;
    let trees = regressor
        .forest_regressor
        .and_then(|f| f.trees)
        .ok_or_else(|| FitError::Compile("the forest has not been fitted".into()))?;
    trees.into_iter().map(|t| convert_tree(t.nodes)).collect()
}

fn convert_tree(nodes: Vec<SerdeNode>) -> Result<Vec<Node>, FitError> {
    let local = |i: usize| {
        u32::try_from(i).map_err(|_| FitError::Compile(format!("node index {i} too large")))
    };
    nodes
        .into_iter()
        .map(|n| {
            let (left, right, threshold) = match (n.true_child, n.false_child, n.split_value) {
                (Some(l), Some(r), Some(t)) => (local(l)?, local(r)?, t),
                (None, None, _) => (0, 0, 0.0),
                _ => {
                    return Err(FitError::Compile(
                        "a node has one child or no split value".into(),
                    ))
                }
            };
            Ok(Node {
                feature: local(n.split_feature)?,
                threshold,
                left,
                right,
                value: n.output,
            })
        })
        .collect()
}
