//! The scoring layout and traversal: 16-byte nodes, each tree depth-first (a node's left child is
//! the next node), leaves that point at themselves, and several rows walked through a tree in
//! lockstep with a branch-free step — so the loop has no data-dependent branches for the CPU to
//! mispredict, and the independent walks overlap their memory loads. No allocation per row.
//!
//! Every row's tree values are summed in tree order and divided by the number of trees, exactly as
//! smartcore's `predict`, so results are bit-for-bit equal to it.
//!
//! This walk is the reference. On a CPU with AVX-512 (F, BW and BITALG), batches of 32 rows or
//! more take the vectorised QuickScorer kernel instead ([`super::avx512`] over
//! [`super::bitvector`], thresholds as 16-bit ranks by [`super::ranks`]); on one with AVX2 but
//! not AVX-512, batches of 16 rows or more take its AVX2 form ([`super::avx2`]). Tests prove both
//! equal to the walk bit for bit. A forest whose thresholds do not fit 16-bit ranks has no such
//! layout and always takes the walk. [`super::dispatch`] says which kernel runs.

use super::bitvector::Bitvectors;
use super::compiled::Node;
use super::dispatch::{BatchKernel, KernelUnavailable};

/// Rows walked together through a tree.
const LANES: usize = 8;
/// Rows a tree walks before the next tree: its nodes stay in L1 meanwhile.
const BLOCK: usize = 256;

/// One node as the kernel sees it. A leaf has `threshold = NaN` and `right` = itself: no value
/// compares `<=` NaN, so a walk that reached a leaf stays there.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct FlatNode {
    pub threshold: f64,
    pub feature: u32,
    pub right: u32,
}

/// The forest in kernel layout.
#[derive(Clone, Debug, Default)]
pub(super) struct Kernel {
    nodes: Vec<FlatNode>,
    /// Leaf values (and, unused here, internal nodes' values), by kernel node index.
    values: Vec<f64>,
    /// (root index, steps from the root to the deepest leaf) per tree.
    trees: Vec<(u32, u32)>,
    /// The same trees in QuickScorer layout, for the vectorised batch kernel; `None` when a
    /// feature has too many distinct thresholds for 16-bit ranks.
    bitvectors: Option<Bitvectors>,
}

impl Kernel {
    /// Builds the kernel from checked, depth-first nodes (`left == index + 1`, children after
    /// their parent). A subtree all of whose leaves hold the same value (bit for bit) becomes one
    /// leaf of that value: every walk into it ends with that value anyway, so results stay exact,
    /// and walks get shorter (smartcore's regressor keeps splitting nodes that are already pure).
    pub(super) fn build(roots: &[u32], nodes: &[Node]) -> Kernel {
        // uniform[i]: the value every leaf below node i holds, if they all hold the same one.
        // Children come after their parent, so a pass from the end sees children first.
        let mut uniform: Vec<Option<f64>> = vec![None; nodes.len()];
        for (i, n) in nodes.iter().enumerate().rev() {
            uniform[i] = if n.is_leaf() {
                Some(n.value)
            } else {
                match (uniform[n.left as usize], uniform[n.right as usize]) {
                    (Some(l), Some(r)) if l.to_bits() == r.to_bits() => Some(l),
                    _ => None,
                }
            };
        }
        let mut kernel = Kernel::default();
        for &root in roots {
            let at = kernel.nodes.len() as u32;
            let depth = kernel.append(nodes, &uniform, root);
            kernel.trees.push((at, depth));
        }
        let roots: Vec<u32> = kernel.trees.iter().map(|t| t.0).collect();
        kernel.bitvectors = Bitvectors::build(&kernel.nodes, &kernel.values, &roots);
        kernel
    }

