//! The batch kernel on AVX-512, over the QuickScorer layout ([`super::bitvector`]): 32 rows at a
//! time, one row per 64-bit lane of four registers. Each test compares the eight rows of a register
//! with one instruction and, in the lanes whose rows fail it, clears its bits from a register that
//! holds one bitvector word of those rows — two chains of ANDs per register, so no AND waits on the
//! one before it. Each tree's leaf is then found for eight rows at once (lowest set bit) and its
//! value gathered. Rows' values are added in tree order and divided by the number of trees, as in
//! the reference kernel, so results are the same bit for bit. The only module of the workspace
//! with `unsafe` code: loads, stores and gathers through pointers, and the call into code compiled
//! for CPU features after checking the CPU has them.

use std::arch::x86_64::{
    __m512d, __m512i, _mm512_add_pd, _mm512_and_si512, _mm512_cmp_pd_mask, _mm512_div_pd,
    _mm512_i64gather_pd, _mm512_load_si512, _mm512_loadu_pd, _mm512_lzcnt_epi64,
    _mm512_mask_and_epi64, _mm512_mask_mov_epi64, _mm512_min_epu64, _mm512_set1_epi64,
    _mm512_set1_pd, _mm512_setzero_pd, _mm512_setzero_si512, _mm512_store_si512, _mm512_storeu_pd,
    _mm512_sub_epi64, _mm512_test_epi64_mask, _CMP_NLE_UQ,
};

use super::bitvector::{Bitvectors, TreeLeaves};

/// Rows in one register: one per 64-bit lane.
const LANES: usize = 8;
/// Registers of rows scored together: each test's threshold, mask and feature are loaded once for
/// all of them.
const REGS: usize = 4;
/// Rows scored together.
const GROUP: usize = REGS * LANES;
/// Fewest rows worth this kernel: a group costs the same however many of its lanes hold rows, so
/// a smaller batch scores faster through the reference walk.
pub(super) const MIN_ROWS: usize = GROUP;

/// One bitvector word of each of the eight rows of a register.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Word([u64; LANES]);

/// Whether this CPU can run the kernel (AVX-512 F for the arithmetic, CD for counting zeros).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512cd")
}

/// P(fraud) of each row into `out` (`rows.len() == out.len()`), when the CPU has AVX-512;
/// returns `false`, having written nothing, when it does not.
pub(super) fn predict_batch<R: AsRef<[f64]>>(
    layout: &Bitvectors,
    rows: &[R],
    out: &mut [f64],
) -> bool {
    if !available() {
        return false;
    }
    // The gathers below read `leaf_values` at `first_leaf + i` for `i < leaves`: check here, in
    // this module, that every tree's leaves lie inside it rather than trust the builder.
    let leaves_in_bounds = layout.trees.iter().all(|t| {
        t.leaves >= 1 && t.first_leaf as usize + t.leaves as usize <= layout.leaf_values.len()
    });
    if !leaves_in_bounds || layout.trees.is_empty() || rows.len() != out.len() {
        return false;
    }
    // SAFETY: the CPU has AVX-512 F and CD (checked above), the features it is compiled for.
    unsafe { predict_batch_avx512(layout, rows, out) };
    true
}

