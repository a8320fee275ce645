//! Logs of the long-running binaries: one subscriber writing to stderr, filtered by `AEGIS_LOG`,
//! else `RUST_LOG`, else the binary's default, as text for people or one JSON object a line for
//! log collectors (`--log-format json`); colours only on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variables a log filter is read from, the first set one winning: `AEGIS_LOG`
/// names this project alone, so it overrides a `RUST_LOG` set for every Rust program in a pod.
pub const FILTER_VARIABLES: [&str; 2] = ["AEGIS_LOG", "RUST_LOG"];

/// How log lines are written to stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`) and
    /// the enclosing spans.
    Json,
}

/// `--log-format`, to `#[command(flatten)]` into a long-running binary's flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogFlags {
    /// Log line format on stderr: `text`, or `json` (one object a line) for log collectors. The
    /// filter is `AEGIS_LOG`, else `RUST_LOG` (e.g. `debug`, `info,rdkafka=warn`); AEGIS_LOG wins
    /// when both are set.
    #[arg(
        long,
        env = "AEGIS_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

/// Where a log filter came from.
#[derive(Debug, PartialEq, Eq)]
pub enum FilterSource {
    /// From this environment variable.
    Variable(&'static str),
    /// The binary's default: no variable set.
    Default,
    /// The binary's default, because this variable's value is not a filter (the error).
    Invalid(&'static str, String),
}

/// The filter directives to use: the value of the first of [`FILTER_VARIABLES`] that is set and
/// not blank (read through `var`), else `default_filter`; with where they came from. A value that
/// does not parse falls back to the default, saying so.
pub fn choose_filter(
    var: impl Fn(&str) -> Option<String>,
    default_filter: &str,
) -> (String, FilterSource) {
    for name in FILTER_VARIABLES {
        let Some(value) = var(name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        return match EnvFilter::try_new(&value) {
            Ok(_) => (value, FilterSource::Variable(name)),
            Err(e) => (
                default_filter.to_owned(),
                FilterSource::Invalid(name, e.to_string()),
            ),
        };
    }
    (default_filter.to_owned(), FilterSource::Default)
}

/// Installs the process's logger (see [`choose_filter`] and [`LogFormat`]); then logs, at debug,
/// which filter is in use, and warns once if a variable held something that is not a filter.
pub fn init(default_filter: &str, format: LogFormat) {
    let (directives, source) = choose_filter(|name| std::env::var(name).ok(), default_filter);
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a terminal only: a file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second logger in one process (tests calling a service twice) is not an error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    match source {
        FilterSource::Variable(name) => {
            tracing::debug!(filter = %directives, from = name, ?format, "logging configured");
        }
        FilterSource::Default => {
            tracing::debug!(filter = %directives, from = "default", ?format, "logging configured");
        }
        FilterSource::Invalid(name, error) => {
            tracing::warn!(
                variable = name,
                %error,
                filter = %directives,
                "{name} is not a log filter (e.g. `debug`, `info,rdkafka=warn`); using the default"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn aegis_log_wins_over_rust_log() {
        let vars = [("AEGIS_LOG", "warn"), ("RUST_LOG", "debug")];
        assert_eq!(
            choose_filter(env(&vars), "info"),
            ("warn".to_owned(), FilterSource::Variable("AEGIS_LOG"))
        );
    }

    #[test]
    fn rust_log_is_read_when_aegis_log_is_not_set() {
        let vars = [("RUST_LOG", "debug,rdkafka=warn")];
        assert_eq!(
            choose_filter(env(&vars), "info"),
            (
                "debug,rdkafka=warn".to_owned(),
                FilterSource::Variable("RUST_LOG")
            )
        );
        let blank = [("AEGIS_LOG", " "), ("RUST_LOG", "trace")];
        assert_eq!(
            choose_filter(env(&blank), "info").1,
            FilterSource::Variable("RUST_LOG")
        );
    }

    #[test]
    fn the_default_without_variables_or_with_a_bad_one() {
        assert_eq!(
            choose_filter(env(&[]), "info,rdkafka=warn"),
            ("info,rdkafka=warn".to_owned(), FilterSource::Default)
        );
        let bad = [("RUST_LOG", "debug,[[[=")];
        let (directives, source) = choose_filter(env(&bad), "info");
        assert_eq!(directives, "info");
        assert!(matches!(source, FilterSource::Invalid("RUST_LOG", _)));
    }
}
