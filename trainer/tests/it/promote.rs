//! `aegis-trainer promote` and `rollback` on a real broker, as commands: each refuses in one line
//! when the topic lacks what it needs — no shadow, no previous live model, too few labels, a
//! record another key signed — and otherwise republishes the right artifact as live, signed, with
//! its history record. (Promoting and rolling back under traffic: the scorer's tests.)

use std::path::Path;
use std::process::Output;

use aegis_core::signing::SigningKeyFile;
use aegis_core::Model;
use aegis_testkit::{unique_topic, Broker};

use crate::{demo_model, stderr, trainer};

/// Its stdout.
fn stdout(run: &Output) -> String {
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The run failed with one line on stderr holding `expected`.
fn refused(run: &Output, expected: &str) {
    let err = stderr(run);
    assert!(!run.status.success(), "succeeded: {}", stdout(run));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(expected), "{err}");
}

fn key(dir: &Path, name: &str) -> String {
    let (private, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    SigningKeyFile::generate()
        .unwrap()
        .write(&private, &public)
        .unwrap();
    private.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_rollback_republish_from_the_history_or_refuse_in_one_line() {
    let broker = Broker::start();
    let (models, verdicts, shadow, labels) = (
        unique_topic("models"),
        unique_topic("verdicts"),
        unique_topic("shadow"),
        unique_topic("labels"),
    );
    broker
        .create_topics(&[(&models, 1), (&verdicts, 1), (&shadow, 1), (&labels, 1)])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (key(dir.path(), "ours"), key(dir.path(), "theirs"));
    let bootstrap = broker.bootstrap();
    let run = |command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--brokers",
            &bootstrap,
            "--models-topic",
            &models,
            "--timeout",
            "10s",
        ];
        args.extend_from_slice(extra);
        trainer(&args)
    };
    let measured = [
        "--verdicts-topic",
        verdicts.as_str(),
        "--shadow-verdicts-topic",
        shadow.as_str(),
        "--labels-topic",
        labels.as_str(),
    ];
    let promote = |extra: &[&str]| run("promote", &[&measured[..], extra].concat());
    let model = demo_model().to_str().unwrap();
    let a = Model::load(demo_model()).unwrap();

    refused(
        &run("rollback", &["--key", &ours]),
        "no previous live model",
    );
    let published = run(
        "publish",
        &["--model", model, "--role", "live", "--key", &ours],
    );
    assert!(published.status.success(), "{}", stderr(&published));
    refused(&promote(&["--key", &ours]), "holds no shadow model");
    refused(
        &run("rollback", &["--key", &ours]),
        "no previous live model",
    );

    let published = run(
        "publish",
        &[
            "--model",
            model,
            "--role",
            "shadow",
            "--block-threshold",
            "0.95",
            "--key",
            &ours,
        ],
    );
    assert!(published.status.success(), "{}", stderr(&published));
    let b_version = stdout(&published)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert_ne!(b_version, a.model_version());

    // Another key's signature is not re-signed; without labels there is nothing to judge.
    refused(&promote(&["--key", &theirs]), "only what key");
    refused(&promote(&["--key", &ours]), "only 0 labelled frauds");
    refused(
        &promote(&["--key", &ours, "--since", "1h"]),
        "only 0 labelled frauds",
    );
    refused(
        &promote(&["--key", &ours, "--since", "last tuesday"]),
        "--since: ",
    );

    let forced = promote(&["--key", &ours, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("--force"), "{}", stderr(&forced));
    assert!(
        stdout(&forced).starts_with(&format!(
            "promoted {b_version} to live (was {})",
            a.model_version()
        )),
        "{}",
        stdout(&forced)
    );
    refused(&promote(&["--key", &ours, "--force"]), "live already");

    // Back to A, and rolling back again returns to B.
    for (to, from) in [
        (a.model_version(), b_version.as_str()),
        (&b_version, a.model_version()),
    ] {
        let rolled = run("rollback", &["--key", &ours]);
        assert!(rolled.status.success(), "{}", stderr(&rolled));
        assert!(
            stdout(&rolled).starts_with(&format!("rolled back live to {to} (was {from})")),
            "{}",
            stdout(&rolled)
        );
    }
}
