//! The batch kernel on AVX2, for x86-64 CPUs without AVX-512: the design of [`super::avx512`] —
//! the QuickScorer layout ([`super::bitvector`]) over 16-bit ranks ([`super::ranks`]) — on
//! 256-bit registers. A group is 16 rows, one per 16-bit lane; up to eight groups share one pass
//! over the tests, so each test's threshold and bits are loaded once for 128 rows, as in the
//! AVX-512 kernel. What AVX2 lacks is made up as follows:
//!
//! - no unsigned 16-bit compare: ranks are stored with their top bit flipped (`rank ^ 0x8000`),
//!   which maps unsigned order onto signed order, and compared with the signed `vpcmpgtw`;
//! - no ternary logic: a test is applied with a compare, an OR and an AND (`kept & (passes |
//!   keep)`, where `passes` compares the row's rank with the threshold's plus one);
//! - no mask registers: a rank search step compares a block's eight thresholds as two halves of
//!   four (`vcmppd`) and counts them from `vmovmskpd`;
//! - no 16-bit popcount: a leaf's number (the trailing zeros of its slice) comes from the lowest
//!   set bit times a de Bruijn constant, whose top four bits index a 16-entry table (`vpmullw`,
//!   `vpsrlw`, `vpshufb`).
//!
//! Each tree's leaf values are gathered four at a time (`vgatherdpd`), added in tree order and
//! divided by the number of trees, as in the reference kernel, so results are the same bit for
//! bit. Loads, stores and gathers go through pointers, and the call into code compiled for AVX2
//! is made after checking the CPU has it: the module's `unsafe` blocks, each with its reason.

use std::arch::x86_64::{
    __m128i, __m256d, __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_add_pd, _mm256_and_si256,
    _mm256_castsi256_si128, _mm256_cmp_pd, _mm256_cmpeq_epi16, _mm256_cmpgt_epi16,
    _mm256_cvtepu16_epi32, _mm256_div_pd, _mm256_extracti128_si256, _mm256_i32gather_pd,
    _mm256_load_si256, _mm256_loadu_pd, _mm256_min_epu16, _mm256_movemask_pd, _mm256_mullo_epi16,
    _mm256_or_si256, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_pd, _mm256_setr_epi8,
    _mm256_setzero_pd, _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_srli_epi16,
    _mm256_store_si256, _mm256_storeu_pd, _mm256_sub_epi16, _CMP_LT_OQ,
};

use super::bitvector::{Bitvectors, Test, TreeLeaves, SLICE};
use super::ranks::{Ranks, BLOCK};

/// Rows scored together: one per 16-bit lane of a register.
const GROUP: usize = 16;
/// Most groups scored in one pass over the tests (each test's threshold and bits loaded once for
/// all of them): 128 rows, as the AVX-512 kernel's four groups of 32.
const PASS: usize = 8;
/// Fewest rows worth this kernel: a group costs the same however many of its lanes hold rows.
pub(super) const MIN_ROWS: usize = GROUP;
/// Most leaves a tree may have here: leaf numbers, and a slice's first leaf plus 15, fit 16 bits.
const MAX_LEAVES: u32 = 1 << 15;
/// Flipping a 16-bit value's top bit maps unsigned order onto signed order (`a > b` unsigned
/// exactly when `a ^ SIGN > b ^ SIGN` signed): ranks are kept flipped for `vpcmpgtw`.
const SIGN: u16 = 0x8000;

/// A 16-bit de Bruijn sequence B(2, 4): `(DE_BRUIJN << k) >> 12` differs for every `k` in 0..16.
const DE_BRUIJN: u16 = 0x09AF;
/// `TRAILING_ZEROS[(DE_BRUIJN << k) >> 12] == k`; entry 0 is 0 (for `k = 0`).
const TRAILING_ZEROS: [i8; 16] = trailing_zeros_table();

const fn trailing_zeros_table() -> [i8; 16] {
    let mut table = [0i8; 16];
    let mut k = 0;
    while k < 16 {
        table[(DE_BRUIJN.wrapping_shl(k) >> 12) as usize] = k as i8;
        k += 1;
    }
    table
}

