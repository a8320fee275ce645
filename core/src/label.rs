//! The ground truth about a transaction, learnt after the fact: the type behind
//! `schemas/label.avsc` (topic `labels`, key = the transaction's origin account).

use serde::{Deserialize, Serialize};

use crate::transaction::Transaction;

/// Whether a transaction was fraud, and when that became known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Id of the transaction this label is about.
    pub tx_id: String,
    /// Whether the transaction was fraud.
    pub is_fraud: bool,
    /// When the label became known, milliseconds since the Unix epoch (UTC).
    pub labelled_at: i64,
    /// Where the label comes from (chargeback, analyst, replay, simulation), if said.
    #[serde(default)]
    pub source: Option<String>,
    /// When the labelled transaction happened, milliseconds since the Unix epoch (UTC), if the
    /// labeller knows it: where the outcome service looks for a verdict that has left its
    /// in-memory join.
    #[serde(default)]
    pub event_time: Option<i64>,
}

impl Label {
    /// The label of `tx`, known at `labelled_at`, if the transaction carries one (replayed PaySim
    /// rows and simulated traffic do; live traffic does not).
    pub fn of(tx: &Transaction, labelled_at: i64, source: Option<&str>) -> Option<Label> {
        tx.is_fraud.map(|is_fraud| Label {
            tx_id: tx.tx_id.clone(),
            is_fraud,
            labelled_at,
            source: source.map(str::to_owned),
            event_time: Some(tx.event_time),
        })
    }

    /// The label's class as a metric label value: `fraud` or `legit`.
    pub fn class(&self) -> &'static str {
        class_of(self.is_fraud)
    }
}

/// The label sources metrics tell apart (the closed set of the `source` metric label), besides
/// `other` (any other name) and `none` (a label that did not say).
pub const LABEL_SOURCES: [&str; 6] = [
    "chargeback",
    "analyst",
    "replay",
    "simulation",
    "other",
    "none",
];

/// The `source` metric label of a label's source: its name if one of [`LABEL_SOURCES`], else
/// `other`; `none` when it did not say.
pub fn source_class(source: Option<&str>) -> &'static str {
    match source {
        None => "none",
        Some(name) => LABEL_SOURCES[..4]
            .iter()
            .find(|known| known.eq_ignore_ascii_case(name))
            .copied()
            .unwrap_or("other"),
    }
}

/// `fraud` or `legit`: the closed set of the `label` metric label.
pub fn class_of(is_fraud: bool) -> &'static str {
    if is_fraud {
        "fraud"
    } else {
        "legit"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_had_only_from_a_labelled_transaction() {
        let mut tx = Transaction::takeover_example();
        assert_eq!(Label::of(&tx, 5, None), None);
        tx.is_fraud = Some(true);
        let label = Label::of(&tx, 5, Some("replay")).unwrap();
        assert_eq!(label.tx_id, tx.tx_id);
        assert!(label.is_fraud);
        assert_eq!(label.source.as_deref(), Some("replay"));
        assert_eq!(label.event_time, Some(tx.event_time));
        assert_eq!(label.class(), "fraud");
    }

    #[test]
    fn label_sources_are_a_closed_set() {
        assert_eq!(source_class(Some("analyst")), "analyst");
        assert_eq!(source_class(Some("Chargeback")), "chargeback");
        assert_eq!(source_class(Some("acme-case-42")), "other");
        assert_eq!(source_class(None), "none");
    }
}
