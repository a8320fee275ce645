//! Splitting rows by time. The scorer always faces the future, so the model is fitted on the
//! earliest steps, its thresholds are chosen on the steps after those, and it is judged on the
//! latest steps, which neither fitting nor threshold choice has seen.

use aegis_core::model::StepRange;
use anyhow::{bail, Result};
use serde::Serialize;

use crate::dataset::Row;

/// Share of the natural traffic (rows weighted by what they stand for, in step order) used to fit,
/// and to fit plus choose thresholds. Cutting by weight rather than by rows keeps the cuts where
/// real time puts them: a file that samples a few early steps densely does not pull them early.
const FIT_SHARE: f64 = 0.6;
const THRESHOLD_SHARE: f64 = 0.8;

/// Fewest frauds a part may hold: below this a forest cannot learn fraud and a threshold cannot be
/// chosen, so training stops.
pub const MIN_FRAUDS: usize = 30;
/// Frauds a part should hold: with 200, a recall of 0.98 is known to about ±0.02 (95 % Wilson
/// interval 0.95–0.99) and the BLOCK threshold is chosen among enough frauds; below it training
/// warns, with the counts.
pub const ENOUGH_FRAUDS: usize = 200;

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
    /// Parts with fewer than [`ENOUGH_FRAUDS`] frauds, said with their counts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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

/// Cuts the steps so the fit part holds about 60 % of the weighted rows, the threshold part the
/// next 20 % and the test part the rest. A step is never divided. Fails, saying why, if a part has
/// no legit rows or fewer than [`MIN_FRAUDS`] frauds; warns below [`ENOUGH_FRAUDS`].
pub fn by_step(rows: &[Row]) -> Result<TimeSplit> {
    let mut by_step: Vec<(i32, f64)> = rows.iter().map(|r| (r.step, r.weight)).collect();
    by_step.sort_unstable_by_key(|&(step, _)| step);
    let (Some(&(first, _)), Some(&(last, _))) = (by_step.first(), by_step.last()) else {
        bail!("no rows to split");
    };
    if first == last {
        bail!("all rows are from one step; a time split needs several steps (PaySim has 743)");
    }
    let total: f64 = by_step.iter().map(|&(_, w)| w).sum();
    // The step of the row at which the running weight passes `share` of the total.
    let cut = |share: f64| {
        let mut sum = 0.0;
        for &(step, w) in &by_step {
            sum += w;
            if sum > share * total {
                return step;
            }
        }
        last
    };
    // Rows with step < fit_end are fitted on; fit_end <= step < test_start choose thresholds.
    let fit_end = cut(FIT_SHARE).max(first + 1);
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
    let mut split = TimeSplit {
        fit: part(&|s| s < fit_end),
        threshold: part(&|s| s >= fit_end && s < test_start),
        test: part(&|s| s >= test_start),
        warnings: Vec::new(),
    };
    for (name, p) in [
        ("fit", &split.fit),
        ("threshold", &split.threshold),
        ("test", &split.test),
    ] {
        if p.frauds == p.rows {
            bail!(
                "the {name} part of the time split ({}) lacks legit rows; give data spanning more steps",
                p.describe()
            );
        }
        if p.frauds < MIN_FRAUDS {
            bail!(
                "the {name} part of the time split ({}) holds fewer than {MIN_FRAUDS} frauds, too few to {}; give data with frauds spread over more steps",
                p.describe(),
                if name == "fit" { "learn from" } else if name == "threshold" { "choose thresholds on" } else { "measure" }
            );
        }
        if p.frauds < ENOUGH_FRAUDS {
            split.warnings.push(format!(
                "the {name} part ({}) holds fewer than {ENOUGH_FRAUDS} frauds: its figures are uncertain (see the intervals)",
                p.describe()
            ));
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: i32, is_fraud: bool) -> Row {
        weighted(step, is_fraud, 1.0)
    }

    fn weighted(step: i32, is_fraud: bool, weight: f64) -> Row {
        Row {
            step,
            tx_type: aegis_core::transaction::TxType::Transfer,
            features: [0.0; aegis_core::features::N_FEATURES],
            is_fraud,
            weight,
        }
    }

    #[test]
    fn parts_are_in_time_order_and_never_share_a_step() {
        let rows: Vec<Row> = (0..5000).map(|i| row(1 + i % 50, i % 7 == 0)).collect();
        let split = by_step(&rows).unwrap();
        assert!(split.fit.last_step < split.threshold.first_step);
        assert!(split.threshold.last_step < split.test.first_step);
        assert_eq!(
            split.fit.rows + split.threshold.rows + split.test.rows,
            5000
        );
        assert!((2750..=3250).contains(&split.fit.rows), "{:?}", split.fit);
        assert!(split
            .describe()
            .starts_with("by step, never at random: fit on steps 1–"));
        // About 143 frauds in each of the last two parts: enough to run, not enough to trust.
        assert_eq!(split.warnings.len(), 2, "{:?}", split.warnings);
        assert!(
            split.warnings[0].contains("threshold part (steps 31–40 (1000 rows, 142 frauds))"),
            "{:?}",
            split.warnings
        );
    }

    #[test]
    fn cuts_follow_weighted_time_not_a_densely_sampled_start() {
        // A sample of the whole period (100 steps, legit rows standing for 100 each, frauds all
        // kept) plus natural data of the first 5 steps: 5,000 rows, the most of any file.
        let mut rows: Vec<Row> = (0..3000)
            .map(|i| {
                weighted(
                    1 + i % 100,
                    i % 3 == 0,
                    if i % 3 == 0 { 1.0 } else { 100.0 },
                )
            })
            .collect();
        rows.extend((0..5000).map(|i| row(1 + i % 5, false)));
        let split = by_step(&rows).unwrap();
        assert!(
            (55..=65).contains(&split.threshold.first_step),
            "{}",
            split.describe()
        );
        assert!(split.warnings.is_empty(), "{:?}", split.warnings);
    }

    #[test]
    fn a_part_with_too_few_frauds_is_refused_with_its_counts() {
        let rows: Vec<Row> = (0..1000)
            .map(|i| row(1 + i / 10, i < 500 && i % 5 == 0))
            .collect();
        let err = by_step(&rows).unwrap_err().to_string();
        assert!(
            err.contains("threshold part of the time split (steps 61–80 (200 rows, 0 frauds))")
                && err.contains("fewer than 30 frauds"),
            "{err}"
        );
        assert!(by_step(&[row(3, true), row(3, false)]).is_err());
    }
}
