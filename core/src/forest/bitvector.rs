//! The forest in QuickScorer layout (Lucchese et al., SIGIR 2015), for the vectorised batch
//! kernel ([`super::avx512`]): instead of walking nodes, every test of one feature is visited in
//! ascending threshold order, and a test that fails clears its left subtree's leaves from the
//! tree's leaf bitvector. The row's leaf in a tree is then the lowest leaf left standing.
//!
//! Why that is the leaf the walk reaches: a test on the walk's path that fails sends the walk
//! right, so the leaves it clears are not the walk's; a test off the path that fails clears
//! leaves of a subtree the walk never enters. So the walk's leaf `e` survives. Any leaf `l` left of
//! `e` lies in the left subtree of the deepest node whose subtrees hold `l` and `e`; that node is
//! on the walk's path and sent it right, so its test failed and cleared `l`. The layout is built
//! from the scoring kernel's nodes (uniform subtrees already merged), with the same test: a row
//! goes left when `x <= threshold`, so a test fails when `!(x <= threshold)` — NaN on either side
//! included.

use super::kernel::FlatNode;

/// The tests of one feature: indices into [`Bitvectors::tests`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FeatureTests {
    /// First test of this feature; its tests with a NaN threshold (which always fail) come first.
    pub start: usize,
    /// First test with a number as threshold; from here to `end`, thresholds ascend.
    pub ordered: usize,
    /// One past the last test.
    pub end: usize,
}

/// One tree's leaves: where its bitvector words and its leaf values are.
#[derive(Clone, Copy, Debug)]
pub(super) struct TreeLeaves {
    /// First word of this tree's bitvector (64 leaves a word, leaf `i` is bit `i % 64` of word
    /// `i / 64`, leaves numbered left to right).
    pub first_word: u32,
    /// Words of this tree's bitvector.
    pub words: u32,
    /// Index of this tree's leftmost leaf value in [`Bitvectors::leaf_values`].
    pub first_leaf: u32,
    /// Leaves in this tree (at least 1).
    pub leaves: u32,
}

/// The forest as tests sorted by feature and threshold, and leaf values by tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Bitvectors {
    /// Per feature, its range of tests.
    pub features: Vec<FeatureTests>,
    /// Per test: the threshold (`x <= threshold` goes left).
    pub thresholds: Vec<f64>,
    /// Per test: the bitvector word whose bits it clears when it fails.
    pub words: Vec<u32>,
    /// Per test: the bits of that word to keep when it fails (its left subtree's leaves are 0).
    pub masks: Vec<u64>,
    /// Per tree, in tree order.
    pub trees: Vec<TreeLeaves>,
    /// Leaf values, each tree's left to right.
    pub leaf_values: Vec<f64>,
    /// Words of all trees' bitvectors together.
    pub n_words: usize,
}

/// One test before sorting: feature, threshold, word, mask.
type Test = (u32, f64, u32, u64);

impl Bitvectors {
    /// Builds the layout from kernel nodes: each tree a contiguous, depth-first range starting at
    /// its root (a node's left child is the next node), leaves pointing at themselves.
    pub(super) fn build(nodes: &[FlatNode], values: &[f64], roots: &[u32]) -> Bitvectors {
        let mut layout = Bitvectors::default();
        let mut tests: Vec<Test> = Vec::new();
        // leaf_number[i]: leaves of node i's tree before node i, i.e. the number of the first
        // leaf at or after i in depth-first order.
        let mut leaf_number = vec![0u32; nodes.len() + 1];
        let mut n_features = 0;
        for (t, &root) in roots.iter().enumerate() {
            let (start, end) = (
                root as usize,
                roots.get(t + 1).map_or(nodes.len(), |&r| r as usize),
            );
            let first_leaf = layout.leaf_values.len();
            for (i, node) in nodes.iter().enumerate().take(end).skip(start) {
                leaf_number[i] = (layout.leaf_values.len() - first_leaf) as u32;
                if node.right as usize == i {
                    layout.leaf_values.push(values[i]);
                }
            }
            let leaves = (layout.leaf_values.len() - first_leaf) as u32;
            leaf_number[end] = leaves;
            let first_word = layout.n_words as u32;
            let words = leaves.div_ceil(64);
            for (i, node) in nodes.iter().enumerate().take(end).skip(start) {
                if node.right as usize == i {
                    continue;
                }
                n_features = n_features.max(node.feature as usize + 1);
                // The left subtree is nodes i+1 .. right: leaves from..to.
                let (from, to) = (leaf_number[i + 1], leaf_number[node.right as usize]);
                for w in from / 64..to.div_ceil(64) {
                    let (lo, hi) = (from.max(w * 64) - w * 64, to.min(w * 64 + 64) - w * 64);
                    let cleared = if hi - lo == 64 {
                        u64::MAX
                    } else {
                        ((1u64 << (hi - lo)) - 1) << lo
                    };
                    tests.push((node.feature, node.threshold, first_word + w, !cleared));
                }
            }
            layout.trees.push(TreeLeaves {
                first_word,
                words,
                first_leaf: first_leaf as u32,
                leaves,
            });
            layout.n_words += words as usize;
        }
        // By feature; within one, NaN thresholds (always failing) first, then ascending.
        tests.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.is_nan().cmp(&a.1.is_nan()))
                .then(a.1.total_cmp(&b.1))
        });
        layout.features = vec![FeatureTests::default(); n_features];
        let mut at = 0;
        for (f, range) in layout.features.iter_mut().enumerate() {
            range.start = at;
            while at < tests.len() && tests[at].0 as usize == f && tests[at].1.is_nan() {
                at += 1;
            }
            range.ordered = at;
            while at < tests.len() && tests[at].0 as usize == f {
                at += 1;
            }
            range.end = at;
        }
        layout.thresholds = tests.iter().map(|t| t.1).collect();
        layout.words = tests.iter().map(|t| t.2).collect();
        layout.masks = tests.iter().map(|t| t.3).collect();
        layout
    }

    /// How many of feature `f`'s tests fail for at least one of `xs`: those are a prefix of its
    /// tests (NaN thresholds, then thresholds below the largest value), the rest pass for all.
    pub(super) fn failing(&self, f: usize, xs: &[f64]) -> usize {
        let range = self.features[f];
        if xs.iter().any(|x| x.is_nan()) {
            return range.end - range.start;
        }
        let largest = xs.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x));
        let below = self.thresholds[range.ordered..range.end].partition_point(|&t| t < largest);
        range.ordered - range.start + below
    }

    /// P(fraud) of one row through this layout, without SIMD: the reference the vectorised kernel
    /// follows, lane for lane (tests use it to check the layout on any CPU).
    #[cfg(test)]
    pub(super) fn predict(&self, x: &[f64]) -> f64 {
        let mut bits = vec![u64::MAX; self.n_words];
        for (f, range) in self.features.iter().enumerate() {
            for i in range.start..range.end {
                if !(x[f] <= self.thresholds[i]) {
                    bits[self.words[i] as usize] &= self.masks[i];
                }
            }
        }
        let mut sum = 0.0;
        for tree in &self.trees {
            let words = &bits[tree.first_word as usize..][..tree.words as usize];
            let leaf = words
                .iter()
                .enumerate()
                .find(|(_, w)| **w != 0)
                .map_or(u32::MAX, |(i, w)| i as u32 * 64 + w.trailing_zeros());
            sum += self.leaf_values[(tree.first_leaf + leaf.min(tree.leaves - 1)) as usize];
        }
        sum / self.trees.len() as f64
    }
}