/// One 16-bit value (a flipped rank, or a bitvector slice) of each of the 16 rows of a group.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Lanes([u16; GROUP]);

/// Whether this CPU can run the kernel: AVX2, and the scalar popcount (every CPU with AVX2 has
/// it).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt")
}

/// Why this kernel cannot score a forest's layout, if it cannot (the CPU aside).
pub(super) fn refuses(layout: &Bitvectors) -> Option<&'static str> {
    // The gathers read `leaf_values` at `first_leaf + i` for `i < leaves`: check here, in this
    // module, that every tree's leaves lie inside it rather than trust the builder, and that
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

/// P(fraud) of each row into `out` (`rows.len() == out.len()`), when the CPU has AVX2 and the
/// layout suits the kernel; returns `false`, having written nothing, when not.
pub(super) fn predict_batch<R: AsRef<[f64]>>(
    layout: &Bitvectors,
    rows: &[R],
    out: &mut [f64],
) -> bool {
    if !available() || refuses(layout).is_some() || rows.len() != out.len() {
        return false;
    }
    // SAFETY: the CPU has AVX2 and POPCNT (checked above), the features it is compiled for.
    unsafe { predict_batch_avx2(layout, rows, out) };
    true
}

#[target_feature(enable = "avx2,popcnt")]
fn predict_batch_avx2<R: AsRef<[f64]>>(layout: &Bitvectors, rows: &[R], out: &mut [f64]) {
    // A pass over as few groups as the rows need: a batch's last rows, or a small batch, do not
    // pay for eight groups.
    let (mut one, mut two, mut four, mut eight) = (None, None, None, None);
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
            3 | 4 => score_pass(
                layout,
                rows,
                out,
                four.get_or_insert_with(|| Scratch::<4>::new(layout)),
            ),
            _ => score_pass(
                layout,
                rows,
                out,
                eight.get_or_insert_with(|| Scratch::<PASS>::new(layout)),
            ),
        }
    }
}

/// What a pass over `H` groups works in: per feature, each group's rows' flipped ranks; per
/// slice, each group's rows' bits.
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
#[target_feature(enable = "avx2,popcnt")]
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
    // Each slice: all ones, less the bits of its tests that fail, lane by lane. With several
    // groups, each test's updates are independent of each other: only each group's running AND
    // waits on the one before.
    for (s, slice) in scratch.bits.iter_mut().enumerate() {
        let tests = &layout.tests[layout.slice_tests[s]..layout.slice_tests[s + 1]];
        let mut kept = [_mm256_set1_epi32(-1); H];
        for test in tests {
            apply(&mut kept, test, &scratch.ranks);
        }
        for (slice, kept) in slice.iter_mut().zip(kept) {
            store(slice, kept);
        }
    }
    let trees = _mm256_set1_pd(layout.trees.len() as f64);
    for (h, out) in out.chunks_mut(GROUP).enumerate() {
        let mut sums = [_mm256_setzero_pd(); GROUP / 4];
        for tree in &layout.trees {
            let values = leaf_values(layout, tree, &scratch.bits, h);
            for (sum, value) in sums.iter_mut().zip(values) {
                *sum = _mm256_add_pd(*sum, value);
            }
        }
        let mut lanes = [[0.0; 4]; GROUP / 4];
        for (lanes, sum) in lanes.iter_mut().zip(sums) {
            store_pd(lanes, _mm256_div_pd(sum, trees));
        }
        out.copy_from_slice(&lanes.as_flattened()[..out.len()]);
    }
}

