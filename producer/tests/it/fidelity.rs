//! Fidelity: simulated traffic against the PaySim rows its constants were measured on (the
//! enriched sample's steps 1–254; `docs/simulator.md`). Per type, legit and fraud apart: shares,
//! amount quantiles, empty balances (origin and destination, before and after), and the balance
//! errors the model uses — each within a tolerance stated below. The real figures are computed
//! here from `data/` with the project's PaySim reader, weighted as the sample requires; nothing is
//! copied from the simulator. No broker.
//!
//! Tolerances (absolute):
//! - share of each type among legit rows: ±0.01;
//! - ln(amount) at 10, 25, 50, 75 and 90 %: ±0.1 (about 10 % on the amount);
//! - shares within a group (empty balances, balance errors zero / positive / negative, origin
//!   emptied): ±0.02, or 3 standard errors of the simulated share if that is more (DEBIT has few);
//! - ln|balance error| at 25, 50 and 75 % of the non-zero errors, where the sample has 50 or more:
//!   ±0.25;
//! - each type's fraud share at the natural rate (legit rows weighted ×256.2): ±20 % of it.

use std::collections::HashSet;
use std::sync::OnceLock;

use aegis_core::features::{extract, index_of};
use aegis_core::paysim::PaysimReader;
use aegis_core::{Transaction, TxType};
use aegis_producer::simulate::{SimulationParams, Simulator};

use crate::data;

/// The rows the simulator's constants are measured on: this sample, up to this step.
pub const SAMPLE: &str = "paysim_fraud_enriched_steps_1-400.csv";
/// The last step measured (later steps are kept to judge the simulator: `scripts/fidelity`).
pub const LAST_STEP: i32 = 254;
/// One legit row of the sample stands for this many real ones (`data/README.md`).
const LEGIT_WEIGHT: f64 = 256.2;
/// Simulated rows at the natural fraud rate.
const NATURAL_ROWS: usize = 1_000_000;
/// Simulated rows at a high fraud rate, for the fraud rows' shape.
const FRAUD_ROWS: usize = 200_000;
/// A balance error smaller than this (a cent and a half) is zero: PaySim's arithmetic.
const ZERO_ERROR: f64 = 0.015;

fn real() -> &'static Vec<Transaction> {
    static ROWS: OnceLock<Vec<Transaction>> = OnceLock::new();
    ROWS.get_or_init(|| {
        PaysimReader::open(&data(SAMPLE))
            .unwrap()
            .map(|row| row.unwrap().transaction)
            .filter(|t| t.step <= LAST_STEP)
            .collect()
    })
}

/// The real fraud rate of the measured rows, counting each legit row ×[`LEGIT_WEIGHT`].
fn natural_fraud_rate() -> f64 {
    let frauds = real().iter().filter(|t| is_fraud(t)).count() as f64;
    let legit = real().len() as f64 - frauds;
    frauds / (frauds + LEGIT_WEIGHT * legit)
}

fn simulated(seed: u64, fraud_rate: f64, rows: usize) -> Vec<Transaction> {
    let params = SimulationParams {
        seed,
        fraud_rate,
        takeover_every: None,
    };
    Simulator::new(params).take(rows).collect()
}

fn natural() -> &'static Vec<Transaction> {
    static ROWS: OnceLock<Vec<Transaction>> = OnceLock::new();
    ROWS.get_or_init(|| simulated(1, natural_fraud_rate(), NATURAL_ROWS))
}

fn fraud_heavy() -> &'static Vec<Transaction> {
    static ROWS: OnceLock<Vec<Transaction>> = OnceLock::new();
    ROWS.get_or_init(|| simulated(2, 0.1, FRAUD_ROWS))
}

fn is_fraud(t: &Transaction) -> bool {
    t.is_fraud == Some(true)
}

fn group(rows: &[Transaction], tx_type: TxType, fraud: bool) -> Vec<&Transaction> {
    rows.iter()
        .filter(|t| t.tx_type == tx_type && is_fraud(t) == fraud)
        .collect()
}

fn share_of(rows: &[&Transaction], test: impl Fn(&Transaction) -> bool) -> f64 {
    rows.iter().filter(|t| test(t)).count() as f64 / rows.len().max(1) as f64
}

