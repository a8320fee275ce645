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
