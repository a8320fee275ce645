//! Calibration: the map from the forest's raw score to a probability that means what it says.
//!
//! The forest is fitted on class-balanced weights, so its raw score describes a 50/50 world, not
//! payments where about 1 in 770 is fraud. The trainer fits an isotonic regression of the label on
//! the raw score, on rows the forest was not fitted on, weighted to the natural fraud rate; the map
//! is stored in the model artifact and applied after the forest, so that among transactions scored
//! 0.66 about two in three are fraud.
//!
//! Why isotonic and not Platt scaling: the forest's raw scores pile up near 0 and 1 with a long,
//! uneven middle, which no single sigmoid fits, while the only thing known for sure about the
//! relation is that it is monotone — exactly what isotonic regression assumes.
//!
//! The map is the fitted step function, with two refinements. Across a gap between two steps, where
//! no fitting row scored, it rises linearly from one step's rate to the next. Within a step it rises
//! by at most [`TIE_BREAK`] (10⁻⁹) — up from the step's rate, or, for a step at 1.0, up to it — so
//! that the forest's ranking survives calibration (ties would cost precision–recall area, and would
//! let a legit transaction share a BLOCK score with the frauds) while the probability stays the
//! step's observed rate to nine decimals.

use serde::{Deserialize, Serialize};

/// Most a calibrated probability rises within one fitted step (see the module docs).
pub const TIE_BREAK: f64 = 1e-9;

/// A monotone piecewise-linear map from raw score to probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// How the points were fitted (`isotonic`).
    pub method: String,
    /// `(raw score, probability)` points, raw scores strictly increasing, probabilities
    /// non-decreasing, all in [0, 1]. Between two points the map is linear; outside them, flat.
    pub points: Vec<(f64, f64)>,
}

/// A calibration that cannot be used; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calibration: {0}")]
pub struct InvalidCalibration(pub String);

/// One labelled, weighted score to fit on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// The forest's raw score.
    pub score: f64,
    /// 1.0 for fraud, 0.0 for legit.
    pub label: f64,
    /// How many natural rows this one stands for.
    pub weight: f64,
}

impl Calibration {
    /// Fits an isotonic regression (pool-adjacent-violators) of `label` on `score`, weighted.
    /// Observations with a non-finite score or a non-positive weight are ignored.
    ///
    /// # Errors
    /// When nothing is left to fit on.
    pub fn fit_isotonic(observations: &[Observation]) -> Result<Calibration, InvalidCalibration> {
        let mut rows: Vec<Observation> = observations
            .iter()
            .copied()
            .filter(|o| o.score.is_finite() && o.weight.is_finite() && o.weight > 0.0)
            .collect();
        if rows.is_empty() {
            return Err(InvalidCalibration(
                "no weighted observations to fit on".into(),
            ));
        }
        rows.sort_by(|a, b| a.score.total_cmp(&b.score));
        let blocks = pool_adjacent_violators(&rows);
        let mut points = Vec::with_capacity(2 * blocks.len());
        for (i, block) in blocks.iter().enumerate() {
            let rate = block.rate();
            if block.highest == block.lowest {
                points.push((block.lowest, rate));
                continue;
            }
            // Rise above the step's rate, or — for a step at 1.0, with no room above — up to it.
            let next = blocks.get(i + 1).map_or(1.0, Block::rate);
            let previous = if i == 0 { 0.0 } else { blocks[i - 1].rate() };
            let up = TIE_BREAK.min((next - rate) / 2.0);
            let (low, high) = if up > 0.0 {
                (rate, rate + up)
            } else {
                (rate - TIE_BREAK.min((rate - previous) / 2.0), rate)
            };
            points.push((block.lowest, low));
            points.push((block.highest, high));
        }
        let calibration = Calibration {
            method: "isotonic".into(),
            points: points
                .into_iter()
                .map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
                .collect(),
        };
        calibration.check()?;
        Ok(calibration)
    }