/// Value at probability `p` (nearest rank); NaN when there are none.
fn quantile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len().checked_sub(1) {
        Some(last) => values[((last as f64) * p).round() as usize],
        None => f64::NAN,
    }
}

/// A named test a row passes or not.
type RowTest<'a> = (&'static str, &'a dyn Fn(&Transaction) -> bool);

/// The shares compared within a group, by name.
fn shares(rows: &[&Transaction]) -> Vec<(&'static str, f64)> {
    let error = |name: &str| index_of(name).unwrap();
    let (orig, dest, emptied) = (
        error("error_balance_orig"),
        error("error_balance_dest"),
        error("orig_emptied"),
    );
    let tests: [RowTest<'_>; 13] = [
        ("origin empty before", &|t| t.old_balance_orig == 0.0),
        ("origin empty after", &|t| t.new_balance_orig == 0.0),
        ("destination empty before", &|t| t.old_balance_dest == 0.0),
        ("destination empty after", &|t| t.new_balance_dest == 0.0),
        ("destination empty before and after", &|t| {
            t.old_balance_dest == 0.0 && t.new_balance_dest == 0.0
        }),
        ("origin and destination empty before", &|t| {
            t.old_balance_orig == 0.0 && t.old_balance_dest == 0.0
        }),
        ("destination holds less than the amount before", &|t| {
            t.old_balance_dest > 0.0 && t.old_balance_dest < t.amount
        }),
        (
            "origin empty and destination holding less than the amount",
            &|t| {
                t.old_balance_orig == 0.0
                    && t.old_balance_dest > 0.0
                    && t.old_balance_dest < t.amount
            },
        ),
        ("origin emptied", &|t| extract(t)[emptied] == 1.0),
        ("origin balance error zero", &|t| {
            extract(t)[orig].abs() < ZERO_ERROR
        }),
        ("destination balance error zero", &|t| {
            extract(t)[dest].abs() < ZERO_ERROR
        }),
        ("destination balance error positive", &|t| {
            extract(t)[dest] >= ZERO_ERROR
        }),
        ("destination balance error negative", &|t| {
            extract(t)[dest] <= -ZERO_ERROR
        }),
    ];
    tests
        .iter()
        .map(|(name, test)| (*name, share_of(rows, test)))
        .collect()
}

