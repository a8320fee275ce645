//! Weighted figures of the fraud model on labelled rows, shared by `train` and `evaluate`:
//! confusion counts, the PR/ROC curve and its areas, threshold choice, 95 % intervals, the
//! quality table, calibration (reliability), and the Handbook's Card Precision@k. Every figure
//! but the last takes per-row weights, so rows sampled unnaturally (legit rows kept 1 in 256.2)
//! still give numbers at the natural fraud rate; a row of weight k counts exactly as k copies of
//! it.
//!
//! Weights must be finite and non-negative (a row of weight 0 counts as absent); probabilities must
//! not be NaN.

mod card_precision;
mod confusion;
mod curve;
mod interval;
mod quality;
mod reliability;

pub use card_precision::{
    card_precision, CardPrecision, DayPrecision, EntityRow, KnownCompromised,
};
pub use confusion::{confusion_at, Confusion};
pub use curve::{
    average_precision, average_precision_of, curve, roc_auc, roc_auc_of, threshold_for_precision,
    CurvePoint,
};
pub use interval::{wilson, Interval, Intervals};
pub use quality::{weight, OperatingPoint, Quality};
pub use reliability::{Reliability, ReliabilityBin};

/// One scored, labelled row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The model's P(fraud) for the row.
    pub probability: f64,
    /// The row's label.
    pub is_fraud: bool,
    /// How many natural rows this row stands for (1 for frauds, 256.2 for down-sampled legit rows).
    pub weight: f64,
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Rows the metrics' tests share.

    use super::Scored;

    /// A scored row, for tests.
    pub(crate) fn row(probability: f64, is_fraud: bool, weight: f64) -> Scored {
        Scored {
            probability,
            is_fraud,
            weight,
        }
    }

    pub(crate) fn unweighted(rows: &[(f64, bool)]) -> Vec<Scored> {
        rows.iter().map(|&(p, fraud)| row(p, fraud, 1.0)).collect()
    }

    pub(crate) fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-12,
            "{actual} is not {expected}"
        );
    }

    /// Frauds at 0.9, 0.7, 0.4; legit at 0.8, 0.6, 0.5.
    pub(crate) fn interleaved() -> Vec<Scored> {
        unweighted(&[
            (0.9, true),
            (0.8, false),
            (0.7, true),
            (0.6, false),
            (0.5, false),
            (0.4, true),
        ])
    }

    /// One in five of the 0.2 bin is fraud, and the rest say 0: calibrated.
    pub(crate) fn calibrated() -> [Scored; 3] {
        [
            row(0.2, true, 1.0),
            row(0.2, false, 4.0),
            row(0.0, false, 10.0),
        ]
    }

    /// Saying 0.9 where one in five is fraud: off by 0.7 on a third of the weight.
    pub(crate) fn overconfident() -> [Scored; 3] {
        [
            row(0.9, true, 1.0),
            row(0.9, false, 4.0),
            row(0.0, false, 10.0),
        ]
    }
}
