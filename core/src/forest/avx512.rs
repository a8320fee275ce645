//! The batch kernel on AVX-512, over the QuickScorer layout ([`super::bitvector`]) with 16-bit
//! ranks ([`super::ranks`]): groups of 32 rows, one row per 16-bit lane of a register, up to four
//! groups in one pass over the tests. A group's values are first turned into ranks (per row and
//! feature, a search that compares eight thresholds at a time, one level of a static B-tree per
//! step); then each test compares each group's ranks with its threshold's in one instruction and,
//! in the lanes whose rows fail it, clears its bits from the register that holds one 16-leaf slice
//! of those rows' bitvectors — two AND chains a slice and group, so no AND waits on the one before
//! it, and the test's threshold and bits are loaded once for the pass. Each tree's leaf is then
//! found for 32 rows at once (trailing zeros by popcount, AVX-512 BITALG) and its value gathered.
//! Rows' values are added in tree order and divided by the number of trees, as in the reference
//! kernel, so results are the same bit for bit. The only module of the workspace with `unsafe`
//! code: loads, stores and gathers through pointers, and the call into code compiled for CPU
//! features after checking the CPU has them.

use std::arch::x86_64::{
    __m512d, __m512i, _mm512_add_epi16, _mm512_add_epi32, _mm512_add_pd, _mm512_and_si512,
    _mm512_andnot_si512, _mm512_castsi512_si256, _mm512_cmp_pd_mask, _mm512_cmpgt_epu16_mask,
    _mm512_cvtepu16_epi32, _mm512_div_pd, _mm512_extracti64x4_epi64, _mm512_i32gather_pd,
    _mm512_load_si512, _mm512_loadu_pd, _mm512_mask_mov_epi16, _mm512_min_epu16, _mm512_movm_epi16,
    _mm512_popcnt_epi16, _mm512_set1_epi16, _mm512_set1_epi32, _mm512_set1_pd, _mm512_setzero_pd,
    _mm512_store_si512, _mm512_storeu_pd, _mm512_ternarylogic_epi32, _mm512_test_epi16_mask,
    _CMP_LT_OQ,
};

use super::bitvector::{Bitvectors, Test, TreeLeaves, SLICE};
use super::ranks::{Ranks, BLOCK};

/// Rows scored together: one per 16-bit lane of a register.
const GROUP: usize = 32;
/// Most groups scored in one pass over the tests (each test's threshold and bits loaded once for
/// all of them; four measured faster than two, and as fast as eight).
const PASS: usize = 4;
/// Fewest rows worth this kernel: a group costs the same however many of its lanes hold rows, so
/// a smaller batch scores faster through the reference walk.
pub(super) const MIN_ROWS: usize = GROUP;
/// Most leaves a tree may have here: leaf numbers, and a slice's first leaf plus 15, fit 16 bits.
const MAX_LEAVES: u32 = 1 << 15;

/// One 16-bit value (a rank, or a bitvector slice) of each of the 32 rows of a group.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Lanes([u16; GROUP]);

/// Whether this CPU can run the kernel: AVX-512 F, BW for 16-bit lanes, BITALG for their popcount,
/// and the scalar popcount (every CPU with AVX-512 has it).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512bitalg")
        && is_x86_feature_detected!("popcnt")
}

/// Why this kernel cannot score a forest's layout, if it cannot (the CPU aside).
pub(super) fn refuses(layout: &Bitvectors) -> Option<&'static str> {
    // The gathers below read `leaf_values` at `first_leaf + i` for `i < leaves`: check here, in
    // this module, that every tree's leaves lie inside it rather than trust the builder, and that
    // those indices fit the gathers' 32-bit offsets and the 16-bit leaf numbers.
    let leaves_in_bounds = layout.leaf_values.len() <= i32::MAX as usize
        && layout.trees.iter().all(|t| {
            t.leaves >= 1
                && t.leaves <= MAX_LEAVES
                && t.first_leaf as usize + t.leaves as usize <= layout.leaf_values.len()
        });
    if layout.trees.is_empty() {
        Some("it has no trees")
    } else if !leaves_in_bounds {
        Some("a tree has more leaves than 16-bit leaf numbers hold")
    } else {
        None
    }
}

