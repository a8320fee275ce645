//! A verdict joined with the label of its transaction: the type behind `schemas/outcome.avsc`
//! (topic `outcomes`, key = account), and the confusion cell it falls in.

use serde::{Deserialize, Serialize};

use crate::label::{class_of, Label};
use crate::transaction::TxType;
use crate::verdict::{Decision, Verdict};

/// What the scorer decided about a transaction and what the transaction turned out to be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Id of the transaction.
    pub tx_id: String,
    /// The origin account; also the Kafka key.
    pub account: String,
    /// The verdict's decision.
    pub decision: Decision,
    /// The verdict's fraud probability in [0, 1].
    pub fraud_probability: f64,
    /// The transaction's amount.
    pub amount: f64,
    /// The transaction's type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Version of the model that made the verdict.
    pub model_version: String,
    /// When the transaction happened, milliseconds since the Unix epoch (UTC).
    pub event_time: i64,
    /// When the verdict was made, milliseconds since the Unix epoch (UTC).
    pub scored_at: i64,
    /// The label: whether the transaction was fraud.
    pub is_fraud: bool,
    /// When the label became known, milliseconds since the Unix epoch (UTC).
    pub labelled_at: i64,
    /// The label's source, if it said.
    #[serde(default)]
    pub label_source: Option<String>,
    /// `labelled_at − scored_at`, milliseconds (negative if the label came first).
    pub verdict_to_label_ms: i64,
    /// When the verdict and the label were joined, milliseconds since the Unix epoch (UTC).
    pub joined_at: i64,
    /// The rules that fired for the transaction (the verdict's `rules`), whatever their action:
    /// what judges a rule in monitor mode.
    #[serde(default)]
    pub rules_fired: Vec<String>,
}

impl Outcome {
    /// The outcome of `verdict` once `label` (of the same transaction) is known, joined at
    /// `joined_at`.
    pub fn join(verdict: &Verdict, label: &Label, joined_at: i64) -> Outcome {
        debug_assert_eq!(verdict.tx_id, label.tx_id);
        Outcome {
            tx_id: verdict.tx_id.clone(),
            account: verdict.account.clone(),
            decision: verdict.decision,
            fraud_probability: verdict.fraud_probability,
            amount: verdict.amount,
            tx_type: verdict.tx_type,
            model_version: verdict.model_version.clone(),
            event_time: verdict.event_time,
            scored_at: verdict.scored_at,
            is_fraud: label.is_fraud,
            labelled_at: label.labelled_at,
            label_source: label.source.clone(),
            verdict_to_label_ms: label.labelled_at.saturating_sub(verdict.scored_at),
            joined_at,
            rules_fired: verdict.rules.clone(),
        }
    }

    /// The label's class as a metric label value: `fraud` or `legit`.
    pub fn class(&self) -> &'static str {
        class_of(self.is_fraud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Score;
    use crate::transaction::Transaction;

    #[test]
    fn an_outcome_carries_the_verdict_and_the_label() {
        let tx = Transaction::takeover_example();
        let score = Score {
            fraud_probability: 0.97,
            decision: Decision::Block,
            reasons: vec!["amount".into()],
            explanation: None,
        };
        let mut verdict = Verdict::of(&tx, score, "rf-1", 1_000);
        verdict.rules = vec!["drain_after_probe".into()];
        let label = Label {
            tx_id: tx.tx_id.clone(),
            is_fraud: true,
            labelled_at: 4_500,
            source: Some("chargeback".into()),
            event_time: Some(tx.event_time),
        };
        let outcome = Outcome::join(&verdict, &label, 5_000);
        assert_eq!(outcome.account, tx.name_orig);
        assert_eq!(outcome.decision, Decision::Block);
        assert_eq!(outcome.amount, 181_000.0);
        assert_eq!(outcome.verdict_to_label_ms, 3_500);
        assert_eq!(outcome.class(), "fraud");
        assert_eq!(outcome.label_source.as_deref(), Some("chargeback"));
        assert_eq!(outcome.rules_fired, ["drain_after_probe"]);
    }
}