#[target_feature(enable = "avx512f,avx512cd")]
fn predict_batch_avx512<R: AsRef<[f64]>>(layout: &Bitvectors, rows: &[R], out: &mut [f64]) {
    // Per feature, the group's rows side by side: REGS registers of eight.
    let mut xs = vec![[[0.0f64; LANES]; REGS]; layout.n_features];
    let mut bits = vec![[Word([u64::MAX; LANES]); REGS]; layout.n_words()];
    let trees = _mm512_set1_pd(layout.trees.len() as f64);
    for (group, probabilities) in rows.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
        // A short last group repeats its first row in the spare lanes.
        for l in 0..GROUP {
            let row = &group.get(l).unwrap_or(&group[0]).as_ref()[..layout.n_features];
            for (x, &value) in xs.iter_mut().zip(row) {
                x[l / LANES][l % LANES] = value;
            }
        }
        // Each word: all ones, less the bits of its tests that fail, lane by lane. The tests are
        // independent of each other: only the running ANDs wait on the one before.
        for (w, word) in bits.iter_mut().enumerate() {
            let tests = layout.word_tests[w]..layout.word_tests[w + 1];
            let (features, thresholds, masks) = (
                &layout.features[tests.clone()],
                &layout.thresholds[tests.clone()],
                &layout.masks[tests],
            );
            // Test `i` on every register: clears the bits it clears in the lanes whose row fails
            // it (`!(x <= threshold)`: NaN fails, as in the reference).
            let test = |kept: &mut [__m512i; REGS], i: usize| {
                let xs = &xs[features[i] as usize];
                let threshold = _mm512_set1_pd(thresholds[i]);
                let mask = _mm512_set1_epi64(masks[i] as i64);
                for (kept, x) in kept.iter_mut().zip(xs) {
                    let fails = _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(load_pd(x), threshold);
                    *kept = _mm512_mask_and_epi64(*kept, fails, *kept, mask);
                }
            };
            // Two chains per register (even and odd tests), ANDed at the end, so that no AND
            // waits on the one just before it.
            let mut even = [_mm512_set1_epi64(-1); REGS];
            let mut odd = even;
            for i in (0..features.len()).step_by(2) {
                test(&mut even, i);
                if i + 1 < features.len() {
                    test(&mut odd, i + 1);
                }
            }
            for r in 0..REGS {
                store(&mut word[r], _mm512_and_si512(even[r], odd[r]));
            }
        }
        let mut sums = [_mm512_setzero_pd(); REGS];
        for tree in &layout.trees {
            for (r, sum) in sums.iter_mut().enumerate() {
                *sum = _mm512_add_pd(*sum, leaf_values(layout, tree, &bits, r));
            }
        }
        let mut lanes = [[0.0; LANES]; REGS];
        for (lanes, sum) in lanes.iter_mut().zip(sums) {
            store_pd(lanes, _mm512_div_pd(sum, trees));
        }
        probabilities.copy_from_slice(&lanes.as_flattened()[..probabilities.len()]);
    }
}

/// The value of `tree`'s leaf for each row of register `reg`: its lowest standing leaf.
#[inline]
#[target_feature(enable = "avx512f,avx512cd")]
fn leaf_values(
    layout: &Bitvectors,
    tree: &TreeLeaves,
    bits: &[[Word; REGS]],
    reg: usize,
) -> __m512d {
    let last = _mm512_set1_epi64(i64::from(tree.first_leaf + tree.leaves - 1));
    let leaf = if tree.words == 1 {
        // Most trees: one word, whose lowest set bit is the leaf.
        let word = load(&bits[tree.first_word as usize][reg]);
        let lowest = _mm512_and_si512(word, _mm512_sub_epi64(_mm512_setzero_si512(), word));
        let first = _mm512_set1_epi64(63 + i64::from(tree.first_leaf));
        _mm512_sub_epi64(first, _mm512_lzcnt_epi64(lowest))
    } else {
        // The lowest set bit over the tree's words, last word first so the first wins.
        let mut leaf = last;
        for w in (0..tree.words).rev() {
            let word = load(&bits[(tree.first_word + w) as usize][reg]);
            let standing = _mm512_test_epi64_mask(word, word);
            let lowest = _mm512_and_si512(word, _mm512_sub_epi64(_mm512_setzero_si512(), word));
            let first = _mm512_set1_epi64(63 + 64 * i64::from(w) + i64::from(tree.first_leaf));
            let at = _mm512_sub_epi64(first, _mm512_lzcnt_epi64(lowest));
            leaf = _mm512_mask_mov_epi64(leaf, standing, at);
        }
        leaf
    };
    // Clamped (unsigned) to the tree's last leaf, so the gather stays inside `leaf_values`
    // whatever the bits held: a lane is at least `first_leaf - 1` (a word of no bits), which is
    // another tree's leaf or, below 0, wraps above `last`. A walk's leaf always stands, so this
    // never changes a result.
    let leaf = _mm512_min_epu64(leaf, last);
    // SAFETY: every lane is at most `first_leaf + leaves - 1`, inside `leaf_values` (checked in
    // `predict_batch` for every tree), and not negative (see above); the scale 8 is the size of
    // an f64.
    unsafe { _mm512_i64gather_pd::<8>(leaf, layout.leaf_values.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(word: &Word) -> __m512i {
    // SAFETY: a `Word` is 64 readable bytes aligned to 64.
    unsafe { _mm512_load_si512(std::ptr::from_ref(word).cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(word: &mut Word, value: __m512i) {
    // SAFETY: a `Word` is 64 writable bytes aligned to 64.
    unsafe { _mm512_store_si512(std::ptr::from_mut(word).cast(), value) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load_pd(x: &[f64; LANES]) -> __m512d {
    // SAFETY: eight readable f64 (unaligned load).
    unsafe { _mm512_loadu_pd(x.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store_pd(x: &mut [f64; LANES], value: __m512d) {
    // SAFETY: eight writable f64 (unaligned store).
    unsafe { _mm512_storeu_pd(x.as_mut_ptr(), value) }
}
