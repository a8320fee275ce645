//! The PR and ROC curve, their areas (ROC AUC, average precision) and the threshold for a
//! precision target. They follow scikit-learn's definitions (ties share one threshold) and cost one
//! sort and one sweep: O(n log n).

use super::{Confusion, Scored};

/// One operating point of the model: what flagging `probability >= threshold` gives.
#[derive(Clone, Copy, Debug, serde::Serialize, PartialEq)]
pub struct CurvePoint {
    /// The threshold: one of the distinct probabilities seen.
    pub threshold: f64,
    /// Weighted precision at the threshold (see [`Confusion::precision`]).
    pub precision: f64,
    /// Weighted recall (true positive rate) at the threshold.
    pub recall: f64,
    /// Weighted false positive rate at the threshold.
    pub false_positive_rate: f64,
}

/// The PR and ROC curve together: one point per distinct probability, thresholds descending, so
/// recall and false positive rate rise along it. Empty for no rows.
pub fn curve(rows: &[Scored]) -> Vec<CurvePoint> {
    let steps = sweep(rows);
    let totals = Totals::of(&steps);
    steps.iter().map(|step| totals.point(step)).collect()
}

/// Weighted area under the ROC curve: the trapezoid rule over the distinct thresholds from (0, 0),
/// as scikit-learn's `roc_auc_score`, so tied scores count half. NaN when either class has no
/// weight (scikit-learn also returns NaN there, with a warning).
pub fn roc_auc(rows: &[Scored]) -> f64 {
    roc_auc_of(&curve(rows))
}

/// [`roc_auc`] of rows whose [`curve`] is already at hand.
pub fn roc_auc_of(points: &[CurvePoint]) -> f64 {
    let classes_present = points
        .last()
        .is_some_and(|last| last.recall > 0.0 && last.false_positive_rate > 0.0);
    if !classes_present {
        return f64::NAN;
    }
    let mut previous = (0.0, 0.0);
    let mut area = 0.0;
    for point in points {
        let (fpr, tpr) = (point.false_positive_rate, point.recall);
        area += (fpr - previous.0) * (tpr + previous.1) / 2.0;
        previous = (fpr, tpr);
    }
    area
}

/// Weighted average precision as scikit-learn defines it: Σ (Rₙ − Rₙ₋₁)·Pₙ over the distinct
/// thresholds, descending, from R₀ = 0 — a step-wise area, never interpolated. 0.0 when there is
/// no fraud weight (as scikit-learn, which warns there).
pub fn average_precision(rows: &[Scored]) -> f64 {
    average_precision_of(&curve(rows))
}

/// [`average_precision`] of rows whose [`curve`] is already at hand.
pub fn average_precision_of(points: &[CurvePoint]) -> f64 {
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    for point in points {
        area += (point.recall - previous_recall) * point.precision;
        previous_recall = point.recall;
    }
    area
}

/// The lowest threshold (so the highest recall) among the distinct probabilities at which
/// weighted precision is at least `target`; `None` if no threshold reaches it.
pub fn threshold_for_precision(rows: &[Scored], target: f64) -> Option<f64> {
    curve(rows)
        .iter()
        .rev()
        .find(|point| point.precision >= target)
        .map(|point| point.threshold)
}
/// Weight flagged at one distinct threshold: every row scored at or above it.
struct Step {
    threshold: f64,
    true_positive: f64,
    false_positive: f64,
}

/// Sorts by probability, descending, and accumulates weight at each distinct probability. Rows of
/// weight 0 are left out, as scikit-learn does, so they add no thresholds.
fn sweep(rows: &[Scored]) -> Vec<Step> {
    let mut sorted: Vec<Scored> = rows
        .iter()
        .filter(|row| row.weight != 0.0)
        .copied()
        .collect();
    sorted.sort_unstable_by(|a, b| b.probability.total_cmp(&a.probability));
    let mut steps: Vec<Step> = Vec::new();
    let (mut true_positive, mut false_positive) = (0.0, 0.0);
    for (index, row) in sorted.iter().enumerate() {
        if row.is_fraud {
            true_positive += row.weight;
        } else {
            false_positive += row.weight;
        }
        let last_of_tie = sorted
            .get(index + 1)
            .is_none_or(|next| next.probability != row.probability);
        if last_of_tie {
            steps.push(Step {
                threshold: row.probability,
                true_positive,
                false_positive,
            });
        }
    }
    steps
}

/// Total weight of each class: the last step's cumulative sums. Once a step holds every fraud (or
/// every legit row) its count equals the total bit for bit, the missed weight is exactly 0, and
/// its rate exactly 1.
struct Totals {
    frauds: f64,
    legit: f64,
}

impl Totals {
    fn of(steps: &[Step]) -> Totals {
        let last = steps.last();
        Totals {
            frauds: last.map_or(0.0, |step| step.true_positive),
            legit: last.map_or(0.0, |step| step.false_positive),
        }
    }