/// The flipped ranks (`rank ^ SIGN`) of `rows[l][feature]` for every feature into
/// `ranks[feature][h].0[l]`, for up to [`GROUP`] rows (lanes past `rows.len()` repeat the first
/// row): `1 + #{thresholds < x}`, found through the feature's [`super::ranks::Levels`], and the
/// feature's NaN rank for NaN. Each row's search is a chain of dependent steps; the rows' chains
/// are stepped side by side, so that they overlap.
#[target_feature(enable = "avx2,popcnt")]
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
                let x = _mm256_set1_pd(x);
                // `t < x`, false when either is NaN: the comparison the count is defined by.
                let low = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(load_half(block, 0), x));
                let high = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(load_half(block, 4), x));
                *c = BLOCK * *c + (low | high << 4).count_ones() as usize;
            }
        }
        let nan = layout.nan_rank(feature);
        for ((rank, c), x) in out.0.iter_mut().zip(below).zip(xs) {
            // At most MAX_THRESHOLDS + 1: fits.
            *rank = (if x.is_nan() { nan } else { 1 + c as u16 }) ^ SIGN;
        }
    }
}

/// The ranks [`value_ranks`] gives a group of rows (at most [`GROUP`]), per feature, unflipped;
/// `None` when the CPU cannot run it. For tests.
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
    Some(
        ranks
            .into_iter()
            .map(|[lanes]| lanes.0.map(|rank| rank ^ SIGN))
            .collect(),
    )
}

/// Each group's `kept`, less the bits `test` clears in the lanes whose row fails it (`rank(x) >
/// rank(t)`, which is `!(x <= t)`, NaN included: see [`super::ranks`]). What is computed is the
/// lanes whose row passes, `rank(t) + 1 > rank(x)` (compared flipped; `rank(t) + 1` fits 16 bits
/// as ranks of thresholds are at most [`super::ranks::MAX_THRESHOLDS`]): `kept & (passes | keep)`
/// is one compare (its load folded in), one OR and one AND a register.
#[inline]
#[target_feature(enable = "avx2")]
fn apply<const H: usize>(kept: &mut [__m256i; H], test: &Test, ranks: &[[Lanes; H]]) {
    let x = &ranks[test.feature as usize];
    // Both halves: the threshold's rank plus one, flipped.
    let above = (test.rank + 0x1_0001) ^ (u32::from(SIGN) * 0x1_0001);
    let (above, keep) = (
        _mm256_set1_epi32(above as i32),
        _mm256_set1_epi32(test.keep as i32),
    );
    for (kept, x) in kept.iter_mut().zip(x) {
        let passes = _mm256_cmpgt_epi16(above, load(x));
        *kept = _mm256_and_si256(*kept, _mm256_or_si256(passes, keep));
    }
}

/// Trailing zeros of each nonzero 16-bit lane (0 for 0): the lowest set bit times
/// [`DE_BRUIJN`], whose top four bits index [`TRAILING_ZEROS`].
#[inline]
#[target_feature(enable = "avx2")]
fn trailing_zeros(w: __m256i) -> __m256i {
    let lowest = _mm256_and_si256(w, _mm256_sub_epi16(_mm256_setzero_si256(), w));
    let index = _mm256_srli_epi16::<12>(_mm256_mullo_epi16(
        lowest,
        _mm256_set1_epi16(DE_BRUIJN as i16),
    ));
    let t = TRAILING_ZEROS;
    // Each lane's index is its low byte (the high byte is 0, whose entry is 0): one table in
    // each 128-bit half, as `vpshufb` looks up within halves.
    let table = _mm256_setr_epi8(
        t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13],
        t[14], t[15], t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11],
        t[12], t[13], t[14], t[15],
    );
    _mm256_shuffle_epi8(table, index)
}

