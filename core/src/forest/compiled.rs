//! The compiled forest: every tree's nodes in one flat array, each tree laid out depth-first so a
//! walk from the root mostly moves forward in memory. Scoring allocates nothing per row.

use serde::{Deserialize, Serialize};

use super::dispatch::{BatchKernel, KernelUnavailable};
use super::kernel::Kernel;

/// One node. A leaf has `left == 0` (the root is never anyone's child).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The feature tested (internal nodes only).
    pub feature: u32,
    /// Go to `left` when `x[feature] <= threshold`, else to `right` (NaN goes right, as in smartcore).
    pub threshold: f64,
    /// Index, within the forest's node array, of the child taken when the test holds; 0 at a leaf.
    pub left: u32,
    /// Index of the child taken when the test fails; 0 at a leaf.
    pub right: u32,
    /// Mean target of the training rows that reached this node: the prediction at a leaf, and the
    /// baseline that contributions are measured from at an internal node.
    pub value: f64,
}

impl Node {
    /// Whether this node is a leaf.
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.left == 0
    }

    /// A leaf holding `value` (a leaf's other fields are not read).
    pub fn leaf(value: f64) -> Self {
        Self {
            feature: 0,
            threshold: 0.0,
            left: 0,
            right: 0,
            value,
        }
    }
}

/// A forest whose structure cannot be scored: the message says where it is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed forest: {0}")]
pub struct ForestShapeError(pub String);

/// A random forest compiled for scoring: P(fraud) is the mean of the trees' leaf values.
///
/// Serialized as its feature count, roots and nodes; the scoring layout (the kernel) is rebuilt,
/// and the structure checked, whenever a forest is built or deserialized.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "ForestParts", into = "ForestParts")]
pub struct CompiledForest {
    n_features: usize,
    roots: Vec<u32>,
    nodes: Vec<Node>,
    kernel: Kernel,
}

/// The serialized form of a [`CompiledForest`].
#[derive(Clone, Serialize, Deserialize)]
struct ForestParts {
    n_features: usize,
    roots: Vec<u32>,
    nodes: Vec<Node>,
}

impl TryFrom<ForestParts> for CompiledForest {
    type Error = ForestShapeError;

    fn try_from(p: ForestParts) -> Result<Self, Self::Error> {
        let mut forest = CompiledForest {
            n_features: p.n_features,
            roots: p.roots,
            nodes: p.nodes,
            kernel: Kernel::default(),
        };
        forest.prepare()?;
        Ok(forest)
    }
}

impl From<CompiledForest> for ForestParts {
    fn from(f: CompiledForest) -> Self {
        ForestParts {
            n_features: f.n_features,
            roots: f.roots,
            nodes: f.nodes,
        }
    }
}

/// Two forests are equal when they have the same structure and values.
impl PartialEq for CompiledForest {
    fn eq(&self, other: &Self) -> bool {
        self.n_features == other.n_features
            && self.roots == other.roots
            && self.nodes == other.nodes
    }
}

impl CompiledForest {
    /// Builds a forest from trees given as node lists whose child indices are local to the tree
    /// (root at 0). Trees are re-laid out depth-first; the structure is checked.
    pub fn from_trees(n_features: usize, trees: &[Vec<Node>]) -> Result<Self, ForestShapeError> {
        let mut forest = CompiledForest {
            n_features,
            roots: Vec::with_capacity(trees.len()),
            nodes: Vec::with_capacity(trees.iter().map(Vec::len).sum()),
            kernel: Kernel::default(),
        };
        for (t, tree) in trees.iter().enumerate() {
            if tree.is_empty() {
                return Err(ForestShapeError(format!("tree {t} has no nodes")));
            }
            forest.roots.push(index_u32(forest.nodes.len())?);
            forest.append_depth_first(tree, t)?;
        }
        forest.prepare()?;
        Ok(forest)
    }

    fn append_depth_first(&mut self, tree: &[Node], t: usize) -> Result<(), ForestShapeError> {
        // (local index in `tree`, index of the parent's slot to patch, is-left)
        let mut stack: Vec<(usize, Option<(usize, bool)>)> = vec![(0, None)];
        let mut visited = 0usize;
        while let Some((local, parent)) = stack.pop() {
            visited += 1;
            if visited > tree.len() {
                return Err(ForestShapeError(format!("tree {t} has a cycle")));
            }
            let node = tree.get(local).ok_or_else(|| {
                ForestShapeError(format!("tree {t} points at missing node {local}"))
            })?;
            let here = self.nodes.len();
            if let Some((p, is_left)) = parent {
                let slot = &mut self.nodes[p];
                *(if is_left {
                    &mut slot.left
                } else {
                    &mut slot.right
                }) = index_u32(here)?;
            }
            self.nodes.push(Node {
                left: 0,
                right: 0,
                ..*node
            });
            if !node.is_leaf() {
                // Push right first so the left subtree follows its parent directly.
                stack.push((node.right as usize, Some((here, false))));
                stack.push((node.left as usize, Some((here, true))));
            }
        }
        Ok(())
    }

