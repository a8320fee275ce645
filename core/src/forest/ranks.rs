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

/// Most distinct thresholds a feature may have for its ranks to fit 16 bits (`n + 1` is the
/// largest rank).
pub(super) const MAX_THRESHOLDS: usize = u16::MAX as usize - 1;

/// Per feature, the sorted distinct thresholds of the forest's tests on it.
#[derive(Clone, Debug, Default)]
pub(super) struct Ranks {
    thresholds: Vec<Vec<f64>>,
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
        Some(Ranks { thresholds })
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
    /// (The kernel ranks a group of rows at once, [`Ranks::value_ranks`]; this is what tests
    /// check that against.)
    #[cfg(test)]
    pub(super) fn value_rank(&self, feature: usize, x: f64) -> u16 {
        let ts = &self.thresholds[feature];
        if x.is_nan() {
            return (ts.len() + 1) as u16;
        }
        (1 + ts.partition_point(|&u| u < x)) as u16
    }

    /// The ranks of `rows[l][feature]` for every feature into `out[feature][l]`, for up to
    /// `L` rows (lanes past `rows.len()` repeat the first row). The binary searches of the rows
    /// run side by side — same steps for every row, no branch on the data — so their loads
    /// overlap. Equal, lane for lane, to `value_rank`.
    pub(super) fn value_ranks<R: AsRef<[f64]>, A: AsMut<[u16; L]>, const L: usize>(
        &self,
        rows: &[R],
        out: &mut [A],
    ) {
        let mut xs = [0.0f64; L];
        for (feature, (ts, out)) in self.thresholds.iter().zip(out.iter_mut()).enumerate() {
            let out = out.as_mut();
            for (l, x) in xs.iter_mut().enumerate() {
                *x = rows.get(l).unwrap_or(&rows[0]).as_ref()[feature];
            }
            let n = ts.len();
            if n == 0 {
                // No thresholds: every value, NaN too, has rank 1.
                out.fill(1);
                continue;
            }
            // Branch-free lower bound: `base` ends at the last index whose threshold is < x, or
            // 0; then one more compare says whether T[base] itself is below.
            let mut base = [0usize; L];
            let mut size = n;
            while size > 1 {
                let half = size / 2;
                for (b, &x) in base.iter_mut().zip(&xs) {
                    let mid = *b + half;
                    *b = std::hint::select_unpredictable(ts[mid] < x, mid, *b);
                }
                size -= half;
            }
            for ((rank, b), &x) in out.iter_mut().zip(base).zip(&xs) {
                let below = b + usize::from(ts[b] < x);
                // NaN compares below nothing (below == 0): give it n + 1.
                *rank = if x.is_nan() { n + 1 } else { 1 + below } as u16;
            }
        }
    }
}
