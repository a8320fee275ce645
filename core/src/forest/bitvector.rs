//! The forest in QuickScorer layout (Lucchese et al., SIGIR 2015), for the vectorised batch
//! kernel ([`super::avx512`]): instead of walking nodes, every test of a tree is evaluated, and a
//! test that fails clears its left subtree's leaves from the tree's leaf bitvector. The row's leaf
//! in the tree is then the lowest leaf left standing. No test depends on another, so eight rows are
//! tested with one instruction and nothing waits on a loaded node index.
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

/// The forest as tests grouped by the bitvector word they clear, and leaf values by tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Bitvectors {
    /// Word `w`'s tests are `word_tests[w]..word_tests[w + 1]` in the per-test arrays.
    pub word_tests: Vec<usize>,
    /// Per test: the feature it tests.
    pub features: Vec<u32>,
    /// Per test: the threshold (`x <= threshold` goes left).
    pub thresholds: Vec<f64>,
    /// Per test: the bits of its word to keep when it fails (its left subtree's leaves are 0).
    pub masks: Vec<u64>,
    /// Per tree, in tree order.
    pub trees: Vec<TreeLeaves>,
    /// Leaf values, each tree's left to right.
    pub leaf_values: Vec<f64>,
    /// Features a row needs (1 + the largest feature tested).
    pub n_features: usize,
}

/// One test before grouping: feature, threshold, word, mask.
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
            let first_word = layout.n_words() as u32;
            let words = leaves.div_ceil(64);
            for (i, node) in nodes.iter().enumerate().take(end).skip(start) {
                if node.right as usize == i {
                    continue;
                }
                layout.n_features = layout.n_features.max(node.feature as usize + 1);
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
        }
        // By word; within a word, tests of the same feature and threshold (one-hot features are
        // split at 0.5 all over a tree) fail for the same rows: one test clears all their bits.
        // Then back in node order within each word.
        let mut tests: Vec<(usize, Test)> = tests.into_iter().enumerate().collect();
        let key = |t: &Test| (t.2, t.0, t.1.to_bits());
        tests.sort_by_key(|(i, t)| (key(t), *i));
        tests.dedup_by(|later, kept| {
            let same = key(&later.1) == key(&kept.1);
            if same {
                kept.1 .3 &= later.1 .3;
            }
            same
        });
        tests.sort_by_key(|(i, t)| (t.2, *i));
        let tests: Vec<Test> = tests.into_iter().map(|(_, t)| t).collect();
        let n_words = layout.n_words();
        layout.word_tests = (0..=n_words)
            .map(|w| tests.partition_point(|t| (t.2 as usize) < w))
            .collect();
        layout.features = tests.iter().map(|t| t.0).collect();
        layout.thresholds = tests.iter().map(|t| t.1).collect();
        layout.masks = tests.iter().map(|t| t.3).collect();
        layout
    }

    /// Words of all trees' bitvectors together.
    pub(super) fn n_words(&self) -> usize {
        self.trees
            .last()
            .map_or(0, |t| (t.first_word + t.words) as usize)
    }

    /// P(fraud) of one row through this layout, without SIMD: the reference the vectorised kernel
    /// follows, lane for lane (tests use it to check the layout on any CPU).
    #[cfg(test)]
    pub(super) fn predict(&self, x: &[f64]) -> f64 {
        let mut bits = vec![u64::MAX; self.n_words()];
        for (w, word) in bits.iter_mut().enumerate() {
            for i in self.word_tests[w]..self.word_tests[w + 1] {
                let goes_left = x[self.features[i] as usize] <= self.thresholds[i];
                if !goes_left {
                    *word &= self.masks[i];
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