    /// Appends the subtree under `nodes[root]` depth-first, collapsing uniform subtrees; returns
    /// the steps from its root to its deepest leaf.
    fn append(&mut self, nodes: &[Node], uniform: &[Option<f64>], root: u32) -> u32 {
        let mut deepest = 0;
        // (source node, its depth, kernel slot of the parent whose `right` it is)
        let mut stack = vec![(root, 0u32, None::<usize>)];
        while let Some((i, depth, parent)) = stack.pop() {
            let here = self.nodes.len() as u32;
            if let Some(p) = parent {
                self.nodes[p].right = here;
            }
            let n = &nodes[i as usize];
            match uniform[i as usize] {
                Some(value) => {
                    self.nodes.push(FlatNode {
                        threshold: f64::NAN,
                        feature: 0,
                        right: here,
                    });
                    self.values.push(value);
                    deepest = deepest.max(depth);
                }
                None => {
                    self.nodes.push(FlatNode {
                        threshold: n.threshold,
                        feature: n.feature,
                        right: 0, // patched when the right child is appended
                    });
                    self.values.push(n.value);
                    // Right pushed first so the left subtree follows its parent directly.
                    stack.push((n.right, depth + 1, Some(here as usize)));
                    stack.push((n.left, depth + 1, None));
                }
            }
        }
        deepest
    }

    /// The QuickScorer layout of the same trees.
    #[cfg(test)]
    pub(super) fn bitvectors(&self) -> Option<&Bitvectors> {
        self.bitvectors.as_ref()
    }

    /// Nodes in the scoring layout, after uniform subtrees became leaves.
    pub(super) fn len(&self) -> usize {
        self.nodes.len()
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

    /// P(fraud) for each row into `out`: the fastest kernel the CPU runs when the forest has its
    /// layout and there are enough rows to fill its lanes, else
    /// [`Kernel::predict_batch_reference`].
    pub(super) fn predict_batch<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
        let n = rows.len().min(out.len());
        let fastest = BatchKernel::fastest_here();
        if fastest == BatchKernel::Portable
            || n < fastest.min_rows()
            || self
                .predict_batch_with(fastest, &rows[..n], &mut out[..n])
                .is_err()
        {
            self.predict_batch_reference(&rows[..n], &mut out[..n]);
        }
    }

    /// The kernel [`Kernel::predict_batch`] takes for a batch large enough for it.
    pub(super) fn batch_kernel(&self) -> BatchKernel {
        let fastest = BatchKernel::fastest_here();
        match &self.bitvectors {
            Some(layout) if refusal(fastest, layout).is_none() => fastest,
            _ => BatchKernel::Portable,
        }
    }

    /// P(fraud) for each row into `out` through the kernel asked for, whatever the number of
    /// rows; an error, having written nothing, when the CPU or the forest does not allow it.
    pub(super) fn predict_batch_with<R: AsRef<[f64]>>(
        &self,
        kernel: BatchKernel,
        rows: &[R],
        out: &mut [f64],
    ) -> Result<(), KernelUnavailable> {
        let n = rows.len().min(out.len());
        let (rows, out) = (&rows[..n], &mut out[..n]);
        if kernel == BatchKernel::Portable {
            self.predict_batch_reference(rows, out);
            return Ok(());
        }
        if !kernel.runs_here() {
            return Err(KernelUnavailable::Cpu {
                kernel,
                needs: kernel.needs(),
            });
        }
        let Some(layout) = &self.bitvectors else {
            return Err(KernelUnavailable::Forest {
                kernel,
                why: "a feature has more distinct thresholds than 16-bit ranks hold",
            });
        };
        if let Some(why) = refusal(kernel, layout) {
            return Err(KernelUnavailable::Forest { kernel, why });
        }
        let scored = match kernel {
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx512 => super::avx512::predict_batch(layout, rows, out),
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx2 => super::avx2::predict_batch(layout, rows, out),
            _ => false,
        };
        // The CPU and the layout were checked above: the kernel scored.
        debug_assert!(scored, "the {kernel} kernel refused a batch it accepts");
        Ok(())
    }

    /// The reference batch kernel, on any CPU. Rows are taken in blocks of [`BLOCK`]; each tree
    /// walks the whole block ([`LANES`] rows in lockstep) while its nodes are hot in L1.
    pub(super) fn predict_batch_reference<R: AsRef<[f64]>>(&self, rows: &[R], out: &mut [f64]) {
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

/// Why a vectorised kernel cannot score a layout, if it cannot (the CPU aside).
fn refusal(kernel: BatchKernel, layout: &Bitvectors) -> Option<&'static str> {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        BatchKernel::Avx512 => super::avx512::refuses(layout),
        #[cfg(target_arch = "x86_64")]
        BatchKernel::Avx2 => super::avx2::refuses(layout),
        BatchKernel::Portable => None,
        #[cfg(not(target_arch = "x86_64"))]
        _ => Some("it is not an x86-64 CPU"),
    }
}
