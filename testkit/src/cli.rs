//! What the binaries' command-line tests check of a failed run's stderr.

use std::process::Output;

/// Asserts a run that waited for Kafka — each miss one `Kafka not ready; asking again` warning —
/// and then failed with exit status 1 and one error line starting `{binary}: error: `; returns
/// that line.
///
/// # Panics
/// When the run does not look like that (the message holds its stderr).
pub fn error_after_waiting_for_kafka(output: &Output, binary: &str) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let Some((last, before)) = lines.split_last() else {
        panic!("no error line: {err}");
    };
    assert!(
        !before.is_empty()
            && before
                .iter()
                .all(|l| l.contains("WARN") && l.contains("Kafka not ready; asking again")),
        "{err}"
    );
    assert!(last.starts_with(&format!("{binary}: error: ")), "{err}");
    (*last).to_owned()
}
