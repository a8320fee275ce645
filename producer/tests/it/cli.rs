//! The binary: flags checked before any work, and errors as one line naming what to fix.

use aegis_testkit::cli::error_after_waiting_for_kafka;

fn producer(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aegis-producer"))
        .args(args)
        .env_remove("AEGIS_BROKERS")
        .env_remove("AEGIS_TRANSACTIONS_TOPIC")
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
        "--transactions-topic",
        "--topic-prefix",
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
        "--connect-timeout",
        "-X",
        "--kafka-config",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for env in [
        "AEGIS_BROKERS",
        "AEGIS_TRANSACTIONS_TOPIC",
        "AEGIS_TOPIC_PREFIX",
        "AEGIS_PRODUCER_RATE",
        "AEGIS_CONNECT_TIMEOUT",
        "AEGIS_KAFKA_CONFIG",
    ] {
        assert!(help.contains(env), "{env} missing from --help");
    }
}

/// Asserts a failed run whose stderr is exactly one error line, and returns it.
fn one_error_line(output: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("aegis-producer: error: "), "{err}");
    err.trim_end().to_owned()
}

#[test]
fn bad_flags_files_and_properties_are_one_line_before_any_work() {
    let output = producer(&["--brokers", "127.0.0.1:1", "--simulate", "--colour", "red"]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        err.lines().next(),
        Some("error: unexpected argument '--colour' found"),
        "{err}"
    );

    let output = producer(&["--brokers", "127.0.0.1:1", "--replay", "no/such.csv"]);
    assert_eq!(
        one_error_line(&output),
        "aegis-producer: error: no/such.csv: cannot read: No such file or directory (os error 2)",
        "the cause is said once"
    );

    // librdkafka's own message would end with the value: a mistyped secret key must not print it.
    let output = producer(&[
        "--brokers",
        "127.0.0.1:1",
        "--simulate",
        "-X",
        "sasl.pasword=hunter2",
    ]);
    assert_eq!(
        one_error_line(&output),
        "aegis-producer: error: -X sasl.pasword: No such configuration property: \"sasl.pasword\""
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = producer(&[
        "--brokers",
        "127.0.0.1:1",
        "--simulate",
        "--metrics-addr",
        &addr,
    ]);
    let line = one_error_line(&output);
    assert!(
        line.starts_with(&format!(
            "aegis-producer: error: cannot listen on {addr}; pass another --metrics-addr: Address already in use"
        )),
        "{line}"
    );
}

#[test]
fn an_unreachable_broker_is_one_line_naming_it() {
    let output = producer(&[
        "--brokers",
        "127.0.0.1:1",
        "--simulate",
        "--count",
        "1",
        "--connect-timeout",
        "2s",
    ]);
    let line = error_after_waiting_for_kafka(&output, "aegis-producer");
    assert!(
        line.starts_with(
            "aegis-producer: error: Kafka not ready after 2s (--connect-timeout): \
             cannot reach the Kafka brokers at 127.0.0.1:1"
        ) && line.ends_with(
            "check --brokers, and -X / --kafka-config properties such as security.protocol"
        ),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_one_line_naming_it_and_its_flag() {
    let (broker, _) = crate::broker_with_topic("present").await;
    let output = producer(&[
        "--brokers",
        &broker.bootstrap(),
        "--transactions-topic",
        "no-such-topic",
        "--simulate",
        "--count",
        "1",
        "--connect-timeout",
        "2s",
    ]);
    let line = error_after_waiting_for_kafka(&output, "aegis-producer");
    assert!(
        line.contains("topic \"no-such-topic\" does not exist")
            && line.ends_with("or pass another --transactions-topic"),
        "{line}"
    );
}