/// P(fraud) of each row into `out` (`rows.len() == out.len()`), when the CPU has the AVX-512
/// features and the layout suits the kernel; returns `false`, having written nothing, when not.
pub(super) fn predict_batch<R: AsRef<[f64]>>(
    layout: &Bitvectors,
    rows: &[R],
    out: &mut [f64],
) -> bool {
    if !available() || refuses(layout).is_some() || rows.len() != out.len() {
        return false;
    }
    // SAFETY: the CPU has AVX-512 F, BW and BITALG and POPCNT (checked above), the features it is
    // compiled for.
    unsafe { predict_batch_avx512(layout, rows, out) };
    true
}

#[target_feature(enable = "avx512f,avx512bw,avx512bitalg,popcnt")]
fn predict_batch_avx512<R: AsRef<[f64]>>(layout: &Bitvectors, rows: &[R], out: &mut [f64]) {
    // A pass over as few groups as the rows need: a batch's last rows, or a small batch, do not
    // pay for four groups.
    let (mut one, mut two, mut four) = (None, None, None);
    for (rows, out) in rows.chunks(PASS * GROUP).zip(out.chunks_mut(PASS * GROUP)) {
        match rows.len().div_ceil(GROUP) {
            1 => score_pass(
                layout,
                rows,
                out,
                one.get_or_insert_with(|| Scratch::<1>::new(layout)),
            ),
            2 => score_pass(
                layout,
                rows,
                out,
                two.get_or_insert_with(|| Scratch::<2>::new(layout)),
            ),
            _ => score_pass(
                layout,
                rows,
                out,
                four.get_or_insert_with(|| Scratch::<PASS>::new(layout)),
            ),
        }
    }
}

/// What a pass over `H` groups works in: per feature, each group's rows' ranks; per slice, each
/// group's rows' bits.
struct Scratch<const H: usize> {
    ranks: Vec<[Lanes; H]>,
    bits: Vec<[Lanes; H]>,
}

impl<const H: usize> Scratch<H> {
    fn new(layout: &Bitvectors) -> Self {
        Scratch {
            ranks: vec![[Lanes([0; GROUP]); H]; layout.n_features()],
            bits: vec![[Lanes([0; GROUP]); H]; layout.n_slices()],
        }
    }
}

/// Scores up to `H` groups of rows (`rows.len() <= H * GROUP`) in one pass over the tests: each
/// test's threshold and bits are loaded once for all the groups.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512bitalg,popcnt")]
fn score_pass<R: AsRef<[f64]>, const H: usize>(
    layout: &Bitvectors,
    rows: &[R],
    out: &mut [f64],
    scratch: &mut Scratch<H>,
) {
    for (h, group) in rows.chunks(GROUP).enumerate() {
        // A short group repeats its first row in the spare lanes; a missing one is not read.
        value_ranks(&layout.ranks, group, &mut scratch.ranks, h);
    }
    // Each slice: all ones, less the bits of its tests that fail, lane by lane. The tests are
    // independent of each other: only the running ANDs wait on the one before.
    for (s, slice) in scratch.bits.iter_mut().enumerate() {
        let tests = &layout.tests[layout.slice_tests[s]..layout.slice_tests[s + 1]];
        // Two chains a group (even and odd tests), ANDed at the end.
        let mut even = [_mm512_set1_epi32(-1); H];
        let mut odd = even;
        let mut pairs = tests.chunks_exact(2);
        for pair in &mut pairs {
            apply(&mut even, &pair[0], &scratch.ranks);
            apply(&mut odd, &pair[1], &scratch.ranks);
        }
        if let [test] = pairs.remainder() {
            apply(&mut even, test, &scratch.ranks);
        }
        for ((slice, even), odd) in slice.iter_mut().zip(even).zip(odd) {
            store(slice, _mm512_and_si512(even, odd));
        }
    }
    let trees = _mm512_set1_pd(layout.trees.len() as f64);
    for (h, out) in out.chunks_mut(GROUP).enumerate() {
        let mut sums = [_mm512_setzero_pd(); GROUP / 8];
        for tree in &layout.trees {
            let values = leaf_values(layout, tree, &scratch.bits, h);
            for (sum, value) in sums.iter_mut().zip(values) {
                *sum = _mm512_add_pd(*sum, value);
            }
        }
        let mut lanes = [[0.0; 8]; GROUP / 8];
        for (lanes, sum) in lanes.iter_mut().zip(sums) {
            store_pd(lanes, _mm512_div_pd(sum, trees));
        }
        out.copy_from_slice(&lanes.as_flattened()[..out.len()]);
    }
}

