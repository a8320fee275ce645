//! Quality figures of a model on labelled rows, and how they are printed: weighted by the legit
//! weight so they hold at the natural fraud rate.

use std::fmt::Write as _;

use aegis_core::Thresholds;
use serde::Serialize;

use crate::evaluation::{self, Confusion, Scored};

/// Precision, recall and F1 when everything scoring at least `threshold` is flagged.
#[derive(Clone, Debug, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
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
    /// Flagged = BLOCK.
    pub block: OperatingPoint,
    /// Flagged = REVIEW or BLOCK.
    pub review: OperatingPoint,
}

impl Quality {
    pub fn measure(rows: &[Scored], thresholds: &Thresholds) -> Self {
        Quality {
            rows: rows.len(),
            frauds: rows.iter().filter(|r| r.is_fraud).count(),
            average_precision: evaluation::average_precision(rows),
            roc_auc: evaluation::roc_auc(rows),
            block: OperatingPoint::at(rows, thresholds.block),
            review: OperatingPoint::at(rows, thresholds.review),
        }
    }

    /// A plain-text table of these figures.
    pub fn table(&self, legit_weight: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} rows, {} frauds; legit rows weighted x{legit_weight}",
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
