//! Every mistake a user can make with the trainer's flags and files ends in one line naming the
//! thing and what to do, and a non-zero exit — before any training.

use std::process::Output;

use aegis_testkit::{edited_model, model_with_unknown_feature};

use crate::{data, demo_model, stderr, trainer, MIXED};

/// Asserts a failed run whose stderr is exactly one error line, and returns it.
fn one_error_line(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("aegis-trainer: error: "), "{err}");
    err.trim_end().to_owned()
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
    let tampered = edited_model(demo_model(), dir.path(), "tampered.model", |json| {
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
            model_with_unknown_feature(demo_model(), dir.path()),
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
