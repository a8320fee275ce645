//! `--simulate --out FILE.csv`: PaySim CSV written without a broker, in hourly steps.

use std::path::Path;
use std::process::{Command, Output};

use aegis_core::paysim::{PaysimReader, PaysimRow};

fn producer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args(args)
        .env_remove("AEGIS_BROKERS")
        .env_remove("AEGIS_PRODUCER_OUT")
        .env_remove("AEGIS_PRODUCER_STEPS")
        .env_remove("AEGIS_PRODUCER_COUNT")
        .output()
        .unwrap()
}

fn read(path: &Path) -> Vec<PaysimRow> {
    PaysimReader::open(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn out_writes_paysim_csv_in_steps_without_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.csv");
    let out = path.to_str().unwrap();
    let args = [
        "--simulate",
        "--out",
        out,
        "--count",
        "40000",
        "--fraud-rate",
        "0.01",
    ];
    let output = producer(&args);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("wrote 40000 transactions ("), "{stdout}");
    let rows = read(&path);
    assert_eq!(rows.len(), 40_000);
    let header = std::fs::read_to_string(&path).unwrap();
    assert!(header.starts_with(
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n"
    ));
    let frauds = rows
        .iter()
        .filter(|r| r.transaction.is_fraud == Some(true))
        .count();
    assert!((300..=500).contains(&frauds), "{frauds} frauds at 1 %");
    let steps: Vec<i32> = rows.iter().map(|r| r.transaction.step).collect();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "in step order");
    assert_eq!(
        (steps[0], steps[steps.len() - 1]),
        (1, 3),
        "PaySim's volume: 3 steps"
    );

    // The same seed writes the same file.
    let again = dir.path().join("again.csv");
    let output = producer(&[&args[..2], &[again.to_str().unwrap()], &args[3..]].concat());
    assert!(output.status.success());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn steps_spread_the_rows_and_night_hours_are_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let out = path.to_str().unwrap();
    let output = producer(&[
        "--simulate",
        "--out",
        out,
        "--count",
        "24000",
        "--steps",
        "24",
    ]);
    assert!(output.status.success(), "{output:?}");
    let rows = read(&path);
    let in_step = |s: i32| rows.iter().filter(|r| r.transaction.step == s).count();
    assert_eq!(rows[rows.len() - 1].transaction.step, 24);
    // PaySim's traffic sleeps at night (hour 3) and peaks in the evening (hour 18).
    assert!(
        in_step(4) * 20 < in_step(19),
        "{} vs {}",
        in_step(4),
        in_step(19)
    );
}

#[test]
fn out_mistakes_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/sim.csv");
    let output = producer(&[
        "--simulate",
        "--out",
        missing.to_str().unwrap(),
        "--count",
        "5",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot write") && stderr.contains("pass another --out"),
        "{stderr}"
    );

    for args in [
        &["--out", "x.csv"][..],
        &["--simulate", "--out", "x.csv", "--rate", "10"],
        &["--brokers", "b:1", "--simulate", "--steps", "3"],
        &["--simulate", "--out", "x.csv", "--steps", "0"],
    ] {
        let output = producer(args);
        assert!(!output.status.success(), "{args:?} is refused");
        assert!(!Path::new("x.csv").exists());
    }
    let output = producer(&["--simulate"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("--brokers"),
        "{stderr}"
    );
}

#[test]
fn help_explains_out_and_steps_and_their_environment_variables() {
    let output = producer(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for text in [
        "--out <FILE.csv>",
        "--steps <STEPS>",
        "AEGIS_PRODUCER_OUT",
        "AEGIS_PRODUCER_STEPS",
    ] {
        assert!(help.contains(text), "{text} missing from --help");
    }
    assert!(
        help.contains("not needed with --out"),
        "--brokers says when it is not needed"
    );
}
