//! A spec's transaction, its whole feature vector put together, scored into a [`Verdict`] by the
//! decision code the backtest shares ([`aegis_core::decide::spec_verdict`]), escalated by the
//! rules in use (read against the spec: docs/rules.md).

use aegis_core::avro::{AvroCodec, Framing, WireRecord};
use aegis_core::rules::RuleSet;
use aegis_core::{Decision, Model, Verdict};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::settle::Written;
use super::Plan;

/// The verdict on `wire` with its `features` (spec order) under `model` and `rules`, made at
/// `now_ms`; `probability` is the model's on `features` when already computed with others
/// (`Model::probabilities`), else `None`.
pub fn verdict(
    plan: &Plan,
    model: &Model,
    rules: &RuleSet,
    wire: &WireRecord,
    features: Vec<f64>,
    probability: Option<f64>,
    now_ms: i64,
) -> Verdict {
    aegis_core::decide::spec_verdict(
        model,
        rules,
        &plan.codec,
        &wire.tx_id,
        &wire.record,
        features,
        probability,
        now_ms,
    )
}

/// Writes `verdict` to `topic` (key = its account) for its batch; it is counted once
/// acknowledged.
pub async fn write(
    producer: &FutureProducer,
    topic: &str,
    verdict: Verdict,
    written: &mut Written,
) -> anyhow::Result<()> {
    written
        .deliveries
        .push(send(producer, topic, &verdict).await?);
    written.verdicts.push(verdict);
    Ok(())
}

/// Writes the shadow model's verdict `shadow` to `topic`, beside the live model's decision
/// `live` on the same transaction (their agreement is counted once acknowledged).
pub async fn write_shadow(
    producer: &FutureProducer,
    topic: &str,
    live: Decision,
    shadow: &Verdict,
    written: &mut Written,
) -> anyhow::Result<()> {
    written
        .shadow_deliveries
        .push(send(producer, topic, shadow).await?);
    written.shadow_decisions.push((live, shadow.decision));
    Ok(())
}

/// Enqueues `verdict`, encoded, to `topic`, keyed by its account.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    verdict: &Verdict,
) -> anyhow::Result<DeliveryFuture> {
    let value = encode(verdict, Framing::SingleObject)?;
    let record = FutureRecord::to(topic)
        .key(verdict.account.as_bytes())
        .payload(value.as_slice());
    super::key_stage::send(producer, record).await
}

/// A verdict's encoding.
pub fn encode(verdict: &Verdict, framing: Framing) -> anyhow::Result<Vec<u8>> {
    AvroCodec::verdict()
        .encode(verdict, framing)
        .map_err(|e| anyhow::anyhow!("cannot encode the verdict of {}: {e}", verdict.tx_id))
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::{Path, PathBuf};

    use aegis_core::spec::engine::FeatureEngine;
    use aegis_core::spec::entities::EntityLimits;
    use aegis_core::spec::record::RecordReader;
    use aegis_core::spec::Spec;
    use aegis_core::Decision;

    use super::*;

    fn repository(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
    }

    /// A small card model, trained with the trainer's own code on the card sample.
    pub(crate) fn cards_model(data: &Path, dir: &Path) -> Model {
        let out = dir.join("cards.model");
        aegis_trainer::train::run(&aegis_trainer::TrainArgs {
            trees: Some(20),
            max_depth: Some(8),
            spec: Some(repository("specs/cards.toml")),
            ..aegis_trainer::TrainArgs::new(data.to_owned(), out.clone())
        })
        .unwrap();
        Model::load(&out).unwrap()
    }

    #[test]
    fn every_flagged_card_verdict_explains_its_raw_score_to_1e_9() {
        let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
        let data = repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv");
        let dir = tempfile::tempdir().unwrap();
        let model = cards_model(&data, dir.path());
        let plan = Plan::new(&spec, "cards", EntityLimits::NONE).unwrap();
        let rules = RuleSet::from_json_for(
            &std::fs::read(repository("deploy/rules/cards.json")).unwrap(),
            &spec,
        )
        .unwrap();
        let flag_all = RuleSet::from_json_for(
            br#"{"name":"all","version":1,"rules":[{"name":"any","action":"REVIEW","reason":"every payment","when":[{"field":"TX_AMOUNT","op":">=","value":0}]}]}"#,
            &spec,
        )
        .unwrap();
        let mut records: Vec<_> = RecordReader::open(&spec, &data)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        records.sort_by_key(|r| r.event_time_ms); // stable: the trainer's order
        let mut engine = FeatureEngine::new(&spec);
        let (mut flagged, mut with_rules, mut allowed) = (0, 0, 0);
        for record in records {
            let mut features = Vec::new();
            engine.observe(&record, &mut features);
            let wire = WireRecord {
                tx_id: engine.id_of(&record).to_string(),
                record,
            };
            // A rule flagging every payment: what the model allowed gets its explanation too.
            let all = verdict(&plan, &model, &flag_all, &wire, features.clone(), None, 0);
            assert_eq!(all.decision.max(Decision::Review), all.decision);
            let v = verdict(&plan, &model, &rules, &wire, features.clone(), None, 0);
            assert_eq!(
                all.explanation.as_ref().unwrap().raw_score,
                model.raw_score(&features)
            );
            let Some(e) = &v.explanation else {
                assert_eq!(v.decision, Decision::Allow, "{v:?}");
                assert_eq!(all.explanation, Some(model.explain(&features)));
                allowed += 1;
                continue;
            };
            assert_eq!(all.explanation.as_ref(), Some(e));
            flagged += 1;
            with_rules += usize::from(!v.rules.is_empty());
            // The raw score is the forest's own, computed apart from the contributions.
            assert_eq!(e.raw_score.to_bits(), model.raw_score(&features).to_bits());
            assert_eq!(model.calibrated(e.raw_score), v.fraud_probability);
            assert!(
                (e.total() - e.raw_score).abs() <= 1e-9,
                "{}: base {} + contributions = {}, raw score {}",
                v.tx_id,
                e.base_score,
                e.total(),
                e.raw_score
            );
            for c in &e.contributions {
                let at = model.features().iter().position(|f| *f == c.feature);
                assert_eq!(c.value.to_bits(), features[at.unwrap()].to_bits(), "{c:?}");
            }
        }
        // Hundreds flagged, some of them by the card rule too (its reason first, the model's
        // explanation still there); most allowed. (A rule flagging what the model allowed gets
        // the model's explanation too: aegis-core's decide tests.)
        assert!(
            flagged > 100 && with_rules > 10 && allowed > 10 * flagged,
            "{flagged} flagged, {with_rules} with rules, {allowed} allowed"
        );
    }
}
