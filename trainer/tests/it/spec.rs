//! Training and evaluating from a spec: the card sample end to end (artifact, report, evaluate,
//! predictions), PaySim as the default spec with the model it always gave, and every mistake with
//! a spec stopping with one line before anything is written.

use std::path::{Path, PathBuf};
use std::process::Output;

use aegis_core::model::FORMAT_VERSION;
use aegis_core::spec::Spec;
use aegis_core::Model;
use serde_json::Value;

use crate::{data, demo_model, stderr, trainer, ENRICHED};

const CARDS: &str = "cards_every_10th_card_2018-04-01_2018-05-31.csv";

fn spec_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../specs")
        .join(name)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A small card model (30 trees, depth 10) fitted on 2018-04-15 to 2018-05-15 of the sample.
fn train_cards(dir: &Path) -> PathBuf {
    train_cards_on(&[path(&data(CARDS))], &dir.join("cards.model"))
}

/// [`train_cards`] on the `--data` values `files`, into `out`.
fn train_cards_on(files: &[&str], out: &Path) -> PathBuf {
    let spec = spec_file("cards.toml");
    let mut args = vec!["train", "--spec", path(&spec)];
    for file in files {
        args.extend(["--data", file]);
    }
    args.extend([
        "--fit-from",
        "2018-04-15",
        "--fit-until",
        "2018-05-15",
        "--trees",
        "30",
        "--max-depth",
        "10",
        "--out",
        path(out),
    ]);
    ok(&trainer(&args));
    out.to_owned()
}

#[test]
fn a_card_model_carries_its_spec_and_evaluate_judges_it_as_train_did() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = train_cards(dir.path());
    let spec = Spec::load(&spec_file("cards.toml")).unwrap();

    let model = Model::load(&model_path).unwrap();
    assert_eq!(model.format_version(), FORMAT_VERSION);
    assert_eq!(model.spec(), &spec);
    assert!(!model.is_paysim());
    assert_eq!(model.features(), spec.feature_names().as_slice());
    let fitted = model.training().fitted_period.unwrap();
    assert_eq!(fitted.from_ms, 1_523_750_400_000); // 2018-04-15
                                                   // The spec's [training] gave what the flags did not: no class balancing, leaves of 20.
    assert_eq!(model.training().params.min_samples_leaf, 20);
    assert_eq!(model.training().params.trees, 30);

    // The report's test part: an equally long period, a label delay (7 days) after the fit.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cards.model.report.json")).unwrap(),
    )
    .unwrap();
    let test = &report["split"]["test"];
    assert_eq!(test["from"], "2018-05-22");
    assert_eq!(test["until"], "2018-06-21");
    let reported = &report["test"];

    // evaluate on the same period judges it alike: the same rows left out, the same figures.
    let predictions = dir.path().join("p.csv");
    let json: Value = serde_json::from_str(&ok(&trainer(&[
        "evaluate",
        "--model",
        path(&model_path),
        "--data",
        path(&data(CARDS)),
        "--from",
        "2018-05-22",
        "--until",
        "2018-06-21",
        "--predictions",
        path(&predictions),
        "--json",
    ])))
    .unwrap();
    assert_eq!(json["spec"], "cards");
    assert_eq!(json["roc_auc"], reported["quality"]["roc_auc"]);
    assert_eq!(
        json["average_precision"],
        reported["quality"]["average_precision"]
    );
    assert_eq!(json["card_precision"], reported["card_precision"]);
    assert_eq!(
        json["known_compromised_rows"],
        reported["known_compromised_rows"]
    );
    assert_eq!(json["card_precision"]["k"], 100);
    assert_eq!(json["card_precision"]["entity"], "CUSTOMER_ID");
    let auc = json["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.7, "the model learnt little: AUC {auc}");

    // Predictions: one per row of the period, by the spec's id; the rows measured are those not
    // left out, and their AUC, recounted from the file's scores, is the one printed.
    let text = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("TRANSACTION_ID,probability,decision,is_fraud,known_compromised,score")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, json["scored_rows"].as_u64().unwrap());
    let measured: Vec<(f64, bool)> = rows
        .iter()
        .filter(|r| r[4] == "0")
        .map(|r| (r[5].parse().unwrap(), r[3] == "1"))
        .collect();
    assert_eq!(measured.len() as u64, json["rows"].as_u64().unwrap());
    assert!((recount_auc(&measured) - auc).abs() < 1e-12);
}