    /// Checks the structure, then builds the scoring layout.
    fn prepare(&mut self) -> Result<(), ForestShapeError> {
        self.check()?;
        self.kernel = Kernel::build(&self.roots, &self.nodes);
        Ok(())
    }

    /// Checks every index and feature, so scoring can never go out of bounds, and the depth-first
    /// layout the kernel relies on. Called on every forest built or loaded.
    pub fn check(&self) -> Result<(), ForestShapeError> {
        if self.roots.is_empty() {
            return Err(ForestShapeError("no trees".into()));
        }
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            // Every node's value is P(fraud) among its training rows.
            if !(0.0..=1.0).contains(&node.value) {
                return Err(ForestShapeError(format!(
                    "node {i} has value {}, not a probability",
                    node.value
                )));
            }
            if node.is_leaf() {
                continue;
            }
            let (l, r) = (node.left as usize, node.right as usize);
            // Children come after their parent (no cycles, every walk ends); the left child is
            // the very next node (depth-first layout).
            if l != i + 1 || r <= l || r >= n {
                return Err(ForestShapeError(format!(
                    "node {i} has children {l}, {r} of {n}"
                )));
            }
            if node.feature as usize >= self.n_features {
                return Err(ForestShapeError(format!(
                    "node {i} tests feature {} of {}",
                    node.feature, self.n_features
                )));
            }
        }
        if let Some(r) = self.roots.iter().find(|r| **r as usize >= n) {
            return Err(ForestShapeError(format!("root {r} of {n} nodes")));
        }
        // Every node has exactly one parent (or is a root): the nodes form trees, not a graph
        // whose shared subtrees would make every walk over it exponentially long.
        let mut parents = vec![0u32; n];
        for &r in &self.roots {
            parents[r as usize] += 1;
        }
        for node in self.nodes.iter().filter(|node| !node.is_leaf()) {
            parents[node.left as usize] += 1;
            parents[node.right as usize] += 1;
        }
        if let Some(i) = parents.iter().position(|&p| p != 1) {
            return Err(ForestShapeError(format!(
                "node {i} is reached from {} places, not one",
                parents[i]
            )));
        }
        Ok(())
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of nodes scoring walks: subtrees whose leaves all hold the same value are merged
    /// into one leaf in the scoring layout (results unchanged), so this is at most
    /// [`CompiledForest::n_nodes`].
    pub fn n_scoring_nodes(&self) -> usize {
        self.kernel.len()
    }

    /// The scoring layout (for the kernel's tests).
    #[cfg(test)]
    pub(super) fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The nodes, trees one after another.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Index of each tree's root in [`CompiledForest::nodes`].
    pub fn roots(&self) -> &[u32] {
        &self.roots
    }

    /// Renumbers the features tests refer to: `map[old] = new`. Used when a model's feature
    /// order differs from this build's.
    pub fn remap_features(
        &mut self,
        map: &[usize],
        n_features: usize,
    ) -> Result<(), ForestShapeError> {
        for node in self.nodes.iter_mut().filter(|n| !n.is_leaf()) {
            let new = map.get(node.feature as usize).ok_or_else(|| {
                ForestShapeError(format!(
                    "feature {} is not in the model's list",
                    node.feature
                ))
            })?;
            node.feature = index_u32(*new)?;
        }
        self.n_features = n_features;
        self.prepare()
    }

    /// P(fraud) for one row: the mean of the trees' leaf values, summed in tree order exactly as
    /// smartcore's `predict` does, so the result is bit-for-bit the same.
    ///
    /// # Panics
    /// If `x` has fewer than [`CompiledForest::n_features`] values.
    pub fn predict(&self, x: &[f64]) -> f64 {
        assert!(
            x.len() >= self.n_features,
            "row has {} features, forest needs {}",
            x.len(),
            self.n_features
        );
        self.kernel.predict(x)
    }

