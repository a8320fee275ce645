//! Quality figures of a model on labelled rows, and how they are printed: weighted by the legit
//! weight so they hold at the natural fraud rate.

use std::fmt::Write as _;

use aegis_core::Thresholds;
use serde::Serialize;

use crate::evaluation::{self, Confusion, Scored};
use crate::interval::Intervals;

/// Precision, recall and F1 when everything scoring at least `threshold` is flagged.
#[derive(Clone, Debug, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub false_positive_rate: f64,
    /// 95 % intervals of precision, recall and false-positive rate (see [`crate::interval`]).
    pub intervals: Intervals,
    /// Weighted counts.
    pub confusion: Confusion,
}

impl OperatingPoint {
    pub fn at(rows: &[Scored], threshold: f64) -> Self {
        let confusion = evaluation::confusion_at(rows, threshold);
        OperatingPoint {
            threshold,
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            false_positive_rate: confusion.false_positive_rate(),
            intervals: Intervals::of(rows, &confusion),
            confusion,
        }
    }
}

/// How good a model is on a set of rows.
#[derive(Clone, Debug, Serialize)]
pub struct Quality {
    pub rows: usize,
    pub frauds: usize,
    /// Weighted area under the precision–recall curve (average precision).
    pub average_precision: f64,
    /// Weighted area under the ROC curve.
    pub roc_auc: f64,
    /// The smallest and largest weight of a legit row: equal unless overlapping files sampled
    /// the rows' steps at different rates.
    pub legit_weights: [f64; 2],
    /// Flagged = BLOCK.
    pub block: OperatingPoint,
    /// Flagged = REVIEW or BLOCK.
    pub review: OperatingPoint,
}

impl Quality {
    pub fn measure(rows: &[Scored], thresholds: &Thresholds) -> Self {
        let curve = evaluation::curve(rows); // one sort for both areas
        Quality {
            rows: rows.len(),
            frauds: rows.iter().filter(|r| r.is_fraud).count(),
            legit_weights: rows
                .iter()
                .filter(|r| !r.is_fraud)
                .fold([f64::INFINITY, f64::NEG_INFINITY], |[low, high], r| {
                    [low.min(r.weight), high.max(r.weight)]
                }),
            average_precision: evaluation::average_precision_of(&curve),
            roc_auc: evaluation::roc_auc_of(&curve),
            block: OperatingPoint::at(rows, thresholds.block),
            review: OperatingPoint::at(rows, thresholds.review),
        }
    }

    /// A plain-text table of these figures.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let [low, high] = self.legit_weights;
        let weights = if low == high || !low.is_finite() {
            format!("x{low}")
        } else {
            format!("x{low:.1}–x{high:.1} by their files' sampling")
        };
        let _ = writeln!(
            out,
            "{} rows, {} frauds; legit rows weighted {weights}",
            self.rows, self.frauds
        );
        let _ = writeln!(
            out,
            "average precision (AUPRC) {:.4}   ROC AUC {:.4}",
            self.average_precision, self.roc_auc
        );
        let _ = writeln!(
            out,
            "{:<20} {:>10} {:>10} {:>8} {:>8} {:>12} {:>12} {:>14} {:>10}",
            "flagged when", "threshold", "precision", "recall", "F1", "TP", "FP", "TN", "FN"
        );
        for (name, p) in [("BLOCK", &self.block), ("REVIEW or BLOCK", &self.review)] {
            let c = &p.confusion;
            let _ = writeln!(
                out,
                "{:<20} {:>10.4} {:>10.4} {:>8.4} {:>8.4} {:>12.1} {:>12.1} {:>14.1} {:>10.1}",
                name,
                p.threshold,
                p.precision,
                p.recall,
                p.f1,
                c.true_positive,
                c.false_positive,
                c.true_negative,
                c.false_negative
            );
            let i = &p.intervals;
            let _ = writeln!(
                out,
                "{:<20} 95 % intervals: precision {:.4}–{:.4}, recall {:.4}–{:.4}, \
                 false-positive rate {:.2e}–{:.2e}",
                "",
                i.precision.low,
                i.precision.high,
                i.recall.low,
                i.recall.high,
                i.false_positive_rate.low,
                i.false_positive_rate.high
            );
        }
        out
    }
}

