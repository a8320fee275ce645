//! `aegis-trainer evaluate`: the JSON contract, predictions in input order, later steps, the
//! takeover case, and bad model files.

use serde_json::Value;

use crate::{data, demo_model, stderr, trainer, write_csv, MIXED};

#[test]
fn json_has_the_contract_fields_and_predictions_follow_input_order() {
    let model = demo_model().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("p.csv");
    let mixed = data(MIXED);
    let run = trainer(&[
        "evaluate",
        "--model",
        model,
        "--data",
        mixed.to_str().unwrap(),
        "--json",
        "--predictions",
        predictions.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let json: Value = serde_json::from_slice(&run.stdout).expect("stdout is one JSON object");
    assert_eq!(json["rows"], 51_392);
    assert_eq!(json["frauds"], 1_392);
    for key in ["roc_auc", "average_precision", "precision", "recall"] {
        let v = json[key].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&v), "{key} = {}", json[key]);
    }
    assert!(json["roc_auc"].as_f64().unwrap() > 0.95, "{json}");

    let mut reader = csv::Reader::from_path(&predictions).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["row", "probability", "decision", "is_fraud"]
    );
    let review = json["thresholds"]["review"].as_f64().unwrap();
    let block = json["thresholds"]["block"].as_f64().unwrap();
    let mut n = 0;
    let mut frauds = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        assert_eq!(record[0].parse::<usize>().unwrap(), i + 1);
        let p: f64 = record[1].parse().unwrap();
        let expected = if p >= block {
            "BLOCK"
        } else if p >= review {
            "REVIEW"
        } else {
            "ALLOW"
        };
        assert_eq!(&record[2], expected, "row {}", i + 1);
        frauds += record[3].parse::<u32>().unwrap();
        n += 1;
    }
    assert_eq!((n, frauds), (51_392, 1_392));
}

#[test]
fn takeover_is_blocked_and_later_steps_score() {
    let model = demo_model().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A small local payment, then a transfer that empties the account; steps far past the data.
    let csv = write_csv(
        dir.path(),
        "takeover.csv",
        &[
            "700,PAYMENT,23.50,C9000001,181023.5,181000.0,M777,0.0,0.0,0,0",
            "701,TRANSFER,181000.0,C9000001,181000.0,0.0,C9000002,0.0,0.0,1,0",
        ],
    );
    let predictions = dir.path().join("p.csv");
    let run = trainer(&[
        "evaluate",
        "--model",
        model,
        "--data",
        csv.to_str().unwrap(),
        "--json",
        "--predictions",
        predictions.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = std::fs::read_to_string(&predictions).unwrap();
    let decisions: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(decisions, ["ALLOW", "BLOCK"], "{text}");
}

#[test]
fn bad_model_files_stop_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = data(MIXED);
    let mixed = mixed.to_str().unwrap();
    let foreign = dir.path().join("foreign.model");
    std::fs::write(&foreign, b"\x89PNG\r\n\x1a\n").unwrap();
    let truncated = dir.path().join("truncated.model");
    let bytes = std::fs::read(demo_model()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    for (path, expected) in [
        (&foreign, "is not an Aegis model"),
        (&truncated, "is truncated"),
    ] {
        let run = trainer(&[
            "evaluate",
            "--model",
            path.to_str().unwrap(),
            "--data",
            mixed,
        ]);
        assert!(!run.status.success());
        let err = stderr(&run);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{err}");
    }
}
