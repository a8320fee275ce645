//! `--out`: simulated traffic as a PaySim CSV file (same columns, `isFraud` and `isFlaggedFraud`
//! filled), in hourly steps shaped like PaySim's: legit rows follow its hours of the day, fraud
//! rows are spread evenly over the steps, as PaySim's are. No broker involved.

use std::fmt;
use std::io::{self, Write};

use aegis_core::paysim::COLUMNS;

use super::profile::StepProfile;
use super::Simulator;

/// How many rows go in each step, and the share of them that is fraud.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPlan {
    /// Rows written once each step is done (cumulative; the last is the total).
    ends: Vec<u64>,
    /// Fraud share of each step's rows.
    fraud_rates: Vec<f64>,
}

impl StepPlan {
    /// `count` rows over `steps` steps (at least 1) at an overall `fraud_rate`.
    pub fn new(count: u64, steps: u32, fraud_rate: f64, profile: &StepProfile) -> StepPlan {
        let steps = steps.max(1);
        let n = count as f64;
        let weights: Vec<f64> = (0..steps).map(|s| profile.hours[s as usize % 24]).collect();
        let total_weight: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let fraud_per_step = fraud_rate * n / f64::from(steps);
        let mut ends = Vec::with_capacity(weights.len());
        let mut fraud_rates = Vec::with_capacity(weights.len());
        let mut cumulative = 0.0;
        for weight in weights {
            let rows = (1.0 - fraud_rate) * n * weight / total_weight + fraud_per_step;
            cumulative += rows;
            ends.push((cumulative.round() as u64).min(count));
            fraud_rates.push(if rows > 0.0 {
                fraud_per_step / rows
            } else {
                0.0
            });
        }
        if let Some(last) = ends.last_mut() {
            *last = count;
        }
        StepPlan { ends, fraud_rates }
    }

    /// Steps for `count` rows at PaySim's volume per step (at least 1).
    pub fn steps_for(count: u64, profile: &StepProfile) -> u32 {
        let steps = (count as f64 / profile.rows_per_step).round();
        (steps as u32).max(1)
    }

    /// Rows for `steps` steps at PaySim's volume per step.
    pub fn rows_for(steps: u32, profile: &StepProfile) -> u64 {
        (f64::from(steps) * profile.rows_per_step).round() as u64
    }

    /// How many steps.
    pub fn steps(&self) -> u32 {
        u32::try_from(self.ends.len()).unwrap_or(u32::MAX)
    }

    /// How many rows in all.
    pub fn rows(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }
}

/// What a file got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows, header not counted.
    pub rows: u64,
    /// Rows labelled fraud.
    pub frauds: u64,
    /// Steps 1 to this.
    pub steps: u32,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} transactions ({} fraud) in steps 1–{}",
            self.rows, self.frauds, self.steps
        )
    }
}

/// Writes the header and `plan`'s rows from `simulator`, step by step: an event's rows stay in the
/// step it began in.
pub fn write_csv(
    simulator: &mut Simulator,
    plan: &StepPlan,
    out: &mut impl Write,
) -> io::Result<Written> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    let total = plan.rows();
    let mut written = Written {
        steps: plan.steps(),
        ..Written::default()
    };
    for (step, (&end, &rate)) in (1..).zip(plan.ends.iter().zip(&plan.fraud_rates)) {
        simulator.set_step(step);
        simulator.set_fraud_rate(rate);
        while written.rows < end || (simulator.has_pending() && written.rows < total) {
            let row = simulator.next_row();
            aegis_core::paysim::write_row(out, &row.transaction, row.is_flagged_fraud)?;
            written.rows += 1;
            written.frauds += u64::from(row.transaction.is_fraud == Some(true));
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::{SimulationParams, PAYSIM};
    use super::*;

    #[test]
    fn legit_rows_follow_the_hours_and_fraud_is_even() {
        let profile = PAYSIM.steps;
        let plan = StepPlan::new(1_000_000, 48, 0.01, &profile);
        assert_eq!((plan.steps(), plan.rows()), (48, 1_000_000));
        let mut start = 0;
        let mut fraud_rows = Vec::new();
        let mut legit_rows = Vec::new();
        for (&end, &rate) in plan.ends.iter().zip(&plan.fraud_rates) {
            let rows = (end - start) as f64;
            fraud_rows.push(rows * rate);
            legit_rows.push(rows * (1.0 - rate));
            start = end;
        }
        for f in &fraud_rows {
            assert!((f - 1_000_000.0 * 0.01 / 48.0).abs() < 1.0, "{f}");
        }
        let legit: f64 = legit_rows.iter().sum();
        for (hour, rows) in legit_rows.iter().enumerate() {
            let expected = profile.hours[hour % 24] / 2.0;
            assert!((rows / legit - expected).abs() < 1e-4, "hour {hour}");
        }
        assert_eq!(StepPlan::steps_for(0, &profile), 1);
        let steps = StepPlan::steps_for(500_000, &profile);
        let rows = StepPlan::rows_for(steps, &profile) as f64;
        assert!(
            (rows - 500_000.0).abs() <= profile.rows_per_step,
            "{steps} steps"
        );
    }

    #[test]
    fn the_file_has_every_planned_row_in_step_order_with_events_whole() {
        let params = SimulationParams {
            seed: 11,
            fraud_rate: 0.05,
            takeover_every: None,
        };
        let plan = StepPlan::new(20_000, 6, 0.05, &PAYSIM.steps);
        let mut csv = Vec::new();
        let written = write_csv(&mut Simulator::new(params), &plan, &mut csv).unwrap();
        let rows: Vec<_> = aegis_core::paysim::PaysimReader::from_reader("sim.csv", &csv[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!((written.rows, written.steps), (20_000, 6));
        assert_eq!(rows.len(), 20_000);
        let frauds = rows.iter().filter(|r| r.transaction.is_fraud == Some(true));
        assert_eq!(frauds.count() as u64, written.frauds);
        assert!(rows
            .windows(2)
            .all(|w| w[0].transaction.step <= w[1].transaction.step));
        assert_eq!(rows[0].transaction.step, 1);
        assert_eq!(rows[rows.len() - 1].transaction.step, 6);
        // A fraud transfer and its cash-out share a step.
        for w in rows.windows(2) {
            let (t, c) = (&w[0].transaction, &w[1].transaction);
            if t.is_fraud == Some(true) && c.is_fraud == Some(true) && t.amount == c.amount {
                assert_eq!(t.step, c.step);
            }
        }
    }
}
