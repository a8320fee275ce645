//! `aegis-stack`'s parts against a real tansu: the subcommands the fault scripts use.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn stack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-stack"))
        .args(args)
        .output()
        .expect("aegis-stack runs")
}

#[test]
fn the_fault_scripts_parts_start_wait_for_and_lose_a_broker() {
    let port = String::from_utf8(stack(&["free-port"]).stdout).unwrap();
    let port: u16 = port.trim().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Command::new(env!("CARGO_BIN_EXE_aegis-stack"))
        .args(["broker", "--port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (brokers, pid) = (format!("127.0.0.1:{port}"), broker.id().to_string());

    let created = stack(&[
        "topics",
        "--brokers",
        &brokers,
        "--pid",
        &pid,
        "--topic",
        "t:2",
    ]);
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        String::from_utf8_lossy(&created.stdout),
        "t: created, 2 partitions, cleanup.policy=delete\n"
    );
    assert!(dir.path().join("broker.db").is_file(), "storage in --dir");

    // The pid is the broker's own (aegis-stack exec'd it): SIGKILL stops the broker.
    broker.kill().unwrap();
    broker.wait().unwrap();
    let started = Instant::now();
    let lost = stack(&[
        "wait",
        "--kafka",
        &brokers,
        "--pid",
        &pid,
        "--timeout",
        "30s",
    ]);
    assert!(!lost.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up at once"
    );
    let error = String::from_utf8_lossy(&lost.stderr);
    assert!(error.contains(&format!("process {pid} is gone")), "{error}");
    assert_eq!(error.lines().count(), 1, "one line: {error}");
}

/// `aegis-stack up --spec` (what `scripts/demo --spec cards` runs): the card model trained on the
/// card sample, which the producer replays; the live page shows card verdicts whose reasons name
/// the spec's features, and Card Precision@100 from the labels once event-time days close.
#[test]
fn up_with_the_card_spec_replays_cards_and_the_live_page_shows_their_verdicts() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_aegis-stack"))
        .parent()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.json");
    // Once the stack is up, the command inside it waits for days to close, then saves the page.
    let fetch = format!(
        "sleep 40; curl -sf \"$SCORER_URL/api/live\" > {}",
        live.display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_aegis-stack"))
        .current_dir(&repository)
        .args(["up", "--dir"])
        .arg(dir.path().join("stack"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .args(["--spec", "specs/cards.toml"])
        .args([
            "--replay",
            "data/cards_every_10th_card_2018-04-01_2018-05-31.csv",
        ])
        .args(["--rules", "deploy/rules/cards.json", "--model"])
        .arg(dir.path().join("cards.model"))
        .args([
            "--label-delay",
            "5s",
            "--live-view",
            "all",
            "--scorers",
            "2",
        ])
        .args(["--", "sh", "-c", &fetch])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("transactions.by.TERMINAL_ID"), "{stderr}");
    let page: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&live).unwrap()).unwrap();
    assert!(page["total"].as_u64().unwrap() > 5_000, "{page}");
    // The log's ids are the spec's key, named as the spec names it.
    assert_eq!(page["key"], "CUSTOMER_ID", "{page}");
    let flagged = page["log"].as_array().unwrap();
    assert!(!flagged.is_empty(), "{page}");
    // Reasons name the card spec's features, not PaySim's.
    assert!(
        flagged
            .iter()
            .any(|v| v["reasons"].as_array().unwrap().iter().any(|r| {
                let r = r.as_str().unwrap();
                r.contains("card_") || r.contains("terminal_")
            })),
        "{page}"
    );
    let cp = &page["outcomes"]["card_precision"];
    assert_eq!(cp["k"], 100, "{page}");
    assert!(cp["days"].as_u64().unwrap() >= 1, "{page}");
}
