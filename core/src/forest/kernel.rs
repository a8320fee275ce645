//! The scoring layout and traversal: 16-byte nodes, each tree depth-first (a node's left child is
//! the next node), leaves that point at themselves, and several rows walked through a tree in
//! lockstep with a branch-free step — so the loop has no data-dependent branches for the CPU to
//! mispredict, and the independent walks overlap their memory loads. No allocation per row.
//!
//! Every row's tree values are summed in tree order and divided by the number of trees, exactly as
//! smartcore's `predict`, so results are bit-for-bit equal to it.

use super::compiled::Node;

/// Rows walked together through a tree.
const LANES: usize = 8;
/// Rows a tree walks before the next tree: its nodes stay in L1 meanwhile.
const BLOCK: usize = 256;

/// One node as the kernel sees it. A leaf has `threshold = NaN` and `right` = itself: no value
/// compares `<=` NaN, so a walk that reached a leaf stays there.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct FlatNode {
    threshold: f64,
    feature: u32,
    right: u32,
}

/// The forest in kernel layout.
#[derive(Clone, Debug, Default)]
pub(super) struct Kernel {
    nodes: Vec<FlatNode>,
    /// Leaf values (and, unused here, internal nodes' values), by node index.
    values: Vec<f64>,
    /// (root index, steps from the root to the deepest leaf) per tree.
    trees: Vec<(u32, u32)>,
}

impl Kernel {
    /// Builds the kernel from checked, depth-first nodes (`left == index + 1`).
    pub(super) fn build(roots: &[u32], nodes: &[Node]) -> Kernel {
        let flat = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if n.is_leaf() {
                    FlatNode {
                        threshold: f64::NAN,
                        feature: 0,
                        right: i as u32,
                    }
                } else {
                    FlatNode {
                        threshold: n.threshold,
                        feature: n.feature,
                        right: n.right,
                    }
                }
            })
            .collect();
        let trees = roots.iter().map(|&r| (r, depth_below(nodes, r))).collect();
        Kernel {
            nodes: flat,
            values: nodes.iter().map(|n| n.value).collect(),
            trees,
        }
    }

    #[inline(always)]
    fn step(&self, at: u32, x: &[f64]) -> u32 {
        let node = self.nodes[at as usize];
        // Which way a row goes is a coin toss to the branch predictor: ask for a conditional move
        // (LLVM would otherwise turn the select on the loop-carried `at` into a branch).
        std::hint::select_unpredictable(
            x[node.feature as usize] <= node.threshold,
            at + 1,
            node.right,
        )
    }

    /// P(fraud) for one row.
    pub(super) fn predict(&self, x: &[f64]) -> f64 {
        let mut sum = 0.0;
        for &(root, steps) in &self.trees {
            let mut at = root;
            for _ in 0..steps {
                at = self.step(at, x);
            }
            sum += self.values[at as usize];
        }
        sum / self.trees.len() as f64
    }

    /// P(fraud) for each row into `out`. Rows are taken in blocks of [`BLOCK`]; each tree walks
    /// the whole block ([`LANES`] rows in lockstep) while its nodes are hot in L1.
    pub(super) fn predict_batch<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        let n = rows.len().min(out.len());
        let trees = self.trees.len() as f64;
        for (block, sums) in rows[..n].chunks(BLOCK).zip(out[..n].chunks_mut(BLOCK)) {
            sums.fill(0.0);
            for &(root, steps) in &self.trees {
                let mut lanes = block.chunks_exact(LANES);
                let mut lane_sums = sums.chunks_exact_mut(LANES);
                for (chunk, acc) in (&mut lanes).zip(&mut lane_sums) {
                    let xs: [&[f64]; LANES] = std::array::from_fn(|l| chunk[l].as_ref());
                    let mut at = [root; LANES];
                    for _ in 0..steps {
                        for l in 0..LANES {
                            at[l] = self.step(at[l], xs[l]);
                        }
                    }
                    for l in 0..LANES {
                        acc[l] += self.values[at[l] as usize];
                    }
                }
                for (x, acc) in lanes.remainder().iter().zip(lane_sums.into_remainder()) {
                    let mut at = root;
                    for _ in 0..steps {
                        at = self.step(at, x.as_ref());
                    }
                    *acc += self.values[at as usize];
                }
            }
            // Each row's values were added in tree order, as smartcore does.
            sums.iter_mut().for_each(|s| *s /= trees);
        }
    }
}

/// Edges from `root` to its deepest leaf.
fn depth_below(nodes: &[Node], root: u32) -> u32 {
    let mut deepest = 0;
    let mut stack = vec![(root, 0u32)];
    while let Some((i, d)) = stack.pop() {
        let node = &nodes[i as usize];
        if node.is_leaf() {
            deepest = deepest.max(d);
        } else {
            stack.push((node.left, d + 1));
            stack.push((node.right, d + 1));
        }
    }
    deepest
}
