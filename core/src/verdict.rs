//! What the scorer says about one transaction, and the thresholds that turn a probability into it.

use serde::{Deserialize, Serialize};

use crate::model::Score;
use crate::transaction::{Transaction, TxType};

/// What to do with a transaction. Ordered by severity: `Allow < Review < Block`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Let the payment through.
    Allow,
    /// Let it through but queue it for an analyst.
    Review,
    /// Stop the payment.
    Block,
}

impl Decision {
    /// Every decision, least severe first.
    pub const ALL: [Decision; 3] = [Decision::Allow, Decision::Review, Decision::Block];

    /// The name used in Avro, JSON, CSV and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "ALLOW",
            Decision::Review => "REVIEW",
            Decision::Block => "BLOCK",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Probability cut-offs: `p >= block` blocks, `p >= review` reviews, anything lower is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Lowest fraud probability that sends a transaction to review.
    pub review: f64,
    /// Lowest fraud probability that blocks a transaction.
    pub block: f64,
}

/// Thresholds that cannot be used: out of [0, 1] or review above block.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "invalid thresholds review={review}, block={block}: both must be in [0, 1] and review <= block"
)]
pub struct InvalidThresholds {
    /// The review threshold given.
    pub review: f64,
    /// The block threshold given.
    pub block: f64,
}

impl Thresholds {
    /// Checked constructor.
    pub fn new(review: f64, block: f64) -> Result<Self, InvalidThresholds> {
        let in_unit = |p: f64| (0.0..=1.0).contains(&p);
        if in_unit(review) && in_unit(block) && review <= block {
            Ok(Thresholds { review, block })
        } else {
            Err(InvalidThresholds { review, block })
        }
    }

    /// The decision for a fraud probability.
    pub fn decide(&self, fraud_probability: f64) -> Decision {
        if fraud_probability >= self.block {
            Decision::Block
        } else if fraud_probability >= self.review {
            Decision::Review
        } else {
            Decision::Allow
        }
    }
}

/// The scorer's output for one transaction, as written to the `verdicts` topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The transaction's id.
    pub tx_id: String,
    /// The origin account (`name_orig`); also the Kafka key.
    pub account: String,
    /// The transaction's amount.
    pub amount: f64,
    /// The transaction's type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// When the transaction happened, milliseconds since the Unix epoch (UTC).
    pub event_time: i64,
    /// The model's fraud probability in [0, 1].
    pub fraud_probability: f64,
    /// What to do with the transaction.
    pub decision: Decision,
    /// The features that pushed the probability up most, most important first.
    pub reasons: Vec<String>,
    /// Version (content hash) of the model that scored it.
    pub model_version: String,
    /// When the verdict was made, milliseconds since the Unix epoch (UTC).
    pub scored_at: i64,
    /// Names of the rules that fired (see [`crate::rules`]); empty when none did.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The model's input, in the order of [`crate::Model::features`], for a model of a spec
    /// other than PaySim; empty for PaySim verdicts.
    #[serde(default)]
    pub features: Vec<f64>,
    /// Why the model scored as it did, as data: present on every REVIEW and BLOCK verdict
    /// (whether the model or a rule flagged it), absent on ALLOW verdicts and on verdicts written
    /// before explanations.
    #[serde(default)]
    pub explanation: Option<Explanation>,
}

/// The model's score of one transaction split into a base value and one contribution per feature,
/// in units of the forest's raw score: `base_score + Σ contribution = raw_score` (to rounding,
/// within 1e-9). They are path contributions (Saabas): along each tree's path, each split's
/// change in node value is credited to the split's feature, averaged over the trees — exact
/// Shapley values (TreeSHAP) need each node's training-sample count, which the model artifact
/// does not keep.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The forest's score before any feature is looked at: the mean of its trees' root values,
    /// the same for every transaction the model scores.
    pub base_score: f64,
    /// The forest's raw score of this transaction (the mean of its trees' leaves), before
    /// calibration turns it into `fraud_probability`.
    pub raw_score: f64,
    /// Every feature whose contribution is not zero, largest absolute contribution first (ties
    /// in the model's feature order).
    pub contributions: Vec<Contribution>,
}

/// One feature's share of a score (see [`Explanation`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The feature's name, as the model lists it (`GET /v1/model`).
    pub feature: String,
    /// The feature's value for this transaction.
    pub value: f64,
    /// How much it moved the raw score: positive towards fraud, negative away from it.
    pub contribution: f64,
}

impl Explanation {
    /// `base_score` plus every contribution: equal to `raw_score` up to rounding.
    pub fn total(&self) -> f64 {
        self.base_score
            + self
                .contributions
                .iter()
                .map(|c| c.contribution)
                .sum::<f64>()
    }
}

impl Verdict {
    /// The verdict on `tx`: its id, account, amount, type and event time, with `score`, the
    /// version of the model that gave it, and when.
    pub fn of(tx: &Transaction, score: Score, model_version: &str, scored_at: i64) -> Verdict {
        Verdict {
            tx_id: tx.tx_id.clone(),
            account: tx.name_orig.clone(),
            amount: tx.amount,
            tx_type: tx.tx_type,
            event_time: tx.event_time,
            fraud_probability: score.fraud_probability,
            decision: score.decision,
            reasons: score.reasons,
            model_version: model_version.to_owned(),
            scored_at,
            rules: Vec::new(),
            features: Vec::new(),
            explanation: score.explanation,
        }
    }

    /// Whether it is flagged (REVIEW or BLOCK) but carries no explanation yet: a rule escalated
    /// what the model allowed, so the model's explanation is still to be added.
    pub fn lacks_explanation(&self) -> bool {
        self.decision != Decision::Allow && self.explanation.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_by_severity() {
        let t = Thresholds::new(0.2, 0.9).unwrap();
        assert_eq!(t.decide(0.0), Decision::Allow);
        assert_eq!(t.decide(0.19), Decision::Allow);
        assert_eq!(t.decide(0.2), Decision::Review);
        assert_eq!(t.decide(0.9), Decision::Block);
        assert_eq!(t.decide(1.0), Decision::Block);
        assert!(Thresholds::new(0.9, 0.2).is_err());
        assert!(Thresholds::new(-0.1, 0.2).is_err());
        assert!(Thresholds::new(0.1, f64::NAN).is_err());
    }

    #[test]
    fn decisions_serialize_as_avro_symbols() {
        let names: Vec<String> = Decision::ALL
            .iter()
            .map(|d| serde_json::to_string(d).unwrap())
            .collect();
        assert_eq!(names, ["\"ALLOW\"", "\"REVIEW\"", "\"BLOCK\""]);
    }
}
