//! The simulator against its measured profiles and PaySim's fraud pattern, on fixed seeds. (How
//! close it comes to the samples themselves: `tests/it/fidelity.rs`.)

use std::collections::HashSet;

use super::profile::{LnQuantiles, LEVELS};
use super::*;

fn sim(seed: u64, fraud_rate: f64, takeover_every: Option<u64>) -> Simulator {
    Simulator::new(SimulationParams {
        seed,
        fraud_rate,
        takeover_every,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[test]
fn same_seed_same_transactions() {
    let a: Vec<_> = sim(7, 0.0013, Some(100)).take(1_000).collect();
    let b: Vec<_> = sim(7, 0.0013, Some(100)).take(1_000).collect();
    let c: Vec<_> = sim(8, 0.0013, Some(100)).take(1_000).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn profiles_are_consistent() {
    for (profile, tx_type) in PAYSIM.types.iter().zip(TxType::ALL) {
        assert_eq!(profile.tx_type, tx_type);
        assert_eq!(profile.destination.is_none(), tx_type == TxType::Payment);
    }
    let total: f64 = PAYSIM.types.iter().map(|p| p.share).sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    let hours: f64 = PAYSIM.steps.hours.iter().sum();
    assert!((hours - 1.0).abs() < 1e-4, "{hours}");
    let tables = PAYSIM
        .types
        .iter()
        .flat_map(|p| [p.amount, p.origin.positive])
        .chain([
            PAYSIM.later_credit,
            PAYSIM.later_debit,
            PAYSIM.fraud.victim.positive,
        ]);
    for table in tables {
        assert!(table.0.windows(2).all(|w| w[0] <= w[1]), "{table:?}");
    }
    const { assert!(PAYSIM.fraud.rows_per_event >= 1.0) };
}

#[test]
fn quantile_tables_are_inverted_linearly_between_levels() {
    let mut table = [0.0; LEVELS.len()];
    for (slot, level) in table.iter_mut().zip(LEVELS) {
        *slot = 10.0 * level;
    }
    let table = LnQuantiles(table);
    for p in [0.0, 0.0015, 0.3, 0.42, 0.9999, 1.0] {
        assert!((table.at(p) - 10.0 * p).abs() < 1e-9, "{p}");
    }
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..1_000 {
        let x = table.sample(&mut rng).ln();
        assert!((0.0..=10.0).contains(&x), "{x}");
    }
}

#[test]
fn fraud_rate_is_near_the_configured_one() {
    let n = 200_000;
    for rate in [0.0, 0.0013, 0.01] {
        let frauds = sim(1, rate, None)
            .take(n)
            .filter(|t| t.is_fraud == Some(true))
            .count() as f64;
        let got = frauds / n as f64;
        // ±25 % of the rate, or a handful of transactions when it is 0.
        assert!((got - rate).abs() <= rate * 0.25, "{rate}: {got}");
    }
}

#[test]
fn legit_traffic_follows_the_profiles() {
    let n = 200_000;
    let txs: Vec<_> = sim(2, 0.0013, None).take(n).collect();
    let ids: HashSet<_> = txs.iter().map(|t| &t.tx_id).collect();
    assert_eq!(ids.len(), n, "tx ids are unique");
    for tx in &txs {
        tx.validate().unwrap();
        assert!(tx.name_orig.starts_with('C') && tx.name_orig[1..].parse::<u32>().is_ok());
        assert_eq!(tx.step, 1);
    }
    for profile in PAYSIM.types {
        let ty = profile.tx_type;
        let legit: Vec<_> = txs
            .iter()
            .filter(|t| t.tx_type == ty && t.is_fraud == Some(false))
            .collect();
        let share = legit.len() as f64 / n as f64;
        assert!((share - profile.share).abs() < 0.01, "{ty}: {share}");
        let ln_amount = median(legit.iter().map(|t| t.amount.ln()).collect());
        assert!(
            (ln_amount - profile.amount.at(0.5)).abs() < 0.1,
            "{ty}: {ln_amount}"
        );
        let zero_orig = legit.iter().filter(|t| t.old_balance_orig == 0.0).count() as f64;
        let zero_orig = zero_orig / legit.len() as f64;
        assert!(
            (zero_orig - profile.origin.zero).abs() < 0.03,
            "{ty}: {zero_orig}"
        );
        for t in &legit {
            let expected = if ty == TxType::CashIn {
                t.old_balance_orig + t.amount
            } else {
                (t.old_balance_orig - t.amount).max(0.0)
            };
            assert!((t.new_balance_orig - expected).abs() < 0.011, "{t:?}");
            if ty == TxType::Payment {
                assert!(t.name_dest.starts_with('M'), "merchants are paid");
                assert_eq!((t.old_balance_dest, t.new_balance_dest), (0.0, 0.0));
            } else {
                assert!(t.name_dest.starts_with('C'));
                assert!(t.new_balance_dest >= 0.0);
            }
        }
    }
}

#[test]
fn fraud_drains_the_victim_then_cashes_out_from_another_account() {
    let fraud = PAYSIM.fraud;
    let txs: Vec<_> = sim(3, 0.05, None).take(40_000).collect();
    let mut victims = Vec::new();
    for w in txs.windows(2) {
        let (t, c) = (&w[0], &w[1]);
        let pair = [t.is_fraud, c.is_fraud] == [Some(true); 2]
            && (t.tx_type, c.tx_type) == (TxType::Transfer, TxType::CashOut)
            && t.amount == c.amount;
        if pair {
            assert!(t.amount <= fraud.max_transfer);
            assert!((t.old_balance_orig - t.new_balance_orig - t.amount).abs() < 0.011);
            assert_ne!(
                c.name_orig, t.name_dest,
                "PaySim never cashes out from the mule"
            );
            assert_eq!((c.old_balance_orig, c.new_balance_orig), (c.amount, 0.0));
            if t.new_balance_orig == 0.0 {
                victims.push(t.amount.ln());
            }
        }
    }
    assert!(victims.len() > 300, "{}", victims.len());
    // Victims emptied in one transfer are those up to the largest transfer.
    let ln_median = median(victims);
    assert!(
        (ln_median - fraud.victim.positive.at(0.5)).abs() < 0.3,
        "{ln_median}"
    );
}

#[test]
fn balances_over_the_largest_transfer_go_in_pieces_with_a_flagged_remainder_now_and_then() {
    let max = PAYSIM.fraud.max_transfer;
    let mut simulator = sim(4, 0.2, None);
    let rows: Vec<_> = (0..200_000).map(|_| simulator.next_row()).collect();
    let pieces = rows
        .iter()
        .filter(|r| r.transaction.amount == max && r.transaction.new_balance_orig > 0.0)
        .count();
    let flagged: Vec<_> = rows.iter().filter(|r| r.is_flagged_fraud).collect();
    assert!(pieces > 50, "{pieces}");
    assert!(!flagged.is_empty());
    for r in flagged {
        let t = &r.transaction;
        assert_eq!(t.tx_type, TxType::Transfer);
        assert_eq!(t.is_fraud, Some(true));
        assert!(t.amount < max);
        assert_eq!(
            (t.old_balance_orig, t.new_balance_orig),
            (t.amount, t.amount)
        );
    }
}

#[test]
fn takeover_is_a_small_payment_then_an_emptying_transfer() {
    let txs: Vec<_> = sim(5, 0.0, Some(50)).take(1_000).collect();
    let mut seen = 0;
    for w in txs.windows(2) {
        if w[0].tx_type == TxType::Payment
            && w[1].tx_type == TxType::Transfer
            && w[0].name_orig == w[1].name_orig
        {
            assert!(w[0].amount < 100.0);
            assert!(
                w[0].new_balance_orig > 100.0 * w[0].amount,
                "balance left large"
            );
            assert_eq!(w[0].is_fraud, Some(false));
            assert_eq!(w[1].old_balance_orig, w[0].new_balance_orig);
            assert_eq!(w[1].amount, w[1].old_balance_orig);
            assert_eq!(w[1].new_balance_orig, 0.0);
            assert_eq!(w[1].is_fraud, Some(true));
            seen += 1;
        }
    }
    assert_eq!(seen, 1_000 / 50 - 1, "one takeover every 50 transactions");
}
