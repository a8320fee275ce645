//! The logger every long-running binary shares (`aegis_kafka::logs`), seen from outside: the filter
//! from `AEGIS_LOG` or `RUST_LOG`, and `--log-format json`. The binary is run with no broker to
//! reach (`--connect-timeout 0`): it logs its start, fails to connect, and exits.

use std::process::Command;

/// Runs `aegis-outcomes` against a port nothing listens on, with `extra` flags and `env` set
/// (and no other log variables); its stderr.
fn run(extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aegis-outcomes"));
    command
        .args(["--brokers", "127.0.0.1:1", "--connect-timeout", "0"])
        .args(["--http-addr", "127.0.0.1:0"])
        .args(extra)
        .env_remove("AEGIS_LOG")
        .env_remove("RUST_LOG")
        .env_remove("AEGIS_LOG_FORMAT");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(
        !output.status.success(),
        "no broker, yet aegis-outcomes succeeded"
    );
    String::from_utf8(output.stderr).unwrap()
}

/// The line announcing the filter in use, logged at debug.
const CONFIGURED: &str = "logging configured";

#[test]
fn rust_log_debug_takes_effect_and_aegis_log_wins_over_it() {
    let debug = run(&[], &[("RUST_LOG", "debug")]);
    let line = debug
        .lines()
        .find(|l| l.contains(CONFIGURED))
        .unwrap_or_else(|| panic!("RUST_LOG=debug logged no debug line:\n{debug}"));
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("from=\"RUST_LOG\""), "{line}");

    let default = run(&[], &[]);
    assert!(
        !default.contains("DEBUG"),
        "debug lines without RUST_LOG:\n{default}"
    );
    let both = run(&[], &[("RUST_LOG", "debug"), ("AEGIS_LOG", "info")]);
    assert!(
        !both.contains("DEBUG"),
        "AEGIS_LOG=info should win over RUST_LOG=debug:\n{both}"
    );
}

/// Every log line is a JSON object; the one announcing the filter carries its level and fields.
fn check_json(stderr: &str) {
    // The last line is the one-line error every binary ends with, outside the logger.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("aegis-outcomes: error:"))
        .collect();
    assert!(!lines.is_empty(), "no log lines:\n{stderr}");
    let mut configured = None;
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(value["timestamp"].is_string(), "{line}");
        assert!(value["level"].is_string(), "{line}");
        if value["fields"]["message"] == CONFIGURED {
            configured = Some(value);
        }
    }
    let configured = configured.unwrap_or_else(|| panic!("no '{CONFIGURED}' line:\n{stderr}"));
    assert_eq!(configured["level"], "DEBUG");
    assert_eq!(configured["fields"]["from"], "RUST_LOG");
    assert_eq!(configured["fields"]["format"], "Json");
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    check_json(&run(&["--log-format", "json"], &[("RUST_LOG", "debug")]));
    check_json(&run(
        &[],
        &[("RUST_LOG", "debug"), ("AEGIS_LOG_FORMAT", "json")],
    ));
}
