//! Splitting rows by time. The scorer always faces the future, so the model is fitted on the
//! earliest steps, its thresholds are chosen on the steps after those, and it is judged on the
//! latest steps, which neither fitting nor threshold choice has seen.

use aegis_core::model::StepRange;
use anyhow::{bail, Result};
use serde::Serialize;

use crate::dataset::Row;

/// Share of rows (by step order) used to fit, and to fit plus choose thresholds.
const FIT_SHARE: f64 = 0.6;
const THRESHOLD_SHARE: f64 = 0.8;

/// One part of the split: a contiguous range of steps.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    pub first_step: i32,
    pub last_step: i32,
    pub rows: usize,
    pub frauds: usize,
    #[serde(skip)]
    pub indices: Vec<usize>,
}

impl Part {
    /// The steps the part spans, as the model artifact records them.
    pub fn steps(&self) -> StepRange {
        StepRange {
            first: self.first_step,
            last: self.last_step,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "steps {}–{} ({} rows, {} frauds)",
            self.first_step, self.last_step, self.rows, self.frauds
        )
    }
}

/// Fit / threshold / test parts, in time order.
#[derive(Clone, Debug, Serialize)]
pub struct TimeSplit {
    pub fit: Part,
    pub threshold: Part,
    pub test: Part,
}

impl TimeSplit {
    pub fn describe(&self) -> String {
        format!(
            "by step, never at random: fit on {}; thresholds chosen on {}; tested on {}",
            self.fit.describe(),
            self.threshold.describe(),
            self.test.describe()
        )
    }
}

/// Cuts the steps so the fit part holds about 60 % of rows, the threshold part the next 20 % and
/// the test part the rest. A step is never divided. Fails, saying why, if a part would lack either
/// class.
pub fn by_step(rows: &[Row]) -> Result<TimeSplit> {
    let mut steps: Vec<i32> = rows.iter().map(|r| r.step).collect();
    steps.sort_unstable();
    if steps.first() == steps.last() {
        bail!("all rows are from one step; a time split needs several steps (PaySim has 743)");
    }
    let cut = |share: f64| {
        let at = ((steps.len() as f64 * share) as usize).min(steps.len() - 1);
        steps[at]
    };
    // Rows with step < fit_end are fitted on; fit_end <= step < test_start choose thresholds.
    let fit_end = cut(FIT_SHARE).max(steps[0] + 1);
    let test_start = cut(THRESHOLD_SHARE).max(fit_end + 1);
    let part = |keep: &dyn Fn(i32) -> bool| {
        let indices: Vec<usize> = (0..rows.len()).filter(|&i| keep(rows[i].step)).collect();
        let steps = indices.iter().map(|&i| rows[i].step);
        Part {
            first_step: steps.clone().min().unwrap_or(0),
            last_step: steps.max().unwrap_or(0),
            rows: indices.len(),
            frauds: indices.iter().filter(|&&i| rows[i].is_fraud).count(),
            indices,
        }
    };
    let split = TimeSplit {
        fit: part(&|s| s < fit_end),
        threshold: part(&|s| s >= fit_end && s < test_start),
        test: part(&|s| s >= test_start),
    };
    for (name, p) in [
        ("fit", &split.fit),
        ("threshold", &split.threshold),
        ("test", &split.test),
    ] {
        if p.frauds == 0 || p.frauds == p.rows {
            bail!(
                "the {name} part of the time split ({}) lacks {}; give data spanning more steps",
                p.describe(),
                if p.frauds == 0 {
                    "frauds"
                } else {
                    "legit rows"
                }
            );
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: i32, is_fraud: bool) -> Row {
        Row {
            step,
            features: [0.0; aegis_core::features::N_FEATURES],
            is_fraud,
        }
    }

    #[test]
    fn parts_are_in_time_order_and_never_share_a_step() {
        let rows: Vec<Row> = (0..1000).map(|i| row(1 + i % 50, i % 7 == 0)).collect();
        let split = by_step(&rows).unwrap();
        assert!(split.fit.last_step < split.threshold.first_step);
        assert!(split.threshold.last_step < split.test.first_step);
        assert_eq!(
            split.fit.rows + split.threshold.rows + split.test.rows,
            1000
        );
        assert!((550..=650).contains(&split.fit.rows), "{:?}", split.fit);
        assert!(split
            .describe()
            .starts_with("by step, never at random: fit on steps 1–"));
    }

    #[test]
    fn a_part_without_frauds_is_refused() {
        let rows: Vec<Row> = (0..100)
            .map(|i| row(1 + i / 10, i < 50 && i % 5 == 0))
            .collect();
        let err = by_step(&rows).unwrap_err().to_string();
        assert!(err.contains("lacks frauds"), "{err}");
        assert!(by_step(&[row(3, true), row(3, false)]).is_err());
    }
}
