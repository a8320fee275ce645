//! Forest hyper-parameters as a validated builder: invalid values fail at [`ForestParams::check`],
//! before any data is read or any tree is grown.

use serde::{Deserialize, Serialize};

/// Deepest tree allowed. Depth is always capped: unbounded trees on PaySim take ~900 MB and minutes.
pub const MAX_DEPTH_LIMIT: u16 = 30;
/// Largest forest allowed.
pub const MAX_TREES: usize = 2_000;

/// Hyper-parameters of the forest. Build with [`ForestParams::default`] and the `with_*` methods,
/// then call [`ForestParams::check`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of every tree (root = depth 1).
    pub max_depth: u16,
    /// Fewest rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Fewest rows a node needs to be split.
    pub min_samples_split: usize,
    /// Features tried at each split (`None`: ⌊√features⌋, smartcore's default).
    pub features_per_split: Option<usize>,
    /// Seed for bootstrap sampling and feature choice; the same seed and data give the same forest.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: 12,
            min_samples_leaf: 1,
            min_samples_split: 2,
            features_per_split: None,
            seed: 42,
        }
    }
}

/// A hyper-parameter out of its range; the message says which and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid forest parameter {name} = {value}: {allowed}")]
pub struct InvalidParams {
    /// The parameter's name, as the trainer's flag spells it.
    pub name: &'static str,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl ForestParams {
    /// Sets the number of trees.
    pub fn with_trees(mut self, trees: usize) -> Self {
        self.trees = trees;
        self
    }
    /// Sets the depth cap.
    pub fn with_max_depth(mut self, max_depth: u16) -> Self {
        self.max_depth = max_depth;
        self
    }
    /// Sets the fewest rows per leaf.
    pub fn with_min_samples_leaf(mut self, n: usize) -> Self {
        self.min_samples_leaf = n;
        self
    }
    /// Sets the fewest rows a node needs to be split.
    pub fn with_min_samples_split(mut self, n: usize) -> Self {
        self.min_samples_split = n;
        self
    }
    /// Sets how many features each split tries.
    pub fn with_features_per_split(mut self, n: Option<usize>) -> Self {
        self.features_per_split = n;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every parameter; returns the parameters unchanged when all are usable.
    pub fn check(self) -> Result<Self, InvalidParams> {
        let fail = |name: &'static str, value: String, allowed: String| {
            Err(InvalidParams {
                name,
                value,
                allowed,
            })
        };
        if !(1..=MAX_TREES).contains(&self.trees) {
            return fail("trees", self.trees.to_string(), format!("1 to {MAX_TREES}"));
        }
        if !(1..=MAX_DEPTH_LIMIT).contains(&self.max_depth) {
            return fail(
                "max-depth",
                self.max_depth.to_string(),
                format!("1 to {MAX_DEPTH_LIMIT} (depth is always capped)"),
            );
        }
        if self.min_samples_leaf == 0 {
            return fail("min-samples-leaf", "0".into(), "at least 1".into());
        }
        if self.min_samples_split < 2 {
            return fail(
                "min-samples-split",
                self.min_samples_split.to_string(),
                "at least 2".into(),
            );
        }
        if self.features_per_split == Some(0) {
            return fail("features-per-split", "0".into(), "at least 1".into());
        }
        Ok(self)
    }

    /// [`ForestParams::check`], and that the features tried at each split are no more than the
    /// `n_features` the rows have.
    pub fn check_width(self, n_features: usize) -> Result<Self, InvalidParams> {
        let params = self.check()?;
        match params.features_per_split {
            Some(m) if m > n_features => Err(InvalidParams {
                name: "features-per-split",
                value: m.to_string(),
                allowed: format!("1 to {n_features} (the number of features)"),
            }),
            _ => Ok(params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(ForestParams::default().check().is_ok());
        let err = ForestParams::default().with_trees(0).check().unwrap_err();
        assert_eq!(err.name, "trees");
        let err = ForestParams::default()
            .with_max_depth(0)
            .check()
            .unwrap_err();
        assert_eq!(err.name, "max-depth");
        let err = ForestParams::default()
            .with_max_depth(31)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("always capped"), "{err}");
        let err = ForestParams::default()
            .with_features_per_split(Some(99))
            .check_width(13)
            .unwrap_err();
        assert_eq!(err.name, "features-per-split");
        assert!(err.to_string().contains("1 to 13"), "{err}");
        assert!(ForestParams::default()
            .with_features_per_split(Some(20))
            .check_width(20)
            .is_ok());
        let err = ForestParams::default()
            .with_features_per_split(Some(0))
            .check()
            .unwrap_err();
        assert_eq!(err.name, "features-per-split");
        assert!(ForestParams::default()
            .with_min_samples_split(1)
            .check()
            .is_err());
        assert!(ForestParams::default()
            .with_min_samples_leaf(0)
            .check()
            .is_err());
    }
}