    /// Checks the shape: at least one point, all finite and in [0, 1], raw scores strictly
    /// increasing and probabilities non-decreasing.
    pub fn check(&self) -> Result<(), InvalidCalibration> {
        if self.points.is_empty() {
            return Err(InvalidCalibration("no points".into()));
        }
        for (i, &(x, y)) in self.points.iter().enumerate() {
            if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
                return Err(InvalidCalibration(format!(
                    "point {i} ({x}, {y}) lies outside [0, 1]"
                )));
            }
        }
        for (i, pair) in self.points.windows(2).enumerate() {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            if x1 <= x0 || y1 < y0 {
                return Err(InvalidCalibration(format!(
                    "points {i} and {} are not increasing ({x0}, {y0}) → ({x1}, {y1})",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    /// The calibrated probability of a raw score (NaN stays NaN).
    pub fn apply(&self, raw: f64) -> f64 {
        let points = &self.points;
        let Some(&(first_x, first_y)) = points.first() else {
            return raw;
        };
        if raw.is_nan() {
            return raw;
        }
        if raw <= first_x {
            return first_y;
        }
        // The first point with x >= raw.
        let upper = points.partition_point(|&(x, _)| x < raw);
        let Some(&(x1, y1)) = points.get(upper) else {
            return points[points.len() - 1].1;
        };
        let (x0, y0) = points[upper - 1];
        y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    }
}

/// A run of adjacent scores pooled into one fitted step.
#[derive(Clone, Copy, Debug)]
struct Block {
    weight: f64,
    frauds: f64,
    lowest: f64,
    highest: f64,
}

impl Block {
    fn rate(&self) -> f64 {
        self.frauds / self.weight
    }
}

/// Pool-adjacent-violators on observations sorted by score: the weighted isotonic (non-decreasing)
/// fit, as blocks whose rates strictly increase. Equal scores always share a block.
fn pool_adjacent_violators(sorted: &[Observation]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for o in sorted {
        let new = Block {
            weight: o.weight,
            frauds: o.weight * o.label,
            lowest: o.score,
            highest: o.score,
        };
        match blocks.last_mut() {
            Some(b) if b.highest == o.score => {
                b.weight += new.weight;
                b.frauds += new.frauds;
            }
            _ => blocks.push(new),
        }
        // Pool while the previous block's rate is not below the last one's.
        while let [.., a, b] = blocks[..] {
            if a.rate() < b.rate() {
                break;
            }
            blocks.pop();
            if let Some(a) = blocks.last_mut() {
                a.weight += b.weight;
                a.frauds += b.frauds;
                a.highest = b.highest;
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(score: f64, label: f64, weight: f64) -> Observation {
        Observation {
            score,
            label,
            weight,
        }
    }

    #[test]
    fn isotonic_pools_violators_and_weights_count() {
        // Scores 0.1, 0.2 (legit ×9 weight), 0.3 (fraud), 0.4 (legit), 0.9 (fraud ×3).
        let fit = Calibration::fit_isotonic(&[
            obs(0.1, 0.0, 1.0),
            obs(0.2, 0.0, 9.0),
            obs(0.3, 1.0, 1.0),
            obs(0.4, 0.0, 1.0),
            obs(0.9, 1.0, 3.0),
        ])
        .unwrap();
        // 0.1 and 0.2 (both legit) pool into a step of rate 0; 0.3 and 0.4 into one of rate 0.5;
        // each step rises by the tie-break across its scores.
        let expected = [
            (0.1, 0.0),
            (0.2, TIE_BREAK),
            (0.3, 0.5),
            (0.4, 0.5 + TIE_BREAK),
            (0.9, 1.0),
        ];
        assert_eq!(fit.points.len(), expected.len(), "{fit:?}");
        for (got, want) in fit.points.iter().zip(expected) {
            assert!(
                (got.0 - want.0).abs() < 1e-12 && (got.1 - want.1).abs() < 1e-12,
                "{fit:?}"
            );
        }
    }

    #[test]
    fn a_step_at_one_still_keeps_the_ranking() {
        let fit = Calibration::fit_isotonic(&[
            obs(0.1, 0.0, 10.0),
            obs(0.7, 1.0, 1.0),
            obs(0.8, 1.0, 1.0),
            obs(0.95, 1.0, 1.0),
        ])
        .unwrap();
        let (a, b, c) = (fit.apply(0.7), fit.apply(0.8), fit.apply(0.95));
        assert!(
            a < b && b < c && c == 1.0 && a >= 1.0 - TIE_BREAK,
            "{fit:?}"
        );
    }

    #[test]
    fn apply_interpolates_and_is_flat_outside() {
        let c = Calibration {
            method: "isotonic".into(),
            points: vec![(0.2, 0.01), (0.6, 0.2), (0.9, 0.95)],
        };
        assert_eq!(c.apply(0.0), 0.01);
        assert_eq!(c.apply(0.2), 0.01);
        assert!((c.apply(0.4) - 0.105).abs() < 1e-12);
        assert_eq!(c.apply(0.9), 0.95);
        assert_eq!(c.apply(1.0), 0.95);
        assert!(c.apply(f64::NAN).is_nan());
    }

    #[test]
    fn a_calibrated_score_is_the_observed_rate() {
        // Raw score 0.5 is fraud one time in ten (weights): calibrated, it says 0.1.
        let mut rows = vec![obs(0.5, 1.0, 1.0), obs(0.5, 0.0, 9.0)];
        rows.push(obs(0.0, 0.0, 100.0));
        rows.push(obs(1.0, 1.0, 5.0));
        let c = Calibration::fit_isotonic(&rows).unwrap();
        assert!((c.apply(0.5) - 0.1).abs() < 1e-12, "{c:?}");
        assert_eq!(c.apply(0.0), 0.0);
        assert_eq!(c.apply(1.0), 1.0);
    }

    #[test]
    fn bad_shapes_are_named() {
        let c = Calibration {
            method: "isotonic".into(),
            points: vec![(0.5, 0.4), (0.4, 0.5)],
        };
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("not increasing"));
        let c = Calibration {
            method: "isotonic".into(),
            points: vec![(0.5, 1.5)],
        };
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("outside [0, 1]"));
        assert!(Calibration::fit_isotonic(&[]).is_err());
    }
}
