//! 95 % confidence intervals for the figures at an operating point, honest for weighted rows.
//!
//! Recall and the false-positive rate are proportions within one class (frauds weigh 1, legit rows
//! what their files' sampling makes them stand for), so each gets a Wilson score interval on the
//! class's *effective* sample size, (Σw)² / Σw² (Kish's) — the number of rows actually seen when
//! they weigh alike, fewer when a few heavy rows dominate — not the natural rows they stand for. With 4,690 legit rows each weighing 256.2, "0 false positives" gives
//! a false-positive rate of at most about 8 in 10,000, not 0.
//!
//! Precision mixes both classes — TP / (TP + FP) with TP = recall × frauds and FP = FPR × legit —
//! so its interval is derived from theirs at their worst and best (lowest recall with highest FPR,
//! and the reverse): conservative, wider than a joint 95 %, and never narrower than the data allow.

use serde::Serialize;

use super::{Confusion, Scored};

/// The normal quantile of a two-sided 95 % interval.
const Z: f64 = 1.959_963_984_540_054;

/// A closed interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// 95 % intervals of the figures at one operating point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Intervals {
    pub precision: Interval,
    pub recall: Interval,
    pub false_positive_rate: Interval,
}

impl Intervals {
    /// The intervals for `confusion`, counted on `rows` (whose weights give the effective sizes).
    pub fn of(rows: &[Scored], confusion: &Confusion) -> Intervals {
        let (frauds, legit) = effective_sizes(rows);
        let recall = wilson(confusion.recall(), frauds);
        let false_positive_rate = wilson(confusion.false_positive_rate(), legit);
        let fraud_weight = confusion.true_positive + confusion.false_negative;
        let legit_weight = confusion.false_positive + confusion.true_negative;
        let precision_at = |recall: f64, fpr: f64| {
            let (tp, fp) = (recall * fraud_weight, fpr * legit_weight);
            if tp + fp > 0.0 {
                tp / (tp + fp)
            } else {
                1.0
            }
        };
        Intervals {
            precision: Interval {
                low: precision_at(recall.low, false_positive_rate.high),
                high: precision_at(recall.high, false_positive_rate.low),
            },
            recall,
            false_positive_rate,
        }
    }
}

/// The effective sample sizes (Σw)² / Σw² of the frauds and of the legit rows.
fn effective_sizes(rows: &[Scored]) -> (f64, f64) {
    let mut sums = [(0.0, 0.0); 2]; // [legit, fraud]: (Σw, Σw²)
    for r in rows {
        let class = &mut sums[usize::from(r.is_fraud)];
        class.0 += r.weight;
        class.1 += r.weight * r.weight;
    }
    let size = |(w, w2): (f64, f64)| if w2 > 0.0 { w * w / w2 } else { 0.0 };
    (size(sums[1]), size(sums[0]))
}

/// The Wilson score interval of a proportion `p` observed on `n` rows; [0, 1] when `n` is 0.
pub fn wilson(p: f64, n: f64) -> Interval {
    if n <= 0.0 {
        return Interval {
            low: 0.0,
            high: 1.0,
        };
    }
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At p = 0 (or 1) the bound is exactly 0 (or 1); rounding would leave a trace.
    Interval {
        low: if p <= 0.0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if p >= 1.0 {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::row;

    #[test]
    fn wilson_matches_the_textbook_and_bounds_zero_counts() {
        // 8 of 10: the Wilson 95 % interval is [0.490, 0.943].
        let i = wilson(0.8, 10.0);
        assert!(
            (i.low - 0.4902).abs() < 1e-3 && (i.high - 0.9433).abs() < 1e-3,
            "{i:?}"
        );
        // 0 of n: the upper bound is z² / (n + z²), about 3.84 / n.
        let i = wilson(0.0, 4_690.0);
        assert_eq!(i.low, 0.0);
        assert!((i.high - Z * Z / (4_690.0 + Z * Z)).abs() < 1e-12, "{i:?}");
    }

    #[test]
    fn no_false_positive_among_heavy_legit_rows_is_not_a_certain_precision() {
        // 100 frauds all flagged; 1,000 legit rows of weight 256.2, none flagged.
        let mut rows: Vec<Scored> = (0..100).map(|_| row(0.99, true, 1.0)).collect();
        rows.extend((0..1_000).map(|_| row(0.01, false, 256.2)));
        let confusion = crate::metrics::confusion_at(&rows, 0.5);
        assert_eq!(confusion.precision(), 1.0);
        let i = Intervals::of(&rows, &confusion);
        assert_eq!(i.false_positive_rate.low, 0.0);
        // Up to ~3.8 in 1,000 of 256,200 natural legit rows flagged: the precision could be far
        // below 1.
        assert!(i.false_positive_rate.high > 0.003, "{i:?}");
        assert!(i.precision.low < 0.2 && i.precision.high == 1.0, "{i:?}");
        assert!(i.recall.low > 0.95 && i.recall.high == 1.0, "{i:?}");
    }
}
