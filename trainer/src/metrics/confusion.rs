//! Weighted confusion counts at one threshold, and the rates read from them.

use super::Scored;

/// Weighted confusion counts at one threshold; "positive" means flagged as fraud.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq)]
pub struct Confusion {
    /// Weight of frauds flagged.
    pub true_positive: f64,
    /// Weight of legit rows flagged.
    pub false_positive: f64,
    /// Weight of legit rows passed.
    pub true_negative: f64,
    /// Weight of frauds passed.
    pub false_negative: f64,
}

impl Confusion {
    /// Share of flagged weight that is fraud. An empty selection flags nothing wrongly, so its
    /// precision is 1.0 (scikit-learn's `zero_division=1.0`, and the PR curve's recall-0 end).
    pub fn precision(&self) -> f64 {
        let flagged = self.true_positive + self.false_positive;
        ratio_or(self.true_positive, flagged, 1.0)
    }

    /// Share of fraud weight that is flagged; 0.0 when there is no fraud.
    pub fn recall(&self) -> f64 {
        let frauds = self.true_positive + self.false_negative;
        ratio_or(self.true_positive, frauds, 0.0)
    }

    /// Share of legit weight that is flagged; 0.0 when there is no legit row.
    pub fn false_positive_rate(&self) -> f64 {
        let legit = self.false_positive + self.true_negative;
        ratio_or(self.false_positive, legit, 0.0)
    }

    /// Harmonic mean of precision and recall; 0.0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        ratio_or(2.0 * precision * recall, precision + recall, 0.0)
    }
}

/// Weighted confusion counts when a row is flagged iff `probability >= threshold`. O(n), no sort.
pub fn confusion_at(rows: &[Scored], threshold: f64) -> Confusion {
    let mut confusion = Confusion::default();
    for row in rows {
        let cell = match (row.probability >= threshold, row.is_fraud) {
            (true, true) => &mut confusion.true_positive,
            (true, false) => &mut confusion.false_positive,
            (false, false) => &mut confusion.true_negative,
            (false, true) => &mut confusion.false_negative,
        };
        *cell += row.weight;
    }
    confusion
}

/// `numerator / denominator`, or `empty` when the denominator is 0 (weights are non-negative).
fn ratio_or(numerator: f64, denominator: f64, empty: f64) -> f64 {
    if denominator == 0.0 {
        empty
    } else {
        numerator / denominator
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::{assert_close, interleaved, unweighted};

    #[test]
    fn confusion_at_flags_probability_at_or_above_threshold() {
        let confusion = confusion_at(&interleaved(), 0.7);
        let expected = Confusion {
            true_positive: 2.0,
            false_positive: 1.0,
            true_negative: 2.0,
            false_negative: 1.0,
        };
        assert_eq!(confusion, expected);
        assert_close(confusion.precision(), 2.0 / 3.0);
        assert_close(confusion.recall(), 2.0 / 3.0);
        assert_close(confusion.f1(), 2.0 / 3.0);
        assert_close(confusion.false_positive_rate(), 1.0 / 3.0);
    }

    #[test]
    fn empty_selection_has_precision_one_and_no_recall() {
        let confusion = confusion_at(&interleaved(), 0.99);
        assert_eq!(confusion.precision(), 1.0);
        assert_eq!(confusion.recall(), 0.0);
        assert_eq!(confusion.f1(), 0.0);
        assert_eq!(confusion.false_positive_rate(), 0.0);
    }

    #[test]
    fn no_frauds_means_no_recall() {
        let confusion = confusion_at(&unweighted(&[(0.9, false), (0.1, false)]), 0.5);
        assert_eq!(confusion.recall(), 0.0);
        assert_eq!(confusion.precision(), 0.0);
        assert_eq!(confusion.f1(), 0.0);
        assert_eq!(Confusion::default().f1(), 0.0);
    }
}