    /// The step's rates, with [`Confusion`]'s conventions for an empty class or selection.
    fn point(&self, step: &Step) -> CurvePoint {
        let confusion = Confusion {
            true_positive: step.true_positive,
            false_positive: step.false_positive,
            true_negative: self.legit - step.false_positive,
            false_negative: self.frauds - step.true_positive,
        };
        CurvePoint {
            threshold: step.threshold,
            precision: confusion.precision(),
            recall: confusion.recall(),
            false_positive_rate: confusion.false_positive_rate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::confusion_at;
    use crate::metrics::fixtures::{assert_close, interleaved, row, unweighted};

    /// Both classes tied at 0.8 and at 0.3.
    fn tied() -> Vec<Scored> {
        unweighted(&[
            (0.8, true),
            (0.8, false),
            (0.3, true),
            (0.3, false),
            (0.3, false),
        ])
    }

    /// Deterministic rows, also generated by the Python script that produced the scikit-learn
    /// references below: a 64-bit LCG, probabilities on a 0.01 grid (many ties).
    fn generated(count: usize, seed: u64, varied: bool) -> Vec<Scored> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (modulus, fraud_every, fraud_boost) =
                    if varied { (61, 5, 40) } else { (71, 10, 30) };
                let is_fraud = (state >> 33).is_multiple_of(fraud_every);
                let boost = if is_fraud { fraud_boost } else { 0 };
                let probability = ((state >> 40) % modulus + boost) as f64 / 100.0;
                let weight = match (varied, is_fraud) {
                    (true, _) => ((state >> 50) % 4) as f64 * 0.5 + 0.25,
                    (false, true) => 1.0,
                    (false, false) => 256.2,
                };
                row(probability, is_fraud, weight)
            })
            .collect()
    }

    #[test]
    fn hand_computed_auc_counts_ordered_pairs() {
        // 5 of the 9 (fraud, legit) pairs are ordered right.
        assert_close(roc_auc(&interleaved()), 5.0 / 9.0);
    }

    #[test]
    fn hand_computed_average_precision() {
        // Recall steps of 1/3 at precisions 1, 2/3 and 1/2.
        assert_close(average_precision(&interleaved()), 13.0 / 18.0);
    }

    #[test]
    fn ties_count_half_in_auc() {
        // Pairs: (0.8 fraud) beats 2, ties 1; (0.3 fraud) ties 2: (2 + 0.5 + 1) / 6.
        assert_close(roc_auc(&tied()), 7.0 / 12.0);
    }

    #[test]
    fn ties_share_one_step_in_average_precision() {
        assert_close(average_precision(&tied()), 0.5 * 0.5 + 0.5 * 0.4);
    }

    #[test]
    fn curve_has_one_point_per_distinct_probability_descending() {
        let points = curve(&tied());
        let expected = [(0.8, 0.5, 0.5, 1.0 / 3.0), (0.3, 0.4, 1.0, 1.0)];
        assert_eq!(points.len(), expected.len());
        for (point, (threshold, precision, recall, fpr)) in points.iter().zip(expected) {
            assert_eq!(point.threshold, threshold);
            assert_close(point.precision, precision);
            assert_close(point.recall, recall);
            assert_close(point.false_positive_rate, fpr);
        }
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let rows = unweighted(&[(0.9, true), (0.8, true), (0.2, false), (0.1, false)]);
        assert_eq!(roc_auc(&rows), 1.0);
        assert_eq!(average_precision(&rows), 1.0);
    }

    #[test]
    fn inverted_ranking_scores_zero_auc() {
        let rows = unweighted(&[(0.9, false), (0.8, false), (0.2, true), (0.1, true)]);
        assert_eq!(roc_auc(&rows), 0.0);
        // Recall 1/2 at precision 1/3, then the rest at precision 2/4.
        assert_close(average_precision(&rows), 5.0 / 12.0);
    }

    #[test]
    fn constant_score_is_chance() {
        let rows = unweighted(&[(0.5, true), (0.5, false), (0.5, false), (0.5, false)]);
        assert_close(roc_auc(&rows), 0.5);
        assert_close(average_precision(&rows), 0.25);
    }

    #[test]
    fn weighted_row_equals_repeated_row() {
        let weighted: Vec<Scored> = generated(200, 3, true)
            .into_iter()
            .map(|r| row(r.probability, r.is_fraud, (r.weight * 2.0).round()))
            .collect();
        let repeated: Vec<Scored> = weighted
            .iter()
            .flat_map(|r| {
                std::iter::repeat_n(row(r.probability, r.is_fraud, 1.0), r.weight as usize)
            })
            .collect();
        assert!(repeated.len() > weighted.len());
        assert_close(roc_auc(&weighted), roc_auc(&repeated));
        assert_close(average_precision(&weighted), average_precision(&repeated));
        for threshold in [0.0, 0.3, 0.55, 0.8, 1.0] {
            assert_eq!(
                confusion_at(&weighted, threshold),
                confusion_at(&repeated, threshold)
            );
        }
    }

    #[test]
    fn zero_weight_rows_are_absent() {
        let mut rows = interleaved();
        rows.push(row(0.95, false, 0.0));
        rows.push(row(0.65, true, 0.0));
        assert_eq!(curve(&rows), curve(&interleaved()));
        assert_eq!(threshold_for_precision(&rows, 1.0), Some(0.9));
    }

    #[test]
    fn one_class_has_no_auc() {
        let legit = unweighted(&[(0.9, false), (0.1, false)]);
        let frauds = unweighted(&[(0.9, true), (0.1, true)]);
        assert!(roc_auc(&legit).is_nan());
        assert!(roc_auc(&frauds).is_nan());
        assert!(roc_auc(&[]).is_nan());
        // As scikit-learn 1.9.1: 0.0 without frauds, 1.0 when every row is a fraud.
        assert_eq!(average_precision(&legit), 0.0);
        assert_eq!(average_precision(&frauds), 1.0);
        assert_eq!(average_precision(&[]), 0.0);
        assert!(curve(&[]).is_empty());
    }

    #[test]
    fn threshold_for_precision_takes_lowest_qualifying_threshold() {
        // Precision down the thresholds: 1, 1/2, 2/3, 1/2, 2/5, 1/2.
        let rows = interleaved();
        assert_eq!(threshold_for_precision(&rows, 0.6), Some(0.7));
        assert_eq!(threshold_for_precision(&rows, 0.5), Some(0.4));
        assert_eq!(threshold_for_precision(&rows, 1.0), Some(0.9));
        assert_eq!(threshold_for_precision(&rows, 1.01), None);
        assert_eq!(threshold_for_precision(&[], 0.5), None);
    }

    #[test]
    fn full_recall_is_exact_with_awkward_weights() {
        let rows: Vec<Scored> = (0..1000)
            .map(|i| {
                row(
                    f64::from(i % 97) / 97.0,
                    i % 3 == 0 && i % 97 >= 10,
                    0.1 + f64::from(i % 7) * 0.3,
                )
            })
            .collect();
        let points = curve(&rows);
        let last = points.last().map(|p| (p.recall, p.false_positive_rate));
        assert_eq!(last, Some((1.0, 1.0)));
        // Legit rows score below every fraud, so full recall comes before the last point.
        let lowest_fraud = rows
            .iter()
            .filter(|r| r.is_fraud)
            .map(|r| r.probability)
            .fold(f64::INFINITY, f64::min);
        let full = points.iter().find(|p| p.recall == 1.0).map(|p| p.threshold);
        assert_eq!(full, Some(lowest_fraud));
    }

    /// Reference numbers from scikit-learn 1.9.1 (`roc_auc_score`, `average_precision_score`,
    /// `precision_recall_curve`, `precision_score`, `recall_score`, all with `sample_weight`), run
    /// on the same rows as `generated` builds; the threshold columns pick from
    /// `precision_recall_curve` the lowest threshold with precision >= target.
    struct Reference {
        count: usize,
        seed: u64,
        varied: bool,
        roc_auc: f64,
        average_precision: f64,
        precision_targets: [(f64, f64); 3],
        precision_at_half: f64,
        recall_at_half: f64,
        distinct: usize,
    }

    const SKLEARN: [Reference; 2] = [
        // Down-sampled: 41 frauds of weight 1, 259 legit rows of weight 256.2.
        Reference {
            count: 300,
            seed: 7,
            varied: false,
            roc_auc: 0.80318297391468,
            average_precision: 0.3945186786867413,
            precision_targets: [(0.02, 0.68), (0.1, 0.7), (0.5, 0.7)],
            precision_at_half: 0.001468611258599847,
            recall_at_half: 0.6341463414634146,
            distinct: 80,
        },
        // Weights 0.25, 0.75, 1.25, 1.75 on both classes; 68 frauds.
        Reference {
            count: 300,
            seed: 11,
            varied: true,
            roc_auc: 0.9318413003272158,
            average_precision: 0.8554007425155359,
            precision_targets: [(0.5, 0.48), (0.8, 0.59), (0.9, 0.6)],
            precision_at_half: 0.5446009389671361,
            recall_at_half: 0.8169014084507042,
            distinct: 85,
        },
    ];

    #[test]
    fn agrees_with_scikit_learn() {
        for reference in &SKLEARN {
            let rows = generated(reference.count, reference.seed, reference.varied);
            assert_close(roc_auc(&rows), reference.roc_auc);
            assert_close(average_precision(&rows), reference.average_precision);
            assert_eq!(curve(&rows).len(), reference.distinct);
            for (target, threshold) in reference.precision_targets {
                assert_eq!(threshold_for_precision(&rows, target), Some(threshold));
            }
            let confusion = confusion_at(&rows, 0.5);
            assert_close(confusion.precision(), reference.precision_at_half);
            assert_close(confusion.recall(), reference.recall_at_half);
        }
    }
}
