//! Every mistake a user can make with the trainer's flags and files ends in one line naming the
//! thing and what to do, and a non-zero exit — before any training.

use std::path::{Path, PathBuf};
use std::process::Output;

use aegis_core::Model;
use serde_json::Value;

use crate::{data, demo_model, stderr, trainer, MIXED};

/// Asserts a failed run whose stderr is exactly one error line, and returns it.
fn one_error_line(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("aegis-trainer: error: "), "{err}");
    err.trim_end().to_owned()
}

/// The demo model's file with its JSON body changed by `edit`, written as `name` in `dir`.
fn edited_model(dir: &Path, name: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(demo_model()).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let mut json: Value = serde_json::from_str(body).unwrap();
    edit(&mut json);
    let path = dir.join(name);
    std::fs::write(&path, format!("{header}\n{json}")).unwrap();
    path
}

/// A model that needs a feature this build does not compute, consistent otherwise: its recorded
/// version is the one its content hashes to (as the loader reports it), as if a newer trainer had
/// written it.
fn model_with_unknown_feature(dir: &Path) -> PathBuf {
    let rename = |json: &mut Value| json["features"][12] = "dest_emptied".into();
    let path = edited_model(dir, "newer-features.model", rename);
    let error = Model::load(&path).unwrap_err().to_string();
    let version = error.split("hashes to ").nth(1).unwrap().split(',').next();
    let version = version.unwrap().to_owned();
    edited_model(dir, "newer-features.model", |json| {
        rename(json);
        json["model_version"] = version.clone().into();
    })
}

#[test]
fn unknown_flags_and_commands_are_refused_by_the_parser() {
    for (args, expected) in [
        (
            &["evaluate", "--colour", "red"][..],
            "error: unexpected argument '--colour' found",
        ),
        (&["retrain"], "error: unrecognized subcommand 'retrain'"),
    ] {
        let output = trainer(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert_eq!(err.lines().next(), Some(expected), "{err}");
    }
}

#[test]
fn evaluate_names_a_missing_corrupt_or_foreign_model_and_a_missing_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = data(MIXED);
    let tampered = edited_model(dir.path(), "tampered.model", |json| {
        json["forest"]["nodes"][1]["value"] = 0.123.into();
    });
    let cases = [
        (
            dir.path().join("missing.model"),
            "missing.model: No such file or directory (os error 2); train one with `aegis-trainer \
             train --out",
        ),
        (
            tampered,
            "tampered.model is corrupt: its content hashes to rf-",
        ),
        (
            model_with_unknown_feature(dir.path()),
            "newer-features.model is corrupt: it needs feature `dest_emptied`, which this build \
             does not compute",
        ),
    ];
    for (model, expected) in cases {
        let output = trainer(&[
            "evaluate",
            "--model",
            model.to_str().unwrap(),
            "--data",
            mixed.to_str().unwrap(),
        ]);
        let line = one_error_line(&output);
        assert!(line.contains(expected), "{line}");
        assert!(
            line.matches("(os error").count() <= 1,
            "cause said once: {line}"
        );
    }

    let output = trainer(&[
        "evaluate",
        "--model",
        demo_model().to_str().unwrap(),
        "--data",
        "no/such.csv",
    ]);
    assert_eq!(
        one_error_line(&output),
        "aegis-trainer: error: no/such.csv: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn train_checks_out_and_data_before_fitting() {
    let dir = tempfile::tempdir().unwrap();
    let enriched = data(crate::ENRICHED);
    let enriched = enriched.to_str().unwrap();
    let nowhere = dir.path().join("no-such-dir/m.model");
    let output = trainer(&[
        "train",
        "--data",
        enriched,
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    let line = one_error_line(&output);
    assert!(
        line.contains("no-such-dir/m.model: directory")
            && line.ends_with("does not exist; create it or pass another --out"),
        "{line}"
    );

    let output = trainer(&[
        "train",
        "--data",
        enriched,
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let line = one_error_line(&output);
    assert!(
        line.contains("is a directory; pass a file path such as"),
        "{line}"
    );

    let out = dir.path().join("m.model");
    let output = trainer(&[
        "train",
        "--data",
        "no/such.csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        one_error_line(&output),
        "aegis-trainer: error: no/such.csv: cannot read: No such file or directory (os error 2)"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written, not even the probe of --out"
    );
}
