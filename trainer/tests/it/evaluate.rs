//! `aegis-trainer evaluate`: the JSON contract, predictions in input order, later steps, the
//! takeover case, and bad model files.

use serde_json::Value;

use crate::{data, demo_model, stderr, trainer, write_csv, ENRICHED, MIXED, TRANSFER_CASHOUT};

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
    for key in [
        "roc_auc",
        "average_precision",
        "precision",
        "recall",
        "expected_calibration_error",
        "brier_score",
    ] {
        let v = json[key].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&v), "{key} = {}", json[key]);
    }
    // The mixed sample's steps 1–119 lie inside the steps the demo model was fitted on: said on
    // stderr with counts, and carried by --json — its figures are not quoted as quality.
    assert_eq!(
        (json["seen_rows"].as_u64(), json["seen_frauds"].as_u64()),
        (Some(51_392), Some(1_392))
    );
    let warning = stderr(&run);
    assert!(
        warning.contains("warning: 51392 of 51392 rows (1392 frauds) are from steps the model was fitted on steps 1–")
            && warning.contains("evaluate on later steps"),
        "{warning}"
    );
    assert_eq!(json["calibrated"], true);

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

/// The quality floor, measured only on rows the model never saw: a model trained on the enriched
/// sample's steps up to 250 (fitted and thresholded there), judged on its steps after 250.
#[test]
fn on_steps_it_never_saw_the_model_is_accurate_and_calibrated() {
    let dir = tempfile::tempdir().unwrap();
    let (early, later) = split_sample_at_step(&data(ENRICHED), dir.path(), 250);
    let early = format!("{}:256.2", early.display());
    let mixed = format!("{}:21.46", data(MIXED).display());
    let transfers = format!("{}:1", data(TRANSFER_CASHOUT).display());
    // The enriched sample's early steps alone, then with the two other samples (which lie inside
    // those steps): on the later steps, more data must not do worse.
    let mut figures = Vec::new();
    for (name, data) in [
        ("alone", vec![early.as_str()]),
        (
            "all",
            vec![early.as_str(), mixed.as_str(), transfers.as_str()],
        ),
    ] {
        let model = dir.path().join(format!("{name}.model"));
        let mut args = vec!["train", "--out", model.to_str().unwrap()];
        for file in data {
            args.extend(["--data", file]);
        }
        let run = trainer(&args);
        assert!(run.status.success(), "{}", stderr(&run));
        let predictions = dir.path().join(format!("{name}.csv"));
        let run = trainer(&[
            "evaluate",
            "--model",
            model.to_str().unwrap(),
            "--data",
            later.to_str().unwrap(),
            "--legit-weight",
            "256.2",
            "--json",
            "--predictions",
            predictions.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        assert!(!stderr(&run).contains("warning"), "{}", stderr(&run));
        let json: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(json["seen_rows"], 0);
        let figure = |key: &str| json[key].as_f64().unwrap();
        assert!(figure("frauds") > 1_000.0, "{json}");
        assert!(figure("average_precision") >= 0.998, "{name}: {json}");
        assert!(
            figure("precision") >= 0.99 && figure("recall") >= 0.98,
            "{name}: BLOCK: {json}"
        );
        assert!(
            figure("expected_calibration_error") <= 0.005,
            "{name}: {json}"
        );
        let written = std::fs::read_to_string(&predictions).unwrap();
        assert_eq!(written.lines().count() as f64, figure("rows") + 1.0);
        figures.push((
            figure("average_precision"),
            figure("recall"),
            figure("frauds"),
        ));
    }
    let ((ap_alone, recall_alone, frauds), (ap_all, recall_all, _)) = (figures[0], figures[1]);
    assert!(ap_all >= ap_alone - 1e-3, "AUPRC {ap_all} < {ap_alone}");
    assert!(
        recall_all >= recall_alone - 1.0 / frauds,
        "BLOCK recall {recall_all} < {recall_alone}"
    );
}

/// Writes the rows of a PaySim CSV with step <= `last_early` to `early.csv` and the rest to
/// `later.csv` in `dir`.
fn split_sample_at_step(
    sample: &std::path::Path,
    dir: &std::path::Path,
    last_early: i32,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let text = std::fs::read_to_string(sample).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut early, mut later) = (vec![header], vec![header]);
    for line in lines {
        let step: i32 = line.split(',').next().unwrap().parse().unwrap();
        if step <= last_early {
            early.push(line);
        } else {
            later.push(line);
        }
    }
    let write = |name: &str, lines: &[&str]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    (write("early.csv", &early), write("later.csv", &later))
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
