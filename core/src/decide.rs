//! The decision on transactions: the model's calibrated score and decision, then the rules over
//! each transaction, its score and its account's state features, which may escalate it. One pure
//! function, used by the scorer's stream (with the account state it keeps) and by its
//! `POST /v1/score` (each transaction taken as its account's first), so both decide alike.

use crate::account_state::{AccountHistory, StateFeatures, StateParams};
use crate::features;
use crate::model::Model;
use crate::rules::RuleSet;
use crate::transaction::Transaction;
use crate::verdict::Verdict;

/// The verdicts on `txs`, in order, scored together by `model`'s compiled forest at `scored_at`
/// (milliseconds since the Unix epoch), then escalated by the `rules` that fire. `states[i]` is
/// what the account of `txs[i]` did before it; a missing entry counts as the account's first
/// transaction. Every REVIEW and BLOCK verdict carries the model's explanation, also when a rule
/// escalated what the model allowed.
pub fn decide(
    model: &Model,
    rules: &RuleSet,
    txs: &[&Transaction],
    states: &[StateFeatures],
    scored_at: i64,
) -> Vec<Verdict> {
    let mut verdicts = model.verdicts(txs, scored_at);
    let first = StateFeatures::default();
    for (i, (verdict, tx)) in verdicts.iter_mut().zip(txs).enumerate() {
        rules.apply(verdict, tx, states.get(i).unwrap_or(&first));
        if verdict.lacks_explanation() {
            verdict.explanation = Some(model.explain(&features::extract(tx)));
        }
    }
    verdicts
}

/// The state features of `tx` as its account's first transaction: what [`decide`] is given when
/// no state is kept (the scoring API).
pub fn first_of_its_account(tx: &Transaction, params: &StateParams) -> StateFeatures {
    AccountHistory::default().features(tx, 0, params)
}
