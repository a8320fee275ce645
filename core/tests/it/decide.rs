//! `aegis_core::decide`: the model's decision escalated by the rules, given the account's state.

use aegis_core::account_state::{AccountHistory, StateParams};
use aegis_core::decide::{decide, first_of_its_account};
use aegis_core::rules::RuleSet;
use aegis_core::{features, Decision, Transaction, TxType};

use crate::small_model;

#[test]
fn the_rules_escalate_the_models_decision_given_the_accounts_state() {
    let rules = RuleSet::from_json(include_bytes!("../../../deploy/rules/default.json")).unwrap();
    let model = small_model("decide");
    let params = StateParams::default();
    let mut probe = Transaction::takeover_example();
    probe.tx_type = TxType::Payment;
    probe.amount = 9.5;
    probe.new_balance_orig = probe.old_balance_orig - 9.5;
    let mut drain = Transaction::takeover_example();
    drain.event_time = probe.event_time + 60_000;
    let mut history = AccountHistory::default();
    let probe_state = history.observe(&probe, 0, &params);
    let drain_state = history.observe(&drain, 1, &params);

    let with_state = decide(
        &model,
        &rules,
        &[&probe, &drain],
        &[probe_state, drain_state],
        7,
    );
    assert_eq!(with_state[1].decision, Decision::Block);
    assert_eq!(with_state[1].rules, ["drain_after_probe"]);
    assert!(with_state[1].reasons[0].starts_with("rule drain_after_probe"));
    // The model alone, without the rules: the same score.
    let model_only = model.verdicts(&[&probe, &drain], 7);
    assert_eq!(
        model_only[1].fraud_probability,
        with_state[1].fraud_probability
    );

    // Without the probe before it, the drain is judged as its account's first transaction.
    let alone = decide(
        &model,
        &rules,
        &[&drain],
        &[first_of_its_account(&drain, &params)],
        7,
    );
    assert!(alone[0].rules.is_empty());
    assert_eq!(alone, decide(&model, &rules, &[&drain], &[], 7));
    assert_eq!(alone[0].scored_at, 7);
}

/// Transactions of every type over a grid of amounts and balances, each its account's first.
fn grid() -> Vec<Transaction> {
    let mut txs = Vec::new();
    for (t, tx_type) in TxType::ALL.into_iter().enumerate() {
        for amount in [9.5, 900.0, 150_000.0, 250_000.0] {
            for old_balance in [0.0, 500.0, 300_000.0] {
                let mut tx = Transaction::takeover_example();
                tx.tx_id = format!("g-{t}-{amount}-{old_balance}");
                tx.tx_type = tx_type;
                tx.amount = amount;
                tx.old_balance_orig = old_balance;
                tx.new_balance_orig = (old_balance - amount).max(0.0);
                txs.push(tx);
            }
        }
    }
    txs
}

#[test]
fn every_flagged_verdict_carries_contributions_that_sum_to_its_raw_score() {
    let model = small_model("explain");
    // A monitor-style rule that flags everything: verdicts the model allowed are REVIEWed by it.
    let flag_all = RuleSet::from_json(
        br#"{"name":"all","version":1,"rules":[{"name":"any","action":"REVIEW","reason":"every payment","when":[{"field":"amount","op":">=","value":0}]}]}"#,
    )
    .unwrap();
    let none = RuleSet::from_json(br#"{"name":"none","version":1,"rules":[]}"#).unwrap();
    let txs = grid();
    let refs: Vec<&Transaction> = txs.iter().collect();
    let by_model = decide(&model, &none, &refs, &[], 7);
    let by_rule = decide(&model, &flag_all, &refs, &[], 7);
    let decisions =
        |vs: &[aegis_core::Verdict], d: Decision| vs.iter().filter(|v| v.decision == d).count();
    assert!(decisions(&by_model, Decision::Allow) > 0, "some allowed");
    assert!(decisions(&by_model, Decision::Review) > 0, "some flagged");
    assert_eq!(decisions(&by_rule, Decision::Allow), 0);

    let mut base = None;
    for (i, v) in by_model.iter().chain(&by_rule).enumerate() {
        let tx = &txs[i % txs.len()];
        let Some(e) = &v.explanation else {
            assert_eq!(v.decision, Decision::Allow, "{v:?}");
            continue;
        };
        assert_ne!(v.decision, Decision::Allow);
        let row = features::extract(tx);
        // The raw score is the forest's, and the probability its calibration.
        assert_eq!(e.raw_score.to_bits(), model.raw_score(&row).to_bits());
        assert_eq!(model.calibrated(e.raw_score), v.fraud_probability);
        assert!(
            (e.total() - e.raw_score).abs() <= 1e-9,
            "{} + contributions = {}, raw score {}",
            e.base_score,
            e.total(),
            e.raw_score
        );
        // One base value per model; every non-zero contribution, largest first, with its value.
        assert_eq!(*base.get_or_insert(e.base_score), e.base_score);
        assert!(e.contributions.iter().all(|c| c.contribution != 0.0));
        assert!(e
            .contributions
            .windows(2)
            .all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
        for c in &e.contributions {
            let at = features::index_of(&c.feature).unwrap();
            assert_eq!(c.value, row[at], "{c:?}");
        }
        // The model's reasons are read from the same explanation.
        if v.rules.is_empty() {
            assert_eq!(v.reasons, model.reasons_of(e));
        }
    }
    // The rule flagged verdicts the model allowed, and they carry the model's explanation.
    let escalated = by_model
        .iter()
        .zip(&by_rule)
        .filter(|(m, _)| m.decision == Decision::Allow)
        .count();
    assert!(escalated > 0);
    assert!(by_rule.iter().all(|v| v.explanation.is_some()));
}
