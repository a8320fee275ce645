//! `aegis-trainer train`: artifact, report, curves, quality floor, and clear refusals.

use serde_json::Value;

use crate::{data, demo_model, stderr, trainer, ENRICHED, MIXED, TRANSFER_CASHOUT};

fn report_of(model: &std::path::Path) -> Value {
    let path = format!("{}.report.json", model.display());
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
        .expect("report is JSON")
}

#[test]
fn train_writes_model_report_and_curves_with_a_quality_floor() {
    let model = demo_model();
    assert!(model.exists());
    let svg =
        std::fs::read_to_string(format!("{}.curves.svg", model.display())).expect("curves written");
    assert!(svg.contains("<svg"));
    let reliability = std::fs::read_to_string(format!("{}.reliability.svg", model.display()))
        .expect("reliability diagram written");
    assert!(
        reliability.contains("raw forest score: ECE")
            && reliability.contains("calibrated probability: ECE"),
        "both curves in the reliability diagram"
    );

    let report = report_of(model);
    assert_eq!(report["rows"], 27_052);
    assert_eq!(report["frauds"], 4_477);
    assert_eq!(report["forest"]["trees"], 100);
    assert!(report["forest"]["max_depth"].as_u64().unwrap() <= 12);
    let split = report["split_description"].as_str().unwrap();
    assert!(
        split.starts_with("by step, never at random: fit on steps 1–"),
        "{split}"
    );
    let fit_last = report["split"]["fit"]["last_step"].as_i64().unwrap();
    let test_first = report["split"]["test"]["first_step"].as_i64().unwrap();
    assert!(fit_last < test_first);

    // Minimum quality on the held-out (latest) steps, at the natural fraud rate.
    let test = &report["test"];
    let ap = test["average_precision"].as_f64().unwrap();
    let auc = test["roc_auc"].as_f64().unwrap();
    assert!(ap >= 0.80, "AUPRC {ap}");
    assert!(auc >= 0.97, "ROC AUC {auc}");
    let review = report["thresholds"]["review"].as_f64().unwrap();
    let block = report["thresholds"]["block"].as_f64().unwrap();
    assert!(
        0.0 < review && review <= block && block <= 1.0,
        "{review} {block}"
    );
    assert!(
        test["block"]["recall"].as_f64().unwrap() > 0.5,
        "{}",
        test["block"]
    );
    assert!(
        test["review"]["recall"].as_f64().unwrap() >= test["block"]["recall"].as_f64().unwrap()
    );
    // Every figure comes with its 95 % interval, which holds the figure.
    for point in ["block", "review"] {
        let p = &test[point];
        for figure in ["precision", "recall", "false_positive_rate"] {
            let (value, interval) = (p[figure].as_f64().unwrap(), &p["intervals"][figure]);
            let (low, high) = (
                interval["low"].as_f64().unwrap(),
                interval["high"].as_f64().unwrap(),
            );
            assert!(low <= value && value <= high, "{point} {figure}: {p}");
        }
        // A few thousand legit rows cannot show a false-positive rate of exactly zero.
        assert!(
            p["intervals"]["false_positive_rate"]["high"]
                .as_f64()
                .unwrap()
                > 1e-4,
            "{p}"
        );
    }
    // Calibration: measured on the test steps, better than the raw score.
    let calibration = &report["calibration"];
    let ece = |which: &str| {
        calibration[which]["expected_calibration_error"]
            .as_f64()
            .unwrap()
    };
    assert!(
        ece("calibrated") <= 0.005 && ece("calibrated") < ece("raw"),
        "{calibration}"
    );
}

#[test]
fn a_row_in_two_files_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.model");
    let run = trainer(&[
        "train",
        "--data",
        &weighted(ENRICHED, "256.2"),
        "--data",
        &weighted(TRANSFER_CASHOUT, "1"),
        "--out",
        out.to_str().unwrap(),
        "--trees",
        "5",
        "--max-depth",
        "6",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let report = report_of(&out);
    // The 114 frauds of the transfer/cash-out sample are also in the enriched one.
    let skipped = report["duplicates_skipped"].as_u64().unwrap();
    assert!(skipped >= 114, "skipped {skipped}");
    assert_eq!(report["rows"].as_u64().unwrap(), 27_052 + 50_000 - skipped);
    assert_eq!(report["frauds"], 4_477);
    assert!(report["data"][1].as_str().unwrap().ends_with(".csv:1"));
}

/// `--data data/NAME:W`.
fn weighted(name: &str, weight: &str) -> String {
    format!("{}:{weight}", data(name).display())
}

/// Trains the default forest on every shipped sample, each with its weight, once per test run.
fn all_samples_model() -> &'static std::path::Path {
    static MODEL: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.model");
        let run = trainer(&[
            "train",
            "--data",
            &weighted(ENRICHED, "256.2"),
            "--data",
            &weighted(MIXED, MIXED_WEIGHT),
            "--data",
            &weighted(TRANSFER_CASHOUT, "1"),
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "training failed: {}", stderr(&run));
        (dir, path)
    });
    path
}

