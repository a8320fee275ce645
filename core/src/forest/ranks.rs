//! Split thresholds as 16-bit ranks, so that the vectorised kernel compares small integers — 32
//! rows in one AVX-512 register — instead of eight f64 a register.
//!
//! Per feature, the forest's distinct split thresholds `T[0] < T[1] < … < T[n-1]` (NaN left out,
//! −0 and +0 one value). A threshold `t` gets the rank `1 + i` where `T[i] == t`, and 0 when `t`
//! is NaN; a row's value `x` gets `1 + #{j : T[j] < x}`, and `n + 1` when `x` is NaN. Then
//!
//! > the reference walk goes right (`!(x <= t)`) exactly when `rank(x) > rank(t)`.
//!
//! Proof, case by case:
//! - `t` NaN: `x <= NaN` is false for every `x`, so the walk goes right; and `rank(t) = 0 < 1 <=
//!   rank(x)`.
//! - `x` NaN, `t` not: `NaN <= t` is false; and `rank(x) = n + 1 > 1 + i = rank(t)` as `i < n`.
//! - neither NaN: floats without NaN are totally ordered by `<` (−0 and +0 equal, as in `T`), so
//!   `x <= t` is `!(t < x)`. `T` strictly increases, so `{j : T[j] < x}` is a prefix `0..c` of
//!   its indices, and `rank(x) = 1 + c`. `t == T[i]` compares exactly as `T[i]` does, so the walk
//!   goes right ⇔ `T[i] < x` ⇔ `i` is in the prefix ⇔ `i < c` ⇔ `1 + i < 1 + c` ⇔
//!   `rank(t) < rank(x)`. ∎
//!
//! Ranks fit 16 bits when every feature has at most [`MAX_THRESHOLDS`] distinct thresholds (then
//! `n + 1 <= u16::MAX`); a forest with more is not ranked, and scores through the reference walk.
//!
//! A value's rank is searched in [`Levels`]: `T` cut into blocks of [`BLOCK`], above it the last
//! threshold of each full block, and so on up to one block — a static B-tree (Algorithmica's
//! "S-tree") whose every step counts, in one vector compare, how many of a block's thresholds lie
//! below `x`. The count over `T` is the same as the binary search's: see [`Levels`].

/// Most distinct thresholds a feature may have for its ranks to fit 16 bits (`n + 1` is the
/// largest rank).
pub(super) const MAX_THRESHOLDS: usize = u16::MAX as usize - 1;

/// Thresholds a search step compares a value with at once: one AVX-512 register of f64.
pub(super) const BLOCK: usize = 8;

/// Per feature, the sorted distinct thresholds of the forest's tests on it.
#[derive(Clone, Debug, Default)]
pub(super) struct Ranks {
    thresholds: Vec<Vec<f64>>,
    /// Per feature, its thresholds laid out for the blockwise search.
    levels: Vec<Levels>,
}

/// One feature's sorted thresholds `T` as levels of blocks, top first, for counting
/// `#{j : T[j] < x}` one block per level.
///
/// The bottom level is `T`; each level above holds the last element of every *full* block of the
/// one below; the top has fewer than [`BLOCK`] elements. Every level is padded with NaN to one
/// block more than its full blocks. The count is `c = 0`, then at each level from the top
/// `c = BLOCK * c + #{t in block c : t < x}`.
///
/// Why `c` ends as `#{j : T[j] < x}` (x not NaN; a NaN value gets its rank apart): by induction
/// from the top, `c` counts the elements of its level below `x`. The top is one block. At a level
/// `A` under `P`, let `b = #{P < x}`. `A` is sorted, so every full block whose last element is
/// below `x` is wholly below it, and those are blocks `0..b`: `BLOCK * b` elements. If block `b`
/// is full, its last element `P[b]` is not below `x`, nor is anything after it; if it is not full,
/// nothing comes after it. So `#{A < x} = BLOCK * b + #{t in block b : t < x}`, and padding NaN is
/// never below anything. Block `b` exists: `b` is at most the number of full blocks, and there is
/// one block more.
#[derive(Clone, Debug, Default)]
pub(super) struct Levels(Vec<Vec<f64>>);

