//! Any bytes as a forest and rows: the batch kernel (vectorised where the CPU allows), and each
//! vectorised kernel the CPU runs (AVX-512, AVX2) asked for by name, score every row bit for bit as
//! the reference kernel and as one row at a time — NaN, infinities, signed zeros, huge values,
//! thresholds rows hit exactly, one-leaf and wide trees included.
#![no_main]

use aegis_core::forest::{BatchKernel, CompiledForest, Node};
use libfuzzer_sys::fuzz_target;

/// Numbers the bytes pick by index, so ties and special values are common.
const SPECIAL: [f64; 12] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    f64::MAX,
    f64::MIN,
    5e-324,
    0.5,
    1.0,
    -1.0,
    1e300,
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    /// A special number, or the next eight bytes as an f64.
    fn number(&mut self) -> f64 {
        let pick = self.byte() as usize;
        if pick < 2 * SPECIAL.len() {
            return SPECIAL[pick % SPECIAL.len()];
        }
        f64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// A node value in [0, 1], often one of a few, so subtrees get merged.
    fn value(&mut self) -> f64 {
        match self.byte() {
            b @ 0..=2 => [0.0, 0.25, 1.0][b as usize],
            b => f64::from(b) / 255.0,
        }
    }

    /// A tree grown pre-order (child indices local to it).
    fn tree(&mut self, depth: u32, max_depth: u32, n_features: u8, nodes: &mut Vec<Node>) -> u32 {
        let at = nodes.len();
        let split = self.byte() < 200 && depth < max_depth;
        let value = self.value();
        nodes.push(Node { feature: 0, threshold: 0.0, left: 0, right: 0, value });
        if split {
            let feature = u32::from(self.byte() % n_features);
            let threshold = self.number();
            let left = self.tree(depth + 1, max_depth, n_features, nodes);
            let right = self.tree(depth + 1, max_depth, n_features, nodes);
            nodes[at] = Node { feature, threshold, left, right, value };
        }
        at as u32
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes(data);
    let n_features = 1 + bytes.byte() % 6;
    let n_trees = 1 + bytes.byte() % 6;
    let max_depth = 1 + u32::from(bytes.byte() % 10);
    let trees: Vec<Vec<Node>> = (0..n_trees)
        .map(|_| {
            let mut nodes = Vec::new();
            bytes.tree(1, max_depth, n_features, &mut nodes);
            nodes
        })
        .collect();
    let forest = CompiledForest::from_trees(usize::from(n_features), &trees)
        .expect("grown trees are valid");
    // Up to 383 rows: the vectorised kernels' passes over one, two and four groups of 32 rows
    // (AVX-512) and one, two, four and eight of 16 (AVX2), short and full, and several passes.
    let n_rows = usize::from(bytes.byte() % 128) + 128 * usize::from(bytes.byte() % 3);
    let rows: Vec<Vec<f64>> = (0..n_rows)
        .map(|_| (0..n_features).map(|_| bytes.number()).collect())
        .collect();
    let mut batch = vec![f64::NAN; rows.len()];
    forest.predict_batch(&rows, &mut batch);
    let mut reference = vec![f64::NAN; rows.len()];
    forest.predict_batch_reference(&rows, &mut reference);
    for (i, row) in rows.iter().enumerate() {
        let one = forest.predict(row).to_bits();
        assert_eq!(batch[i].to_bits(), one, "row {i}: {row:?}");
        assert_eq!(reference[i].to_bits(), one, "row {i}: {row:?}");
    }
    for kernel in [BatchKernel::Avx512, BatchKernel::Avx2].into_iter().filter(|k| k.runs_here()) {
        let mut simd = vec![f64::NAN; rows.len()];
        // Grown forests have few thresholds and small trees: every kernel the CPU runs takes them.
        forest
            .predict_batch_with(kernel, &rows, &mut simd)
            .expect("a kernel the CPU runs scores a grown forest");
        for (i, (got, want)) in simd.iter().zip(&reference).enumerate() {
            assert_eq!(got.to_bits(), want.to_bits(), "{kernel} row {i}: {:?}", rows[i]);
        }
    }
});