/// The ROC AUC of (score, is fraud) pairs, counting ties as half: the Mann–Whitney form.
fn recount_auc(rows: &[(f64, bool)]) -> f64 {
    let frauds: Vec<f64> = rows.iter().filter(|r| r.1).map(|r| r.0).collect();
    let legit: Vec<f64> = rows.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let mut wins = 0.0;
    for f in &frauds {
        for l in &legit {
            wins += if f > l {
                1.0
            } else if f == l {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (frauds.len() * legit.len()) as f64
}

#[test]
fn a_spec_trains_on_several_files_as_on_their_rows_in_one() {
    // The sample cut in two that overlap (rows in both count once): the original data, and what
    // `export-outcomes` wrote from the stream since.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data(CARDS)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let (first, second) = (&rows[..rows.len() * 6 / 10], &rows[rows.len() * 4 / 10..]);
    let [original, exported] = ["original.csv", "exported.csv"].map(|name| dir.path().join(name));
    std::fs::write(&original, format!("{header}\n{}\n", first.join("\n"))).unwrap();
    std::fs::write(&exported, format!("{header}\n{}\n", second.join("\n"))).unwrap();
    let whole = train_cards(dir.path());
    let both = train_cards_on(
        &[path(&original), &format!("{}:1", path(&exported))],
        &dir.path().join("both.model"),
    );
    let spec = spec_file("cards.toml");
    let (whole, both) = (Model::load(&whole).unwrap(), Model::load(&both).unwrap());
    assert_eq!(both.model_version(), whole.model_version());
    assert_eq!(both.training().rows, rows.len() as u64);
    assert_eq!(both.training().data.len(), 2);
    // A weight other than 1 is PaySim's down-sampling: refused with one line.
    fails_with(
        &trainer(&[
            "train",
            "--spec",
            path(&spec),
            "--data",
            &format!("{}:256.2", path(&exported)),
            "--out",
            path(&dir.path().join("never.model")),
        ]),
        &["legit weights are for PaySim samples"],
    );
}

#[test]
fn paysim_is_the_default_spec_and_gives_the_model_it_always_gave() {
    let dir = tempfile::tempdir().unwrap();
    let enriched = data(ENRICHED);
    let train = |out: &Path, spec: Option<&Path>| {
        let mut args = vec![
            "train",
            "--data",
            path(&enriched),
            "--legit-weight",
            "256.2",
        ];
        args.extend(["--out", path(out)]);
        if let Some(spec) = spec {
            args.extend(["--spec", path(spec)]);
        }
        ok(&trainer(&args));
        Model::load(out).unwrap()
    };
    let default = train(&dir.path().join("default.model"), None);
    let paysim_spec = spec_file("paysim.toml");
    let explicit = train(&dir.path().join("paysim.model"), Some(&paysim_spec));
    // The version the demo model had before specs existed (100 trees, depth 12, this sample).
    assert_eq!(default.model_version(), "rf-26520e75969c");
    assert_eq!(explicit.model_version(), default.model_version());
    assert_eq!(default.format_version(), aegis_core::model::PAYSIM_FORMAT);
    assert!(default.is_paysim() && default.spec().is_paysim());
    let report = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
    };
    assert_eq!(
        report("default.model.report.json")["test"],
        report("paysim.model.report.json")["test"]
    );
}

/// Asserts a failed run with one error line containing each of `expected`.
fn fails_with(output: &Output, expected: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for e in expected {
        assert!(err.contains(e), "{e:?} not in {err}");
    }
}

#[test]
fn spec_mistakes_stop_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.model");
    let cards = data(CARDS);
    let cards_spec = spec_file("cards.toml");

    // A malformed spec: a window over a field that does not exist.
    let bad_spec = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&cards_spec).unwrap().replace(
        "field = \"TX_AMOUNT\", over = \"1d\"",
        "field = \"TX_AMOUNTS\", over = \"1d\"",
    );
    std::fs::write(&bad_spec, text).unwrap();
    let train = |spec: &Path, data: &Path| {
        trainer(&[
            "train",
            "--spec",
            path(spec),
            "--data",
            path(data),
            "--out",
            path(&out),
        ])
    };
    fails_with(
        &train(&bad_spec, &cards),
        &[
            "feature `card_mean_amount_1d` window.field",
            "no field `TX_AMOUNTS`",
        ],
    );

    // A CSV without a field the spec declares.
    let short = dir.path().join("short.csv");
    std::fs::write(
        &short,
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TX_AMOUNT,TX_FRAUD\n1,2018-04-01 00:00:01,1,5.0,0\n",
    )
    .unwrap();
    fails_with(
        &train(&cards_spec, &short),
        &["no column `TERMINAL_ID`", "spec `cards`"],
    );
    // PaySim's data read by the card spec, and the card data by PaySim's (the default).
    fails_with(
        &train(&cards_spec, &data(ENRICHED)),
        &["no column `TRANSACTION_ID`"],
    );
    fails_with(
        &trainer(&["train", "--data", path(&cards), "--out", path(&out)]),
        &[path(&cards)],
    );
    assert!(!out.exists(), "nothing is written");

    // A PaySim model given card data, and asked to read it by another spec.
    let predictions = dir.path().join("p.csv");
    let evaluate = |extra: &[&str]| {
        let mut args = vec![
            "evaluate",
            "--model",
            path(demo_model()),
            "--data",
            path(&cards),
        ];
        args.extend(["--predictions", path(&predictions)]);
        args.extend(extra);
        trainer(&args)
    };
    fails_with(&evaluate(&[]), &[path(&cards)]);
    fails_with(
        &evaluate(&["--spec", path(&cards_spec)]),
        &["is a model of spec `paysim`, not of spec `cards`"],
    );
    assert!(!predictions.exists(), "nothing is written");
}