/// The ranks of `rows[l][feature]` for every feature into `ranks[feature][h].0[l]`, for up to
/// [`GROUP`] rows (lanes past `rows.len()` repeat the first row): `1 + #{thresholds < x}`, found
/// through the feature's [`super::ranks::Levels`], and the feature's NaN rank for NaN. Each row's
/// search is a chain of dependent steps; the rows' chains are stepped side by side, so that they
/// overlap.
#[target_feature(enable = "avx512f,popcnt")]
fn value_ranks<R: AsRef<[f64]>, const H: usize>(
    layout: &Ranks,
    rows: &[R],
    ranks: &mut [[Lanes; H]],
    h: usize,
) {
    let mut xs = [0.0f64; GROUP];
    for (feature, out) in ranks.iter_mut().enumerate().take(layout.n_features()) {
        let out = &mut out[h];
        for (l, x) in xs.iter_mut().enumerate() {
            *x = rows.get(l).unwrap_or(&rows[0]).as_ref()[feature];
        }
        let mut below = [0usize; GROUP];
        for level in layout.levels(feature).top_down() {
            for (c, &x) in below.iter_mut().zip(&xs) {
                let block: &[f64; BLOCK] = level[BLOCK * *c..][..BLOCK]
                    .try_into()
                    .expect("a block is BLOCK thresholds");
                // `t < x`, false when either is NaN: the comparison the count is defined by.
                let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(load_block(block), _mm512_set1_pd(x));
                *c = BLOCK * *c + lt.count_ones() as usize;
            }
        }
        let nan = layout.nan_rank(feature);
        for ((rank, c), x) in out.0.iter_mut().zip(below).zip(xs) {
            // At most MAX_THRESHOLDS + 1: fits.
            *rank = if x.is_nan() { nan } else { 1 + c as u16 };
        }
    }
}

/// The ranks [`value_ranks`] gives a group of rows (at most [`GROUP`]), per feature; `None` when
/// the CPU cannot run it. For tests.
#[cfg(test)]
pub(super) fn value_ranks_of<R: AsRef<[f64]>>(
    layout: &Ranks,
    rows: &[R],
) -> Option<Vec<[u16; GROUP]>> {
    if !available() || rows.is_empty() || rows.len() > GROUP {
        return None;
    }
    let mut ranks = vec![[Lanes([0; GROUP])]; layout.n_features()];
    // SAFETY: the CPU has the features `value_ranks` is compiled for (checked above).
    unsafe { value_ranks(layout, rows, &mut ranks, 0) };
    Some(ranks.into_iter().map(|[lanes]| lanes.0).collect())
}

/// Each group's `kept`, less the bits `test` clears in the lanes whose row fails it (`rank(x) >
/// rank(t)`, which is `!(x <= t)`, NaN included: see [`super::ranks`]).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn apply<const H: usize>(kept: &mut [__m512i; H], test: &Test, ranks: &[[Lanes; H]]) {
    let x = &ranks[test.feature as usize];
    let (rank, keep) = (
        _mm512_set1_epi32(test.rank as i32),
        _mm512_set1_epi32(test.keep as i32),
    );
    for (kept, x) in kept.iter_mut().zip(x) {
        let fails = _mm512_movm_epi16(_mm512_cmpgt_epu16_mask(load(x), rank));
        // kept & (keep | !fails): a = kept (0xF0), b = fails (0xCC), c = keep (0xAA).
        *kept = _mm512_ternarylogic_epi32::<0xB0>(*kept, fails, keep);
    }
}

