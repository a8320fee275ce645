//! The simulator against the PaySim samples' shape and fraud pattern, on fixed seeds.

use std::collections::HashSet;

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
    assert_eq!(PROFILES[CASH_OUT].tx_type, TxType::CashOut);
    let total: f64 = PROFILES.iter().map(|p| p.share).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
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
fn legit_traffic_has_the_samples_type_mix_amounts_and_balances() {
    let n = 200_000;
    let txs: Vec<_> = sim(2, 0.0013, None).take(n).collect();
    let ids: HashSet<_> = txs.iter().map(|t| &t.tx_id).collect();
    assert_eq!(ids.len(), n, "tx ids are unique");
    for tx in &txs {
        tx.validate().unwrap();
        assert!(tx.name_orig.starts_with('C') && tx.name_orig[1..].parse::<u64>().is_ok());
    }
    for profile in PROFILES {
        let legit: Vec<_> = txs
            .iter()
            .filter(|t| t.tx_type == profile.tx_type && t.is_fraud == Some(false))
            .collect();
        let share = legit.len() as f64 / n as f64;
        let ty = profile.tx_type;
        assert!((share - profile.share).abs() < 0.01, "{ty}: {share}");
        let ln_amount = median(legit.iter().map(|t| t.amount.ln()).collect());
        assert!(
            (ln_amount - profile.amount.0).abs() < 0.1,
            "{ty}: {ln_amount}"
        );
        let zero_orig = legit.iter().filter(|t| t.old_balance_orig == 0.0).count() as f64;
        let zero_orig = zero_orig / legit.len() as f64;
        assert!(
            (zero_orig - profile.zero_orig).abs() < 0.03,
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
            }
        }
    }
}

#[test]
fn fraud_empties_the_account_then_cashes_out_from_the_mule() {
    let txs: Vec<_> = sim(3, 0.05, None).take(20_000).collect();
    let mut amounts = Vec::new();
    for w in txs.windows(2) {
        let (t, c) = (&w[0], &w[1]);
        if t.is_fraud == Some(true) && t.tx_type == TxType::Transfer {
            assert_eq!(t.old_balance_orig, t.amount);
            assert_eq!(t.new_balance_orig, 0.0);
            assert_eq!((t.old_balance_dest, t.new_balance_dest), (0.0, 0.0));
            assert_eq!(c.tx_type, TxType::CashOut);
            assert_eq!(c.name_orig, t.name_dest, "cash-out from the mule");
            assert_eq!(c.amount, t.amount);
            assert_eq!((c.old_balance_orig, c.new_balance_orig), (c.amount, 0.0));
            assert_eq!(c.is_fraud, Some(true));
            assert!(t.amount <= MAX_TRANSFER);
            amounts.push(t.amount.ln());
        }
    }
    assert!(amounts.len() > 300, "{}", amounts.len());
    let ln_median = median(amounts);
    assert!((ln_median - FRAUD_AMOUNT.0).abs() < 0.3, "{ln_median}");
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