/// ln|error| of the non-zero balance errors, per error feature.
fn ln_errors(rows: &[&Transaction]) -> [(&'static str, Vec<f64>); 2] {
    ["error_balance_orig", "error_balance_dest"].map(|name| {
        let i = index_of(name).unwrap();
        let ln = rows
            .iter()
            .map(|t| extract(t)[i].abs())
            .filter(|e| *e >= ZERO_ERROR)
            .map(f64::ln)
            .collect();
        (name, ln)
    })
}

/// Statistics that differ by more than their tolerance, one line each.
#[derive(Default)]
struct Misses(Vec<String>);

impl Misses {
    /// Records a miss; prints every statistic (shown with `--nocapture`, or on failure).
    fn check(&mut self, what: String, real: f64, sim: f64, tolerance: f64) {
        let line =
            format!("{what}: real {real:.4}, simulated {sim:.4} (tolerance ±{tolerance:.4})");
        let off = (real - sim).abs() > tolerance || sim.is_nan();
        println!("{} {line}", if off { "OFF" } else { "ok " });
        if off {
            self.0.push(line);
        }
    }

    /// Every statistic of one group.
    fn group(&mut self, name: &str, real: &[&Transaction], sim: &[&Transaction]) {
        assert!(!sim.is_empty(), "{name}: no simulated rows");
        for p in [0.1, 0.25, 0.5, 0.75, 0.9] {
            let ln_amount = |rows: &[&Transaction]| {
                quantile(
                    &mut rows
                        .iter()
                        .map(|t| t.amount.max(0.01).ln())
                        .collect::<Vec<_>>(),
                    p,
                )
            };
            self.check(
                format!("{name}: ln amount at {p}"),
                ln_amount(real),
                ln_amount(sim),
                0.1,
            );
        }
        for ((what, r), (_, s)) in shares(real).into_iter().zip(shares(sim)) {
            let standard_error = (s * (1.0 - s) / sim.len() as f64).sqrt();
            self.check(
                format!("{name}: {what}"),
                r,
                s,
                (3.0 * standard_error).max(0.02),
            );
        }
        for ((feature, mut r), (_, mut s)) in ln_errors(real).into_iter().zip(ln_errors(sim)) {
            if r.len() < 50 {
                continue;
            }
            for p in [0.25, 0.5, 0.75] {
                let (qr, qs) = (quantile(&mut r, p), quantile(&mut s, p));
                self.check(format!("{name}: ln|{feature}| at {p}"), qr, qs, 0.25);
            }
        }
    }

    fn assert_none(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} statistics off\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

#[test]
fn legit_traffic_matches_the_sample_per_type() {
    let mut misses = Misses::default();
    let real_legit = real().iter().filter(|t| !is_fraud(t)).count() as f64;
    let sim_legit = natural().iter().filter(|t| !is_fraud(t)).count() as f64;
    for tx_type in TxType::ALL {
        let (r, s) = (
            group(real(), tx_type, false),
            group(natural(), tx_type, false),
        );
        let name = format!("{tx_type} legit");
        let (share_r, share_s) = (r.len() as f64 / real_legit, s.len() as f64 / sim_legit);
        misses.check(
            format!("{name}: share of legit rows"),
            share_r,
            share_s,
            0.01,
        );
        misses.group(&name, &r, &s);
    }
    misses.assert_none("legit traffic");
}

#[test]
fn fraud_matches_the_sample_per_type() {
    let mut misses = Misses::default();
    let real_frauds = real().iter().filter(|t| is_fraud(t)).count() as f64;
    let sim_frauds = fraud_heavy().iter().filter(|t| is_fraud(t)).count() as f64;
    for tx_type in [TxType::Transfer, TxType::CashOut] {
        let (r, s) = (
            group(real(), tx_type, true),
            group(fraud_heavy(), tx_type, true),
        );
        let name = format!("{tx_type} fraud");
        let (share_r, share_s) = (r.len() as f64 / real_frauds, s.len() as f64 / sim_frauds);
        misses.check(
            format!("{name}: share of fraud rows"),
            share_r,
            share_s,
            0.02,
        );
        misses.group(&name, &r, &s);
    }
    misses.assert_none("fraud");
}

#[test]
fn each_types_fraud_share_matches_at_the_natural_rate() {
    let mut misses = Misses::default();
    for tx_type in [TxType::Transfer, TxType::CashOut] {
        let real_frauds = group(real(), tx_type, true).len() as f64;
        let real_legit = group(real(), tx_type, false).len() as f64 * LEGIT_WEIGHT;
        let real_share = real_frauds / (real_frauds + real_legit);
        let sim_frauds = group(natural(), tx_type, true).len() as f64;
        let sim_share = sim_frauds / (sim_frauds + group(natural(), tx_type, false).len() as f64);
        let what = format!("{tx_type}: fraud share at the natural rate");
        misses.check(what, real_share, sim_share, 0.2 * real_share);
    }
    misses.assert_none("fraud share");
}

#[test]
fn accounts_are_named_as_paysim_names_them() {
    let mut misses = Misses::default();
    let ten_digits = |rows: &[Transaction]| {
        let all: Vec<&Transaction> = rows.iter().collect();
        share_of(&all, |t| t.name_orig.len() == 11)
    };
    misses.check(
        "origins with 10 digits".into(),
        ten_digits(real()),
        ten_digits(natural()),
        0.02,
    );
    // PaySim never cashes out a fraud from the account its fraud transfer paid.
    let cash_out_from_mule = |rows: &[Transaction]| {
        let mules: HashSet<&str> = rows
            .iter()
            .filter(|t| is_fraud(t) && t.tx_type == TxType::Transfer)
            .map(|t| t.name_dest.as_str())
            .collect();
        let cash_outs: Vec<&Transaction> = rows
            .iter()
            .filter(|t| is_fraud(t) && t.tx_type == TxType::CashOut)
            .collect();
        share_of(&cash_outs, |t| mules.contains(t.name_orig.as_str()))
    };
    let (r, s) = (
        cash_out_from_mule(real()),
        cash_out_from_mule(fraud_heavy()),
    );
    misses.check(
        "fraud cash-outs from the transfer's mule".into(),
        r,
        s,
        0.01,
    );
    misses.assert_none("account names");
}
