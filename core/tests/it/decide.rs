//! `aegis_core::decide`: the model's decision escalated by the rules, given the account's state.

use aegis_core::account_state::{AccountHistory, StateParams};
use aegis_core::decide::{decide, first_of_its_account};
use aegis_core::rules::RuleSet;
use aegis_core::{Decision, Transaction, TxType};

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
