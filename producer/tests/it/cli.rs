//! The binary: flags checked before any work, and errors as one line naming what to fix.

fn producer(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args(args)
        .env_remove("AEGIS_BROKERS")
        .env_remove("AEGIS_TOPIC")
        .output()
        .unwrap()
}

#[test]
fn a_bad_csv_row_stops_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(
        &path,
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n\
         1,PAYMENT,1.0,C1,5.0,4.0,M1,0.0,0.0,0,0\n\
         2,PAYMENT,1.0,C1,five,4.0,M1,0.0,0.0,0,0\n",
    )
    .unwrap();
    let output = producer(&[
        "--brokers",
        "127.0.0.1:1",
        "--replay",
        path.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.csv line 3, field oldbalanceOrg: is not a number"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn flags_are_checked_before_any_work() {
    let output = producer(&["--brokers", "127.0.0.1:1", "--simulate", "--rate", "0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--rate must be a positive number"),
        "{stderr}"
    );

    let output = producer(&["--brokers", "127.0.0.1:1"]);
    assert!(!output.status.success(), "a source is required");
    let both = ["--brokers", "b:1", "--simulate", "--replay", "x.csv"];
    assert!(!producer(&both).status.success(), "one source only");
    let output = producer(&[
        "--brokers",
        "b:1",
        "--replay",
        "x.csv",
        "--scenario",
        "account-takeover",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--scenario needs --simulate"));
}

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let output = producer(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--brokers",
        "--topic",
        "--replay",
        "--simulate",
        "--rate",
        "--count",
        "--duration",
        "--scenario",
        "--takeover-every",
        "--fraud-rate",
        "--seed",
        "--schema-registry-url",
        "--metrics-addr",
        "-X",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for env in [
        "AEGIS_BROKERS",
        "AEGIS_TOPIC",
        "AEGIS_RATE",
        "AEGIS_KAFKA_PROPERTIES",
    ] {
        assert!(help.contains(env), "{env} missing from --help");
    }
}