/// Each row's weight in metrics: legit rows stand for `legit_weight` real ones.
pub fn weight(is_fraud: bool, legit_weight: f64) -> f64 {
    if is_fraud {
        1.0
    } else {
        legit_weight
    }
}

/// Bins of the reliability diagram and expected calibration error.
const RELIABILITY_BINS: usize = 10;

/// How well probabilities match observed fraud rates, at the natural rate (weighted).
#[derive(Clone, Debug, Serialize)]
pub struct Reliability {
    /// Σ over 10 equal-width probability bins of (bin weight / total weight) × |mean predicted −
    /// observed fraud rate|.
    pub expected_calibration_error: f64,
    /// Weighted mean of (probability − label)².
    pub brier_score: f64,
    /// The bins, for the reliability diagram (empty bins left out).
    pub bins: Vec<ReliabilityBin>,
}

/// One bin of the reliability diagram.
#[derive(Clone, Debug, Serialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    /// Natural rows in the bin (weighted).
    pub weight: f64,
    pub mean_probability: f64,
    pub fraud_rate: f64,
}

impl Reliability {
    pub fn measure(rows: &[Scored]) -> Self {
        let mut sums = [(0.0, 0.0, 0.0); RELIABILITY_BINS]; // weight, Σ w·p, Σ w·y
        let (mut total, mut squared_error) = (0.0, 0.0);
        for r in rows {
            let label = f64::from(u8::from(r.is_fraud));
            let bin =
                ((r.probability * RELIABILITY_BINS as f64) as usize).min(RELIABILITY_BINS - 1);
            sums[bin].0 += r.weight;
            sums[bin].1 += r.weight * r.probability;
            sums[bin].2 += r.weight * label;
            total += r.weight;
            squared_error += r.weight * (r.probability - label).powi(2);
        }
        let bins: Vec<ReliabilityBin> = sums
            .iter()
            .enumerate()
            .filter(|(_, (w, _, _))| *w > 0.0)
            .map(|(i, &(w, p, y))| ReliabilityBin {
                lower: i as f64 / RELIABILITY_BINS as f64,
                upper: (i + 1) as f64 / RELIABILITY_BINS as f64,
                weight: w,
                mean_probability: p / w,
                fraud_rate: y / w,
            })
            .collect();
        let expected_calibration_error = if total > 0.0 {
            bins.iter()
                .map(|b| b.weight / total * (b.mean_probability - b.fraud_rate).abs())
                .sum()
        } else {
            0.0
        };
        Reliability {
            expected_calibration_error,
            brier_score: if total > 0.0 {
                squared_error / total
            } else {
                0.0
            },
            bins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::tests::row;

    #[test]
    fn a_calibrated_set_has_no_calibration_error_and_an_overconfident_one_has() {
        // In the 0.2 bin one in five is fraud: calibrated.
        let calibrated = [
            row(0.2, true, 1.0),
            row(0.2, false, 4.0),
            row(0.0, false, 10.0),
        ];
        let r = Reliability::measure(&calibrated);
        assert!(r.expected_calibration_error.abs() < 1e-12, "{r:?}");
        assert!((r.brier_score - (0.64 + 4.0 * 0.04) / 15.0).abs() < 1e-12);
        // Saying 0.9 where one in five is fraud: off by 0.7 on a third of the weight.
        let overconfident = [
            row(0.9, true, 1.0),
            row(0.9, false, 4.0),
            row(0.0, false, 10.0),
        ];
        let r = Reliability::measure(&overconfident);
        assert!(
            (r.expected_calibration_error - 0.7 / 3.0).abs() < 1e-12,
            "{r:?}"
        );
        assert_eq!(r.bins.len(), 2);
    }
}
