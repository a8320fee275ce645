//! The forest in QuickScorer layout (Lucchese et al., SIGIR 2015), for the vectorised batch
//! kernel ([`super::avx512`]): instead of walking nodes, every test of a tree is evaluated, and a
//! test that fails clears its left subtree's leaves from the tree's leaf bitvector. The row's leaf
//! in the tree is then the lowest leaf left standing. No test depends on another, so many rows are
//! tested with one instruction and nothing waits on a loaded node index.
//!
//! Why that is the leaf the walk reaches: a test on the walk's path that fails sends the walk
//! right, so the leaves it clears are not the walk's; a test off the path that fails clears
//! leaves of a subtree the walk never enters. So the walk's leaf `e` survives. Any leaf `l` left of
//! `e` lies in the left subtree of the deepest node whose subtrees hold `l` and `e`; that node is
//! on the walk's path and sent it right, so its test failed and cleared `l`. The layout is built
//! from the scoring kernel's nodes (uniform subtrees already merged), with the same test: a row
//! goes left when `x <= threshold`, so a test fails when `!(x <= threshold)` — NaN on either side
//! included — which is exactly `rank(x) > rank(threshold)` over the feature's sorted thresholds
//! ([`super::ranks`], where the proof is). Tests are therefore kept as 16-bit ranks.
//!
//! A tree's bitvector is cut into slices of [`SLICE`] leaves (a `u16` each), so that one 512-bit
//! register holds one slice of 32 rows, the same width as 32 rows' 16-bit ranks.

use super::kernel::FlatNode;
use super::ranks::Ranks;

/// Leaves in a slice of a tree's bitvector.
pub(super) const SLICE: u32 = 16;

/// One tree's leaves: where its bitvector slices and its leaf values are.
#[derive(Clone, Copy, Debug)]
pub(super) struct TreeLeaves {
    /// First slice of this tree's bitvector (leaf `i` is bit `i % 16` of slice `i / 16`, leaves
    /// numbered left to right).
    pub first_slice: u32,
    /// Slices of this tree's bitvector.
    pub slices: u32,
    /// Index of this tree's leftmost leaf value in [`Bitvectors::leaf_values`].
    pub first_leaf: u32,
    /// Leaves in this tree (at least 1).
    pub leaves: u32,
}

/// One test, as the vectorised kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct Test {
    /// The feature tested.
    pub feature: u32,
    /// The threshold's rank, in both halves (one 32-bit broadcast fills a register with it).
    pub rank: u32,
    /// The bits of its slice to keep when the test fails (its left subtree's leaves are 0), in
    /// both halves.
    pub keep: u32,
}

impl Test {
    /// The threshold's rank.
    #[cfg(test)]
    pub(super) fn rank(&self) -> u16 {
        self.rank as u16
    }

    /// The bits to keep when the test fails.
    #[cfg(test)]
    pub(super) fn keep(&self) -> u16 {
        self.keep as u16
    }
}

/// The forest as tests grouped by the bitvector slice they clear, and leaf values by tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Bitvectors {
    /// Per feature, the thresholds that rows' values are ranked against.
    pub ranks: Ranks,
    /// Slice `s`'s tests are `slice_tests[s]..slice_tests[s + 1]` in [`Bitvectors::tests`].
    pub slice_tests: Vec<usize>,
    /// The tests, by slice.
    pub tests: Vec<Test>,
    /// Per tree, in tree order.
    pub trees: Vec<TreeLeaves>,
    /// Leaf values, each tree's left to right.
    pub leaf_values: Vec<f64>,
}

/// One test before grouping: feature, threshold rank, slice, bits to keep.
type Draft = (u32, u16, u32, u16);

/// Two copies of a 16-bit value in 32 bits.
fn twice(v: u16) -> u32 {
    u32::from(v) * 0x1_0001
}