/// The values of `tree`'s leaf for the group's rows (four a register, in row order): each row's
/// lowest standing leaf.
#[inline]
#[target_feature(enable = "avx2")]
fn leaf_values<const H: usize>(
    layout: &Bitvectors,
    tree: &TreeLeaves,
    bits: &[[Lanes; H]],
    h: usize,
) -> [__m256d; GROUP / 4] {
    let first = tree.first_slice as usize;
    let last = _mm256_set1_epi16((tree.leaves - 1) as i16);
    let leaf = if tree.slices == 1 {
        // Most trees' leaves fit one slice, whose lowest set bit is the leaf.
        trailing_zeros(load(&bits[first][h]))
    } else {
        // The lowest set bit over the tree's slices: a slice with none set counts as 0xFFFF, so
        // the least (unsigned) is the first slice's that has one.
        let mut leaf = _mm256_set1_epi32(-1);
        for s in 0..tree.slices as usize {
            let slice = load(&bits[first + s][h]);
            let empty = _mm256_cmpeq_epi16(slice, _mm256_setzero_si256());
            let at = _mm256_add_epi16(
                trailing_zeros(slice),
                _mm256_set1_epi16((s as u32 * SLICE) as i16),
            );
            leaf = _mm256_min_epu16(leaf, _mm256_or_si256(at, empty));
        }
        leaf
    };
    // Clamped (unsigned) to the tree's last leaf, so the gathers stay inside `leaf_values`
    // whatever the bits held. A walk's leaf always stands, so this never changes a result.
    let leaf = _mm256_min_epu16(leaf, last);
    let first_leaf = _mm256_set1_epi32(tree.first_leaf as i32);
    let low = _mm256_add_epi32(
        _mm256_cvtepu16_epi32(_mm256_castsi256_si128(leaf)),
        first_leaf,
    );
    let high = _mm256_add_epi32(
        _mm256_cvtepu16_epi32(_mm256_extracti128_si256::<1>(leaf)),
        first_leaf,
    );
    let base = layout.leaf_values.as_ptr();
    let gather = |at: __m128i| {
        // SAFETY: every lane of `low` and `high` is `first_leaf + i` with `i <= leaves - 1`
        // (clamped above), inside `leaf_values` and below i32::MAX (both checked for every tree
        // by `refuses`, which `predict_batch` calls); the scale 8 is the size of an f64.
        unsafe { _mm256_i32gather_pd::<8>(base, at) }
    };
    [
        gather(_mm256_castsi256_si128(low)),
        gather(_mm256_extracti128_si256::<1>(low)),
        gather(_mm256_castsi256_si128(high)),
        gather(_mm256_extracti128_si256::<1>(high)),
    ]
}

#[inline]
#[target_feature(enable = "avx2")]
fn load(lanes: &Lanes) -> __m256i {
    // SAFETY: a `Lanes` is 32 readable bytes aligned to 32.
    unsafe { _mm256_load_si256(std::ptr::from_ref(lanes).cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store(lanes: &mut Lanes, value: __m256i) {
    // SAFETY: a `Lanes` is 32 writable bytes aligned to 32.
    unsafe { _mm256_store_si256(std::ptr::from_mut(lanes).cast(), value) }
}

/// Four of a block's thresholds, from `at` (0 or 4).
#[inline]
#[target_feature(enable = "avx2")]
fn load_half(block: &[f64; BLOCK], at: usize) -> __m256d {
    let half: &[f64; 4] = block[at..][..4].try_into().expect("half a block");
    // SAFETY: four readable f64 (unaligned load).
    unsafe { _mm256_loadu_pd(half.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store_pd(x: &mut [f64; 4], value: __m256d) {
    // SAFETY: four writable f64 (unaligned store).
    unsafe { _mm256_storeu_pd(x.as_mut_ptr(), value) }
}

#[cfg(test)]
mod tests {
    use super::{DE_BRUIJN, TRAILING_ZEROS};

    /// The table gives every power of two its exponent, through the same arithmetic as the
    /// kernel's lanes (16-bit product, top four bits).
    #[test]
    fn de_bruijn_table_counts_trailing_zeros() {
        let mut seen = [false; 16];
        for k in 0..16u32 {
            let index = (DE_BRUIJN.wrapping_mul(1 << k) >> 12) as usize;
            assert!(!seen[index], "index {index} twice");
            seen[index] = true;
            assert_eq!(TRAILING_ZEROS[index], k as i8);
        }
        assert_eq!(TRAILING_ZEROS[0], 0, "a lane's high byte indexes entry 0");
    }
}