    /// [`CompiledForest::predict`] for many rows into `out` (one value per row), several rows at a
    /// time; the fastest way to score. On a CPU with AVX-512 (checked at run time), 32 rows or more
    /// go through a vectorised kernel whose results are the same, bit for bit; on one with AVX2
    /// but not AVX-512, 16 rows or more go through its AVX2 form ([`CompiledForest::batch_kernel`]
    /// says which).
    ///
    /// # Panics
    /// If a row has fewer than [`CompiledForest::n_features`] values.
    pub fn predict_batch<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        assert!(
            rows.iter().all(|r| r.as_ref().len() >= self.n_features),
            "every row needs {} features",
            self.n_features
        );
        self.kernel.predict_batch(rows, out);
    }

    /// The kernel [`CompiledForest::predict_batch`] takes on this CPU for a batch of
    /// [`BatchKernel::min_rows`] or more: the fastest the CPU runs, or the portable walk when the
    /// forest has no vectorised layout (a feature with more distinct thresholds than 16-bit ranks
    /// hold).
    pub fn batch_kernel(&self) -> BatchKernel {
        self.kernel.batch_kernel()
    }

    /// [`CompiledForest::predict_batch`] through the kernel asked for, whatever the number of rows
    /// (for tests and benchmarks: each kernel's results are the same, bit for bit). An error, with
    /// nothing written, when this CPU or this forest does not allow that kernel — never a quiet
    /// fallback to another.
    ///
    /// # Panics
    /// If a row has fewer than [`CompiledForest::n_features`] values.
    pub fn predict_batch_with<R: AsRef<[f64]>>(
        &self,
        kernel: BatchKernel,
        rows: &[R],
        out: &mut [f64],
    ) -> Result<(), KernelUnavailable> {
        assert!(
            rows.iter().all(|r| r.as_ref().len() >= self.n_features),
            "every row needs {} features",
            self.n_features
        );
        self.kernel.predict_batch_with(kernel, rows, out)
    }

    /// [`CompiledForest::predict_batch`] with the portable reference kernel (several rows in
    /// lockstep through each tree), whatever the CPU: what the vectorised kernel is tested and
    /// measured against. The results are the same, bit for bit.
    ///
    /// # Panics
    /// If a row has fewer than [`CompiledForest::n_features`] values.
    pub fn predict_batch_reference<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        assert!(
            rows.iter().all(|r| r.as_ref().len() >= self.n_features),
            "every row needs {} features",
            self.n_features
        );
        self.kernel.predict_batch_reference(rows, out);
    }

    /// Splits one row's prediction into a bias (the mean root value) and one contribution per
    /// feature: along each tree's path, the change in node value at a split is credited to the
    /// split's feature. `bias + contributions.sum()` equals `predict(x)` up to rounding.
    /// `contributions` must have [`CompiledForest::n_features`] slots; it is overwritten.
    pub fn contributions(&self, x: &[f64], contributions: &mut [f64]) -> f64 {
        contributions.iter_mut().for_each(|c| *c = 0.0);
        let mut bias = 0.0;
        for &root in &self.roots {
            let mut node = &self.nodes[root as usize];
            bias += node.value;
            while !node.is_leaf() {
                let next = if x[node.feature as usize] <= node.threshold {
                    node.left
                } else {
                    node.right
                };
                let child = &self.nodes[next as usize];
                contributions[node.feature as usize] += child.value - node.value;
                node = child;
            }
        }
        let n = self.roots.len() as f64;
        contributions.iter_mut().for_each(|c| *c /= n);
        bias / n
    }

    /// Depth of the deepest tree (a lone leaf has depth 1).
    pub fn max_depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack: Vec<(u32, usize)> = self.roots.iter().map(|&r| (r, 1)).collect();
        while let Some((i, d)) = stack.pop() {
            deepest = deepest.max(d);
            let node = &self.nodes[i as usize];
            if !node.is_leaf() {
                stack.push((node.left, d + 1));
                stack.push((node.right, d + 1));
            }
        }
        deepest
    }
}