/// The mixed sample's legit weight, as data/README.md derives it.
const MIXED_WEIGHT: &str = "21.46";

#[test]
fn more_data_never_hurts() {
    let (alone, all) = (report_of(demo_model()), report_of(all_samples_model()));
    // The dense early samples do not pull the cuts early: the cuts follow natural time, so both
    // models are judged on the same later steps, which neither has seen.
    assert_eq!(alone["split"]["test"], all["split"]["test"]);
    assert_eq!(alone["split"]["threshold"], all["split"]["threshold"]);
    assert!(all["split"]["fit"]["rows"].as_u64() > alone["split"]["fit"]["rows"].as_u64());
    assert!(all["split"].get("warnings").is_none(), "{}", all["split"]);

    let figures = |report: &Value| {
        let test = &report["test"];
        let frauds = test["frauds"].as_f64().unwrap();
        (
            test["average_precision"].as_f64().unwrap(),
            test["block"]["precision"].as_f64().unwrap(),
            test["block"]["recall"].as_f64().unwrap(),
            frauds,
        )
    };
    let (ap_alone, _, recall_alone, frauds) = figures(&alone);
    for report in [&alone, &all] {
        let (ap, precision, recall, _) = figures(report);
        assert!(
            ap >= 0.998 && precision >= 0.99 && recall >= 0.98,
            "AUPRC {ap}, BLOCK precision {precision} recall {recall} in {}",
            report["data"]
        );
    }
    // More data is not worse on those steps (one fraud's worth of slack in recall).
    let (ap_all, _, recall_all, _) = figures(&all);
    assert!(ap_all >= ap_alone - 1e-3, "AUPRC {ap_all} < {ap_alone}");
    assert!(
        recall_all >= recall_alone - 1.0 / frauds,
        "BLOCK recall {recall_all} < {recall_alone}"
    );
    // Legit rows of the test steps weigh what the enriched sample's sampling makes them.
    assert_eq!(all["test"]["legit_weights"][0], 256.2);
}

#[test]
fn the_mixed_samples_weight_is_derived_from_the_enriched_one() {
    // The mixed sample holds every fraud of steps 1–119 and a uniform sample of their legit rows;
    // the enriched sample's legit rows of those steps, each standing for 256.2, say how many
    // legit rows there were, and so what one of the mixed sample's 50,000 stands for.
    let rows = |name: &str| aegis_trainer::dataset::read_one_file(&data(name), 1.0).unwrap();
    let (enriched, mixed) = (rows(ENRICHED), rows(MIXED));
    let early = |d: &aegis_trainer::dataset::Dataset, fraud: bool| {
        d.rows
            .iter()
            .filter(|r| r.step <= 119 && r.is_fraud == fraud)
            .count() as f64
    };
    assert_eq!(early(&mixed, true), early(&enriched, true));
    let weight = early(&enriched, false) * 256.2 / early(&mixed, false);
    assert!(
        (weight - MIXED_WEIGHT.parse::<f64>().unwrap()).abs() < 0.01,
        "{weight}"
    );
}

#[test]
fn several_files_without_their_weights_stop_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.model");
    let run = trainer(&[
        "train",
        "--data",
        data(ENRICHED).to_str().unwrap(),
        "--data",
        data(MIXED).to_str().unwrap(),
        "--legit-weight",
        "256.2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("each its own legit weight, as --data FILE:W") && err.contains(MIXED),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_flags_and_bad_rows_stop_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.model");
    let out = out.to_str().unwrap();
    let enriched = data(ENRICHED);
    let enriched = enriched.to_str().unwrap();

    let run = trainer(&[
        "train",
        "--data",
        enriched,
        "--out",
        out,
        "--max-depth",
        "0",
    ]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("max-depth = 0") && err.contains("always capped"),
        "{err}"
    );

    let run = trainer(&[
        "train",
        "--data",
        enriched,
        "--out",
        out,
        "--legit-weight=-2",
    ]);
    assert!(stderr(&run).contains("--legit-weight: a legit weight must be a number >= 1"));

    let bad = crate::write_csv(
        dir.path(),
        "bad.csv",
        &[
            "1,TRANSFER,181.0,C1,181.0,0.0,C2,0.0,0.0,1,0",
            "2,TRANSFER,lots,C1,181.0,0.0,C2,0.0,0.0,1,0",
        ],
    );
    let run = trainer(&["train", "--data", bad.to_str().unwrap(), "--out", out]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.csv line 3, field amount: is not a number"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(out).exists(),
        "no model from bad data"
    );
}