impl Bitvectors {
    /// Builds the layout from kernel nodes: each tree a contiguous, depth-first range starting at
    /// its root (a node's left child is the next node), leaves pointing at themselves. `None` when
    /// a feature has too many distinct thresholds for 16-bit ranks. Long: one pass of several
    /// arrays filled together, which split into functions would each walk the trees again.
    pub(super) fn build(nodes: &[FlatNode], values: &[f64], roots: &[u32]) -> Option<Bitvectors> {
        let is_leaf = |i: usize, node: &FlatNode| node.right as usize == i;
        let splits = || {
            nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| !is_leaf(*i, n))
                .map(|(_, n)| n)
        };
        let n_features = splits().map(|n| n.feature as usize + 1).max().unwrap_or(0);
        let ranks = Ranks::build(n_features, splits().map(|n| (n.feature, n.threshold)))?;
        let mut layout = Bitvectors {
            ranks,
            ..Bitvectors::default()
        };
        let mut drafts: Vec<Draft> = Vec::new();
        // leaf_number[i]: leaves of node i's tree before node i, i.e. the number of the first
        // leaf at or after i in depth-first order.
        let mut leaf_number = vec![0u32; nodes.len() + 1];
        let mut n_slices = 0u32;
        for (t, &root) in roots.iter().enumerate() {
            let (start, end) = (
                root as usize,
                roots.get(t + 1).map_or(nodes.len(), |&r| r as usize),
            );
            let first_leaf = layout.leaf_values.len();
            for (i, node) in nodes.iter().enumerate().take(end).skip(start) {
                leaf_number[i] = (layout.leaf_values.len() - first_leaf) as u32;
                if is_leaf(i, node) {
                    layout.leaf_values.push(values[i]);
                }
            }
            let leaves = (layout.leaf_values.len() - first_leaf) as u32;
            leaf_number[end] = leaves;
            let first_slice = n_slices;
            let slices = leaves.div_ceil(SLICE);
            n_slices += slices;
            for (i, node) in nodes.iter().enumerate().take(end).skip(start) {
                if is_leaf(i, node) {
                    continue;
                }
                let rank = layout.ranks.threshold_rank(node.feature, node.threshold);
                // The left subtree is nodes i+1 .. right: leaves from..to.
                let (from, to) = (leaf_number[i + 1], leaf_number[node.right as usize]);
                for s in from / SLICE..to.div_ceil(SLICE) {
                    let (lo, hi) = (
                        from.max(s * SLICE) - s * SLICE,
                        to.min(s * SLICE + SLICE) - s * SLICE,
                    );
                    let cleared = ((1u32 << (hi - lo)) - 1) << lo;
                    drafts.push((node.feature, rank, first_slice + s, !(cleared as u16)));
                }
            }
            layout.trees.push(TreeLeaves {
                first_slice,
                slices,
                first_leaf: first_leaf as u32,
                leaves,
            });
        }
        // By slice; within a slice, tests of the same feature and threshold rank (one-hot
        // features are split at 0.5 all over a tree) fail for the same rows: one test clears all
        // their bits. Then back in node order within each slice.
        let mut drafts: Vec<(usize, Draft)> = drafts.into_iter().enumerate().collect();
        let key = |t: &Draft| (t.2, t.0, t.1);
        drafts.sort_by_key(|(i, t)| (key(t), *i));
        drafts.dedup_by(|later, kept| {
            let same = key(&later.1) == key(&kept.1);
            if same {
                kept.1 .3 &= later.1 .3;
            }
            same
        });
        drafts.sort_by_key(|(i, t)| (t.2, *i));
        layout.slice_tests = (0..=n_slices)
            .map(|s| drafts.partition_point(|(_, t)| t.2 < s))
            .collect();
        layout.tests = drafts
            .iter()
            .map(|&(_, (feature, rank, _, keep))| Test {
                feature,
                rank: twice(rank),
                keep: twice(keep),
            })
            .collect();
        Some(layout)
    }

    /// Slices of all trees' bitvectors together.
    pub(super) fn n_slices(&self) -> usize {
        self.slice_tests.len().saturating_sub(1)
    }

    /// Features a row needs.
    pub(super) fn n_features(&self) -> usize {
        self.ranks.n_features()
    }

    /// P(fraud) of one row through this layout, without SIMD: the reference the vectorised kernel
    /// follows, lane for lane (tests use it to check the layout on any CPU).
    #[cfg(test)]
    pub(super) fn predict(&self, x: &[f64]) -> f64 {
        let ranks: Vec<u16> = (0..self.n_features())
            .map(|f| self.ranks.value_rank(f, x[f]))
            .collect();
        let mut bits = vec![u16::MAX; self.n_slices()];
        for (s, slice) in bits.iter_mut().enumerate() {
            for test in &self.tests[self.slice_tests[s]..self.slice_tests[s + 1]] {
                if ranks[test.feature as usize] > test.rank() {
                    *slice &= test.keep();
                }
            }
        }
        let mut sum = 0.0;
        for tree in &self.trees {
            let slices = &bits[tree.first_slice as usize..][..tree.slices as usize];
            let leaf = slices
                .iter()
                .enumerate()
                .find(|(_, s)| **s != 0)
                .map_or(u32::MAX, |(i, s)| i as u32 * SLICE + s.trailing_zeros());
            sum += self.leaf_values[(tree.first_leaf + leaf.min(tree.leaves - 1)) as usize];
        }
        sum / self.trees.len() as f64
    }
}