fn index_u32(i: usize) -> Result<u32, ForestShapeError> {
    u32::try_from(i)
        .map_err(|_| ForestShapeError(format!("node index {i} does not fit in 32 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: u32, threshold: f64, left: u32, right: u32, value: f64) -> Node {
        Node {
            feature,
            threshold,
            left,
            right,
            value,
        }
    }

    /// x0 <= 1 ? (x1 <= 5 ? 0.0 : 1.0) : 0.5, stored breadth-first.
    fn stump_forest() -> CompiledForest {
        let tree = vec![
            split(0, 1.0, 1, 2, 0.4),
            split(1, 5.0, 3, 4, 0.3),
            Node::leaf(0.5),
            Node::leaf(0.0),
            Node::leaf(1.0),
        ];
        CompiledForest::from_trees(2, &[tree, vec![Node::leaf(0.25)]]).unwrap()
    }

    #[test]
    fn predicts_the_mean_of_leaves_and_splits_go_left_on_equal() {
        let f = stump_forest();
        assert_eq!(f.n_trees(), 2);
        assert_eq!(f.n_nodes(), 6);
        assert_eq!(f.max_depth(), 3);
        assert_eq!(f.predict(&[1.0, 5.0]), (0.0 + 0.25) / 2.0);
        assert_eq!(f.predict(&[1.0, 6.0]), (1.0 + 0.25) / 2.0);
        assert_eq!(f.predict(&[2.0, 0.0]), (0.5 + 0.25) / 2.0);
        assert_eq!(f.predict(&[f64::NAN, 0.0]), (0.5 + 0.25) / 2.0);
    }

    #[test]
    fn subtrees_with_one_value_are_merged_for_scoring_and_score_the_same() {
        // x0 <= 1 ? (x1 <= 5 ? 1.0 : 1.0) : (x1 <= 2 ? 0.0 : 0.25): the left subtree holds one
        // value and is merged; the right one holds two and is kept.
        let tree = vec![
            split(0, 1.0, 1, 2, 0.5),
            split(1, 5.0, 3, 4, 1.0),
            split(1, 2.0, 5, 6, 0.0),
            Node::leaf(1.0),
            Node::leaf(1.0),
            Node::leaf(0.0),
            Node::leaf(0.25),
        ];
        let f = CompiledForest::from_trees(2, &[tree]).unwrap();
        assert_eq!(f.n_nodes(), 7);
        assert_eq!(f.n_scoring_nodes(), 5);
        assert_eq!(f.predict(&[0.0, 9.0]), 1.0);
        assert_eq!(f.predict(&[5.0, 1.0]), 0.0);
        assert_eq!(f.predict(&[5.0, 3.0]), 0.25);
        let rows = [[0.0, 9.0], [5.0, 1.0], [5.0, 3.0], [f64::NAN, 0.0]];
        let mut out = [9.0; 4];
        f.predict_batch(&rows, &mut out);
        for (row, got) in rows.iter().zip(out) {
            assert_eq!(got.to_bits(), f.predict(row).to_bits());
        }
        // Contributions still walk the full trees.
        let mut c = [0.0; 2];
        let bias = f.contributions(&[0.0, 9.0], &mut c);
        assert_eq!((bias, c), (0.5, [0.5, 0.0]));
    }

    #[test]
    fn depth_first_layout_puts_left_child_next() {
        let f = stump_forest();
        let root = f.nodes()[0];
        assert_eq!(root.left, 1);
        assert_eq!(f.nodes()[1].feature, 1);
        assert_eq!(f.roots(), &[0, 5]);
    }

    #[test]
    fn contributions_add_up_to_the_prediction() {
        let f = stump_forest();
        let mut c = [0.0; 2];
        for x in [[1.0, 6.0], [0.0, 0.0], [3.0, 9.0]] {
            let bias = f.contributions(&x, &mut c);
            assert!((bias + c.iter().sum::<f64>() - f.predict(&x)).abs() < 1e-12);
        }
        f.contributions(&[1.0, 6.0], &mut c);
        assert!((c[0] - (0.3 - 0.4) / 2.0).abs() < 1e-12);
        assert!((c[1] - (1.0 - 0.3) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn broken_shapes_are_rejected() {
        let cycle = vec![split(0, 1.0, 1, 1, 0.0), split(0, 1.0, 0, 0, 0.0)];
        assert!(CompiledForest::from_trees(1, &[cycle]).is_err());
        let dangling = vec![split(0, 1.0, 1, 7, 0.0), Node::leaf(0.0)];
        assert!(CompiledForest::from_trees(1, &[dangling]).is_err());
        let bad_feature = vec![split(3, 1.0, 1, 2, 0.0), Node::leaf(0.0), Node::leaf(1.0)];
        assert!(CompiledForest::from_trees(2, &[bad_feature]).is_err());
        assert!(CompiledForest::from_trees(2, &[]).is_err());
        let mut f = stump_forest();
        f.nodes[0].right = 0;
        f.nodes[0].left = 9;
        assert!(f.check().is_err());
        // Values are probabilities: anything else would score outside [0, 1].
        for value in [1.5, -0.25, f64::NAN, f64::INFINITY] {
            let mut f = stump_forest();
            f.nodes[1].value = value;
            let error = f.check().unwrap_err().to_string();
            assert!(error.contains("not a probability"), "{value}: {error}");
        }
    }

    /// A loaded forest whose nodes share children (node i → i+1 and i+2) is refused at once —
    /// walking it as trees would take exponential time.
    #[test]
    fn shared_subtrees_are_rejected_when_loading() {
        let n = 60;
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                if i + 2 < n {
                    split(0, 1.0, i + 1, i + 2, 0.0)
                } else {
                    Node::leaf(0.0)
                }
            })
            .collect();
        let mut json = serde_json::to_value(stump_forest()).unwrap();
        json["nodes"] = serde_json::to_value(nodes).unwrap();
        json["roots"] = serde_json::json!([0]);
        let error = serde_json::from_value::<CompiledForest>(json).unwrap_err();
        assert!(
            error.to_string().contains("reached from 2 places"),
            "{error}"
        );
    }
}
