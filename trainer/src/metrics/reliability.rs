//! How well probabilities match observed fraud rates, at the natural rate: expected calibration
//! error, Brier score and the bins of the reliability diagram.

use serde::Serialize;

use super::Scored;

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
    use crate::metrics::fixtures::{calibrated, overconfident};

    #[test]
    fn a_calibrated_set_has_no_calibration_error_and_an_overconfident_one_has() {
        let r = Reliability::measure(&calibrated());
        assert!(r.expected_calibration_error.abs() < 1e-12, "{r:?}");
        assert!((r.brier_score - (0.64 + 4.0 * 0.04) / 15.0).abs() < 1e-12);
        let r = Reliability::measure(&overconfident());
        assert!(
            (r.expected_calibration_error - 0.7 / 3.0).abs() < 1e-12,
            "{r:?}"
        );
        assert_eq!(r.bins.len(), 2);
    }
}
