//! The decision on transactions: the model's calibrated score and decision, then the rules over
//! each transaction, its score and its account's state features, which may escalate it. One pure
//! function, used by the scorer's stream (with the account state it keeps), by its
//! `POST /v1/score` (each transaction taken as its account's first) and by `aegis-trainer
//! backtest`, so all decide alike; [`spec_verdict`] is the same for a spec's record and its
//! features.

use crate::account_state::{AccountHistory, StateFeatures, StateParams};
use crate::avro::SpecCodec;
use crate::features;
use crate::model::Model;
use crate::rules::RuleSet;
use crate::spec::record::Record;
use crate::spec::FieldRole;
use crate::transaction::Transaction;
use crate::transaction::TxType;
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

/// The verdict on a spec's `record` (`tx_id` its id on the wire when the spec has no id field)
/// with its `features` (the spec's order) under `model` and `rules`, made at `scored_at`;
/// `probability` is the model's on `features` when already computed with other rows
/// (`Model::probabilities`, which gives the same figures), else `None`.
///
/// A spec's transaction has no PaySim type: its verdict says `PAYMENT`. The verdict carries the
/// features, so that what the stream computed can be checked against the trainer's, and when it
/// is REVIEW or BLOCK (by the model or a rule) the model's explanation.
#[allow(clippy::too_many_arguments)]
pub fn spec_verdict(
    model: &Model,
    rules: &RuleSet,
    codec: &SpecCodec,
    tx_id: &str,
    record: &Record,
    features: Vec<f64>,
    probability: Option<f64>,
    scored_at: i64,
) -> Verdict {
    let probability = probability.unwrap_or_else(|| model.probability(&features));
    let score = model.score_with(&features, probability);
    let amount = model
        .spec()
        .fields
        .iter()
        .position(|f| f.role == FieldRole::Amount)
        .map_or(0.0, |i| record.values[i].number());
    let mut verdict = Verdict {
        tx_id: codec.id(tx_id, record),
        account: codec.key(record),
        amount,
        tx_type: TxType::Payment,
        event_time: record.event_time_ms,
        fraud_probability: score.fraud_probability,
        decision: score.decision,
        reasons: score.reasons,
        model_version: model.model_version().to_owned(),
        scored_at,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: score.explanation,
    };
    rules.apply_on_spec(&mut verdict, record, &features);
    if verdict.lacks_explanation() {
        verdict.explanation = Some(model.explain(&features));
    }
    verdict.features = features;
    verdict
}
