//! A spec's transaction, its whole feature vector put together, scored into a [`Verdict`] and
//! escalated by the rules in use (read against the spec: docs/rules.md).

use aegis_core::avro::{AvroCodec, Framing, WireRecord};
use aegis_core::rules::RuleSet;
use aegis_core::spec::FieldRole;
use aegis_core::{Model, TxType, Verdict};

use super::Plan;

/// The verdict on `wire` with its `features` (spec order) under `model` and `rules`, made at
/// `now_ms`.
///
/// A spec's transaction has no PaySim type: its verdict says `PAYMENT`. The verdict carries the
/// features, so that what the stream computed can be checked against the trainer's, and when it
/// is REVIEW or BLOCK (by the model or a rule) the model's explanation.
pub fn verdict(
    plan: &Plan,
    model: &Model,
    rules: &RuleSet,
    wire: &WireRecord,
    features: Vec<f64>,
    now_ms: i64,
) -> Verdict {
    let record = &wire.record;
    let score = model.score_with(&features, model.probability(&features));
    let amount = plan
        .spec
        .fields
        .iter()
        .position(|f| f.role == FieldRole::Amount)
        .map_or(0.0, |i| record.values[i].number());
    let mut verdict = Verdict {
        tx_id: plan.codec.id(&wire.tx_id, record),
        account: plan.codec.key(record),
        amount,
        tx_type: TxType::Payment,
        event_time: record.event_time_ms,
        fraud_probability: score.fraud_probability,
        decision: score.decision,
        reasons: score.reasons,
        model_version: model.model_version().to_owned(),
        scored_at: now_ms,
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

/// A verdict's encoding.
pub fn encode(verdict: &Verdict, framing: Framing) -> anyhow::Result<Vec<u8>> {
    AvroCodec::verdict()
        .encode(verdict, framing)
        .map_err(|e| anyhow::anyhow!("cannot encode the verdict of {}: {e}", verdict.tx_id))
}