impl Levels {
    fn build(thresholds: &[f64]) -> Levels {
        let mut levels = Vec::new();
        let mut level = thresholds.to_vec();
        loop {
            let above: Vec<f64> = level.chunks_exact(BLOCK).map(|b| b[BLOCK - 1]).collect();
            level.resize((level.len() / BLOCK + 1) * BLOCK, f64::NAN);
            levels.push(level);
            if above.is_empty() {
                break;
            }
            level = above;
        }
        levels.reverse();
        Levels(levels)
    }

    /// The levels, top first; each a whole number of blocks.
    pub(super) fn top_down(&self) -> &[Vec<f64>] {
        &self.0
    }

    /// `#{j : T[j] < x}` one block per level, in scalar code: what the vectorised search does, for
    /// tests to hold against the binary search.
    #[cfg(test)]
    pub(super) fn count_below(&self, x: f64) -> usize {
        self.0.iter().fold(0, |c, level| {
            BLOCK * c
                + level[BLOCK * c..][..BLOCK]
                    .iter()
                    .filter(|&&t| t < x)
                    .count()
        })
    }
}

impl Ranks {
    /// Ranks for the given tests (feature, threshold); `None` when a feature has more than
    /// [`MAX_THRESHOLDS`] distinct thresholds.
    pub(super) fn build(
        n_features: usize,
        tests: impl IntoIterator<Item = (u32, f64)>,
    ) -> Option<Ranks> {
        let mut thresholds = vec![Vec::new(); n_features];
        for (feature, t) in tests {
            if !t.is_nan() {
                // −0 and +0 compare equal: keep one of them (+0).
                thresholds[feature as usize].push(if t == 0.0 { 0.0 } else { t });
            }
        }
        for ts in &mut thresholds {
            ts.sort_by(f64::total_cmp);
            ts.dedup_by(|a, b| a == b);
            if ts.len() > MAX_THRESHOLDS {
                return None;
            }
        }
        let levels = thresholds.iter().map(|ts| Levels::build(ts)).collect();
        Some(Ranks { thresholds, levels })
    }

    /// Features ranked (one more than the largest feature tested, or as built).
    pub(super) fn n_features(&self) -> usize {
        self.thresholds.len()
    }

    /// The rank of a test's threshold on `feature`: 0 for NaN, else `1 + ` its index.
    ///
    /// # Panics
    /// If `t` is not one of the thresholds the ranks were built from (a bug in the caller).
    pub(super) fn threshold_rank(&self, feature: u32, t: f64) -> u16 {
        if t.is_nan() {
            return 0;
        }
        let ts = &self.thresholds[feature as usize];
        let i = ts.partition_point(|&u| u < t);
        assert!(
            ts.get(i) == Some(&t),
            "threshold {t} of feature {feature} not ranked"
        );
        // At most MAX_THRESHOLDS: fits.
        (1 + i) as u16
    }

    /// The rank of a row's value of `feature`: `1 + ` the thresholds below it, `n + 1` for NaN.
    /// (The vectorised kernel ranks a group of rows at once through [`Ranks::levels`]; this is
    /// what tests check that against.)
    #[cfg(test)]
    pub(super) fn value_rank(&self, feature: usize, x: f64) -> u16 {
        let ts = &self.thresholds[feature];
        if x.is_nan() {
            return (ts.len() + 1) as u16;
        }
        (1 + ts.partition_point(|&u| u < x)) as u16
    }

    /// The rank a NaN value of `feature` gets: `n + 1`.
    pub(super) fn nan_rank(&self, feature: usize) -> u16 {
        // At most MAX_THRESHOLDS + 1: fits.
        (self.thresholds[feature].len() + 1) as u16
    }

    /// `feature`'s thresholds laid out for the blockwise search.
    pub(super) fn levels(&self, feature: usize) -> &Levels {
        &self.levels[feature]
    }
}
