//! How good a model is on labelled rows — areas, and the figures at BLOCK and REVIEW with their
//! intervals — and the table that prints them; weighted so they hold at the natural fraud rate.

use std::fmt::Write as _;

use aegis_core::Thresholds;
use serde::Serialize;

use super::{average_precision_of, confusion_at, curve, roc_auc_of, Confusion, Intervals, Scored};

/// Precision, recall and F1 when everything scoring at least `threshold` is flagged.
#[derive(Clone, Debug, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub false_positive_rate: f64,
    /// 95 % intervals of precision, recall and false-positive rate (see [`Intervals`]).
    pub intervals: Intervals,
    /// Weighted counts.
    pub confusion: Confusion,
}

impl OperatingPoint {
    pub fn at(rows: &[Scored], threshold: f64) -> Self {
        let confusion = confusion_at(rows, threshold);
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
        let curve = curve(rows); // one sort for both areas
        Quality {
            rows: rows.len(),
            frauds: rows.iter().filter(|r| r.is_fraud).count(),
            legit_weights: rows
                .iter()
                .filter(|r| !r.is_fraud)
                .fold([f64::INFINITY, f64::NEG_INFINITY], |[low, high], r| {
                    [low.min(r.weight), high.max(r.weight)]
                }),
            average_precision: average_precision_of(&curve),
            roc_auc: roc_auc_of(&curve),
            block: OperatingPoint::at(rows, thresholds.block),
            review: OperatingPoint::at(rows, thresholds.review),
        }
    }

    /// [`Quality::measure`], with the areas under the curves taken on `ranking`: the same rows
    /// scored by the forest's raw score. Calibration is monotone, so the raw score orders rows as
    /// the probability does — without the ties that isotonic calibration's flat steps make,
    /// which would otherwise be broken arbitrarily.
    pub fn measure_ranked(rows: &[Scored], ranking: &[Scored], thresholds: &Thresholds) -> Self {
        let curve = curve(ranking);
        Quality {
            average_precision: average_precision_of(&curve),
            roc_auc: roc_auc_of(&curve),
            ..Quality::measure(rows, thresholds)
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