/// Trailing zeros of each 16-bit lane (16 for 0): the ones below the lowest set bit.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512bitalg")]
fn trailing_zeros(w: __m512i) -> __m512i {
    _mm512_popcnt_epi16(_mm512_andnot_si512(
        w,
        _mm512_add_epi16(w, _mm512_set1_epi16(-1)),
    ))
}

/// The values of `tree`'s leaf for the group's rows (eight a register, in row order): each row's
/// lowest standing leaf.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512bitalg")]
fn leaf_values<const H: usize>(
    layout: &Bitvectors,
    tree: &TreeLeaves,
    bits: &[[Lanes; H]],
    h: usize,
) -> [__m512d; GROUP / 8] {
    let first = tree.first_slice as usize;
    let last = _mm512_set1_epi16((tree.leaves - 1) as i16);
    let leaf = if tree.slices == 1 {
        // Most trees' leaves fit one slice, whose lowest set bit is the leaf.
        trailing_zeros(load(&bits[first][h]))
    } else {
        // The lowest set bit over the tree's slices, last slice first so the first wins.
        let mut leaf = last;
        for s in (0..tree.slices as usize).rev() {
            let slice = load(&bits[first + s][h]);
            let standing = _mm512_test_epi16_mask(slice, slice);
            let at = _mm512_add_epi16(
                trailing_zeros(slice),
                _mm512_set1_epi16((s as u32 * SLICE) as i16),
            );
            leaf = _mm512_mask_mov_epi16(leaf, standing, at);
        }
        leaf
    };
    // Clamped (unsigned) to the tree's last leaf, so the gathers stay inside `leaf_values`
    // whatever the bits held. A walk's leaf always stands, so this never changes a result.
    let leaf = _mm512_min_epu16(leaf, last);
    let first_leaf = _mm512_set1_epi32(tree.first_leaf as i32);
    let low = _mm512_add_epi32(
        _mm512_cvtepu16_epi32(_mm512_castsi512_si256(leaf)),
        first_leaf,
    );
    let high = _mm512_add_epi32(
        _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(leaf)),
        first_leaf,
    );
    let base = layout.leaf_values.as_ptr();
    // SAFETY: every lane of `low` and `high` is `first_leaf + i` with `i <= leaves - 1` (clamped
    // above), inside `leaf_values` and below i32::MAX (both checked in `predict_batch` for every
    // tree); the scale 8 is the size of an f64.
    unsafe {
        [
            _mm512_i32gather_pd::<8>(_mm512_castsi512_si256(low), base),
            _mm512_i32gather_pd::<8>(_mm512_extracti64x4_epi64::<1>(low), base),
            _mm512_i32gather_pd::<8>(_mm512_castsi512_si256(high), base),
            _mm512_i32gather_pd::<8>(_mm512_extracti64x4_epi64::<1>(high), base),
        ]
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(lanes: &Lanes) -> __m512i {
    // SAFETY: a `Lanes` is 64 readable bytes aligned to 64.
    unsafe { _mm512_load_si512(std::ptr::from_ref(lanes).cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(lanes: &mut Lanes, value: __m512i) {
    // SAFETY: a `Lanes` is 64 writable bytes aligned to 64.
    unsafe { _mm512_store_si512(std::ptr::from_mut(lanes).cast(), value) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load_block(block: &[f64; BLOCK]) -> __m512d {
    // SAFETY: eight readable f64 (unaligned load).
    unsafe { _mm512_loadu_pd(block.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store_pd(x: &mut [f64; 8], value: __m512d) {
    // SAFETY: eight writable f64 (unaligned store).
    unsafe { _mm512_storeu_pd(x.as_mut_ptr(), value) }
}
