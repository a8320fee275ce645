//! A spec's transaction, its whole feature vector put together, scored into a [`Verdict`] by the
//! decision code the backtest shares ([`aegis_core::decide::spec_verdict`]), escalated by the
//! rules in use (read against the spec: docs/rules.md).

use aegis_core::avro::{AvroCodec, Framing, WireRecord};
use aegis_core::rules::RuleSet;
use aegis_core::{Model, Verdict};

use super::Plan;

/// The verdict on `wire` with its `features` (spec order) under `model` and `rules`, made at
/// `now_ms`.
pub fn verdict(
    plan: &Plan,
    model: &Model,
    rules: &RuleSet,
    wire: &WireRecord,
    features: Vec<f64>,
    now_ms: i64,
) -> Verdict {
    aegis_core::decide::spec_verdict(
        model,
        rules,
        &plan.codec,
        &wire.tx_id,
        &wire.record,
        features,
        now_ms,
    )
}

/// A verdict's encoding.
pub fn encode(verdict: &Verdict, framing: Framing) -> anyhow::Result<Vec<u8>> {
    AvroCodec::verdict()
        .encode(verdict, framing)
        .map_err(|e| anyhow::anyhow!("cannot encode the verdict of {}: {e}", verdict.tx_id))
}
