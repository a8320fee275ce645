//! The model artifact: round trip, a stable content-hash version, and one clear line for every
//! kind of bad file.

use std::path::Path;

use aegis_core::calibration::Calibration;
use aegis_core::model::PAYSIM_FORMAT;
use aegis_core::{Decision, Model, Transaction, TxType};

use crate::fitted_model;

fn small_model() -> Model {
    fitted_model(10, 8, "test")
}

fn tx(tx_type: TxType, amount: f64, old: f64, new: f64) -> Transaction {
    Transaction {
        tx_id: "t".into(),
        event_time: 0,
        step: 1,
        tx_type,
        amount,
        name_orig: "C1".into(),
        old_balance_orig: old,
        new_balance_orig: new,
        name_dest: "C2".into(),
        old_balance_dest: 0.0,
        new_balance_dest: 0.0,
        is_fraud: None,
    }
}

#[test]
fn artifact_round_trips_and_keeps_its_version() {
    let model = small_model();
    assert!(model.model_version().starts_with("rf-"));
    assert_eq!(model.model_version().len(), 15);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.model");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded, model);
    assert_eq!(loaded.format_version(), PAYSIM_FORMAT);
}

#[test]
fn bad_files_fail_with_one_clear_line() {
    let model = small_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.model");
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let load = |b: &[u8]| {
        Model::from_bytes(Path::new("m.model"), b)
            .unwrap_err()
            .to_string()
    };

    let truncated = load(&bytes[..bytes.len() / 2]);
    assert!(truncated.starts_with("m.model is truncated"), "{truncated}");
    let foreign = load(b"PK\x03\x04 a zip file");
    assert!(
        foreign.starts_with("m.model is not an Aegis model"),
        "{foreign}"
    );
    let empty = load(b"");
    assert!(
        empty.starts_with("m.model is not an Aegis model"),
        "{empty}"
    );
    let newer = String::from_utf8(bytes.clone()).unwrap().replacen(
        &format!("AEGIS-MODEL {PAYSIM_FORMAT}"),
        "AEGIS-MODEL 7",
        1,
    );
    let newer = load(newer.as_bytes());
    assert!(newer.contains("is model format 7"), "{newer}");
    assert!(newer.contains("upgrade Aegis"), "{newer}");

    // Change one leaf value: the content hash no longer matches the recorded version.
    let artifact = String::from_utf8(model.to_bytes()).unwrap();
    let forest_at = artifact.find("\"forest\"").unwrap();
    let (before, forest) = artifact.split_at(forest_at);
    let altered = format!(
        "{before}{}",
        forest.replacen("\"value\":0.", "\"value\":0.9", 1)
    );
    assert_ne!(artifact, altered);
    std::fs::write(&path, altered).unwrap();
    let corrupt = Model::load(&path).unwrap_err().to_string();
    assert!(
        corrupt.contains("is corrupt") && corrupt.contains("hashes to"),
        "{corrupt}"
    );

    let missing = Model::load(&dir.path().join("nope.model"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("nope.model") && missing.contains("aegis-trainer train"),
        "{missing}"
    );
    for message in [truncated, foreign, newer, corrupt, missing] {
        assert!(!message.contains('\n'), "one line: {message}");
    }
}

#[test]
fn takeover_transfer_scores_high_with_reasons_and_small_payment_low() {
    let model = small_model();
    let takeover = model.score(&tx(TxType::Transfer, 181_000.0, 181_000.0, 0.0));
    assert!(takeover.fraud_probability > 0.9, "{takeover:?}");
    assert_eq!(takeover.decision, Decision::Block);
    assert!(!takeover.reasons.is_empty() && takeover.reasons.len() <= 3);
    assert!(
        takeover.reasons.iter().all(|r| r.contains("(+0.")),
        "{:?}",
        takeover.reasons
    );

    let payment = model.score(&tx(TxType::Payment, 42.5, 1_500.0, 1_457.5));
    assert!(payment.fraud_probability < 0.1, "{payment:?}");
    assert_eq!(payment.decision, Decision::Allow);
    assert!(payment.reasons.is_empty());

    let verdict = model.verdict(&tx(TxType::Transfer, 181_000.0, 181_000.0, 0.0), 5);
    assert_eq!(verdict.account, "C1");
    assert_eq!(verdict.model_version, model.model_version());
    assert_eq!(verdict.scored_at, 5);
}

#[test]
fn batch_verdicts_equal_one_at_a_time() {
    let model = small_model();
    let txs: Vec<Transaction> =
        aegis_core::paysim::PaysimReader::open(&crate::data("paysim_mixed_steps_1-119.csv"))
            .unwrap()
            .take(1_000)
            .map(|r| r.unwrap().transaction)
            .collect();
    let refs: Vec<&Transaction> = txs.iter().collect();
    let batch = model.verdicts(&refs, 7);
    assert_eq!(batch.len(), txs.len());
    for (tx, verdict) in txs.iter().zip(&batch) {
        let one = model.verdict(tx, 7);
        assert_eq!(
            verdict.fraud_probability.to_bits(),
            one.fraud_probability.to_bits()
        );
        assert_eq!(verdict, &one);
    }
}

#[test]
fn a_format_1_model_loads_uncalibrated_and_scores_as_before() {
    let model = small_model();
    assert!(!model.is_calibrated());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.model");
    model.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let old = text
        .replacen(&format!("AEGIS-MODEL {PAYSIM_FORMAT}"), "AEGIS-MODEL 1", 1)
        .replacen(
            &format!("\"format_version\":{PAYSIM_FORMAT}"),
            "\"format_version\":1",
            1,
        );
    assert!(!old.contains("calibration"));
    let loaded = Model::from_bytes(Path::new("old.model"), old.as_bytes()).unwrap();
    assert!(!loaded.is_calibrated());
    assert_eq!(
        loaded.model_version(),
        model.model_version(),
        "format 1 keeps its version"
    );
    let tx = tx(TxType::Transfer, 181_000.0, 181_000.0, 0.0);
    let features = aegis_core::features::extract(&tx);
    assert_eq!(loaded.probability(&features), loaded.raw_score(&features));
}

#[test]
fn a_calibrated_model_maps_raw_scores_and_its_calibration_is_checked() {
    let mut model = small_model();
    let calibration = Calibration {
        method: "isotonic".into(),
        points: vec![(0.1, 0.001), (0.5, 0.05), (0.9, 0.98)],
    };
    model = Model::new(
        model.forest().clone(),
        Some(calibration.clone()),
        model.thresholds(),
        model.training().clone(),
    );
    let tx = tx(TxType::Transfer, 181_000.0, 181_000.0, 0.0);
    let features = aegis_core::features::extract(&tx);
    let raw = model.raw_score(&features);
    assert_eq!(model.probability(&features), calibration.apply(raw));
    assert_eq!(
        model.verdicts(&[&tx], 0)[0].fraud_probability,
        calibration.apply(raw),
        "the batch kernel is calibrated too"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.model");
    model.save(&path).unwrap();
    assert_eq!(Model::load(&path).unwrap(), model);
    // A calibration that is not monotone is refused with one line, before the hash is checked.
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("[0.5,0.05]", "[0.5,0.99]", 1);
    assert_ne!(broken, text);
    let error = Model::from_bytes(Path::new("c.model"), broken.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is corrupt") && error.contains("calibration") && !error.contains('\n'),
        "{error}"
    );
}
